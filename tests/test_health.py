"""/health is healthy only when a scheduler can fire.

Healthy means: this node's engine is running, or another node holds the lease,
its engine has started (it says so in ``state.ENGINE_READY``) and it is alive —
not stopped, a fresh heartbeat, and on this very machine a process that exists.
Before the engine is up the answer is 503 ``starting``; a leader that died is
503 at once, not when its lease expires.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import update

from tests.conftest import make_runtime
from whalefall import clock
from whalefall.models import Node
from whalefall.scheduler.service import SchedulerService
from whalefall.services import nodes, state
from whalefall.services.health import health

OTHER_MACHINE = "0123456789"


@pytest.fixture
def services(runtime):
    started: list[SchedulerService] = []

    def start(step: bool = True) -> SchedulerService:
        service = SchedulerService(runtime)
        service.start(thread=False)
        started.append(service)
        if step:
            service.step()
        return service

    yield start
    for service in started:
        service.stop(wait_seconds=1)


def remote_leader(runtime, *, identity: str = OTHER_MACHINE, pid: int = 4242, ready: bool = True) -> str:
    """Another node (by default on another machine) holding the lease; ``ready``: its engine started."""
    node_id = f"{nodes.HOSTNAME}~{identity}:{pid}:abcdef"
    nodes.register_node(runtime, node_id, "scheduler")
    assert nodes.acquire(runtime, node_id)
    if ready:
        state.put(runtime, state.ENGINE_READY, node_id)
    return node_id


def test_health_says_starting_while_the_leaders_engine_is_still_starting(runtime, services, monkeypatch):
    service = services(step=False)
    seen: list[tuple[int, dict]] = []
    real_start = service.engine.start

    def start_and_look() -> None:
        seen.append(health(runtime, "en"))  # the lease is held; the engine is not up yet
        real_start()

    monkeypatch.setattr(service.engine, "start", start_and_look)
    service.step()
    assert service.leading and len(seen) == 1
    status, body = seen[0]
    assert status == 503 and body["status"] == "starting"
    assert body["scheduler"]["engine_ready"] is False
    assert "engine is not running yet" in body["message"] and service.node_id in body["message"]
    status, body = health(runtime, "zh")
    assert status == 200 and body["status"] in ("healthy", "warning")
    assert body["scheduler"]["engine_ready"] is True


def test_starting_is_said_in_chinese_too(runtime):
    remote_leader(runtime, ready=False)
    status, body = health(runtime, "zh")
    assert status == 503 and body["status"] == "starting" and "尚未运行" in body["message"]


def test_another_node_that_leads_with_its_engine_started_is_healthy_here(runtime):
    remote_leader(runtime)
    status, body = health(runtime, "en")
    assert status == 200 and body["status"] in ("healthy", "warning")
    assert body["scheduler"]["this_node_leads"] is False


def test_a_new_leader_is_starting_until_its_own_engine_started(runtime, services):
    first = services()
    assert health(runtime)[0] == 200
    first.stop(wait_seconds=1)
    assert state.get(runtime, state.ENGINE_READY) is None  # taken back when it stopped leading
    second = remote_leader(runtime, ready=False)
    status, body = health(runtime, "en")
    assert status == 503 and body["status"] == "starting" and body["scheduler"]["leader"] == second


def test_a_stale_engine_ready_of_a_former_leader_does_not_count_for_the_new_one(runtime):
    state.put(runtime, state.ENGINE_READY, f"{nodes.HOSTNAME}~{OTHER_MACHINE}:1:former")
    remote_leader(runtime, ready=False)
    assert health(runtime, "en")[1]["status"] == "starting"


def test_a_leader_whose_node_stopped_is_unhealthy_before_its_lease_expires(runtime, services):
    service = services()
    nodes.stop_node(runtime, service.node_id)  # as a stop that could not release the lease leaves it
    status, body = health(runtime, "en")
    assert status == 503 and body["status"] == "unhealthy"
    assert nodes.current_leader(runtime).holder == service.node_id  # the lease still runs
    assert "has stopped" in body["message"] and service.node_id in body["problems"][0]


def test_a_leader_whose_heartbeat_is_stale_is_unhealthy_before_its_lease_expires(tmp_path):
    runtime = make_runtime(tmp_path, lease_seconds=120, node_stale_seconds=20)
    try:
        leader = remote_leader(runtime)
        assert health(runtime, "en")[0] == 200
        with time_machine.travel(clock.now() + timedelta(seconds=40), tick=False):
            assert nodes.current_leader(runtime) is not None
            status, body = health(runtime, "en")
            assert status == 503 and body["status"] == "unhealthy"
            assert "no heartbeat for 40 s" in body["message"] and leader in body["message"]
            status, body = health(runtime, "zh")
            assert "没有心跳" in body["message"]
    finally:
        runtime.close()


def test_a_short_staleness_setting_does_not_make_a_beating_leader_flap(tmp_path):
    runtime = make_runtime(tmp_path, lease_seconds=3, node_stale_seconds=3)
    try:
        leader = remote_leader(runtime)
        with runtime.db.begin() as session:  # its last beat, 4 s ago, is within its 5 s beat interval
            session.execute(
                update(Node).where(Node.id == leader).values(heartbeat_at=clock.now() - timedelta(seconds=4))
            )
        assert health(runtime, "en")[0] == 200
    finally:
        runtime.close()


def test_a_leader_of_this_machine_whose_process_is_gone_is_unhealthy_at_once(runtime):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    leader = remote_leader(runtime, identity=nodes.IDENTITY, pid=child.pid)
    status, body = health(runtime, "en")
    assert status == 503 and body["status"] == "unhealthy"
    assert "no longer exists" in body["message"] and leader in body["message"]


def test_a_leader_of_another_machine_with_an_unknown_pid_and_a_fresh_heartbeat_is_healthy(runtime):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    remote_leader(runtime, pid=child.pid)  # same hostname, another machine: its pid means nothing here
    assert health(runtime, "en")[0] == 200
