"""Exactly one leader, nothing stuck, nothing silently dropped (issue: reliability).

On SQLite, PostgreSQL and MariaDB: a stale leader's claims, takes and starts fail in their own
statement; max_instances holds under concurrent run-now requests; a lost lease stops the node at
once; this node's orphaned runs are recovered; coalesced fire times are counted on the run.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.test_contract import T0, age_lease, get_run, make_job, runs_of
from whalefall import clock
from whalefall.errors import RunConflict
from whalefall.models import Run, RunStatus, TriggerSource
from whalefall.scheduler.service import SchedulerService
from whalefall.services import claims, nodes, runs
from whalefall.services.audit import Actor

ADMIN = Actor("admin", "admin")


def two_terms(rt) -> tuple[int, int]:
    """Node a leads under one epoch, its lease lapses, node b takes it under the next."""
    old = nodes.take(rt, "a")
    age_lease(rt, rt.settings.lease_seconds + 1)
    new = nodes.take(rt, "b")
    assert old is not None and new == old + 1
    return old, new


def test_a_stale_leaders_claim_fails_even_before_it_notices(any_runtime):
    make_job(any_runtime, "nightly")
    old, new = two_terms(any_runtime)
    with pytest.raises(claims.LeaseLost):
        claims.claim_scheduled(any_runtime, "nightly", T0, source=TriggerSource.SCHEDULE, node="a", epoch=old)
    assert runs_of(any_runtime, "nightly") == []
    claim = claims.claim_scheduled(
        any_runtime, "nightly", T0, source=TriggerSource.SCHEDULE, node="b", epoch=new
    )
    assert claim is not None and get_run(any_runtime, claim.run_id).epoch == new


def test_a_claim_under_the_right_epoch_but_an_expired_lease_fails(any_runtime):
    make_job(any_runtime, "nightly")
    epoch = nodes.take(any_runtime, "a")
    age_lease(any_runtime, any_runtime.settings.lease_seconds + 1)
    with pytest.raises(claims.LeaseLost):
        claims.claim_scheduled(
            any_runtime, "nightly", T0, source=TriggerSource.SCHEDULE, node="a", epoch=epoch
        )


def test_a_stale_leader_can_neither_take_nor_start_queued_runs(any_runtime):
    make_job(any_runtime, "manual")
    queued = runs.enqueue(any_runtime, "manual", source=TriggerSource.MANUAL)
    old, new = two_terms(any_runtime)
    assert runs.take_queued(any_runtime, "a", epoch=old) == []
    assert runs.take_queued(any_runtime, "b", epoch=new) == [queued.id]
    assert runs.start(any_runtime, queued.id, "a", epoch=old) is False
    assert get_run(any_runtime, queued.id).status == RunStatus.QUEUED.value
    assert runs.start(any_runtime, queued.id, "b", epoch=new) is True


def test_max_instances_holds_when_forty_requests_race(any_runtime):
    make_job(any_runtime, "single", max_instances=1)
    barrier = threading.Barrier(40)
    accepted, refused = [], []

    def request() -> None:
        barrier.wait()
        try:
            accepted.append(runs.enqueue(any_runtime, "single", source=TriggerSource.MANUAL).id)
        except RunConflict:
            refused.append(1)

    threads = [threading.Thread(target=request) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(accepted) == 1 and len(refused) == 39


def test_max_instances_holds_between_a_scheduled_claim_and_run_now_racing(any_runtime):
    make_job(any_runtime, "single", max_instances=1)
    epoch = nodes.take(any_runtime, "n1")
    barrier = threading.Barrier(21)
    results: list[str] = []

    def manual() -> None:
        barrier.wait()
        try:
            runs.enqueue(any_runtime, "single", source=TriggerSource.MANUAL)
            results.append("queued")
        except RunConflict:
            results.append("refused")

    def scheduled() -> None:
        barrier.wait()
        claim = claims.claim_scheduled(
            any_runtime, "single", T0, source=TriggerSource.SCHEDULE, node="n1", epoch=epoch
        )
        results.append(claim.status.value)

    threads = [threading.Thread(target=manual) for _ in range(20)] + [threading.Thread(target=scheduled)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("queued") == 1
    active = [r for r in runs_of(any_runtime, "single") if r.status == RunStatus.QUEUED.value]
    assert len(active) == 1


def test_a_queued_run_left_with_a_live_standby_is_freed_for_the_leader(any_runtime):
    make_job(any_runtime, "manual")
    nodes.register_node(any_runtime, "standby", "scheduler")
    run = runs.enqueue(any_runtime, "manual", source=TriggerSource.MANUAL, node="standby")
    assert nodes.recover(any_runtime, "leader") == 1
    assert get_run(any_runtime, run.id).node is None


def test_a_run_of_this_node_that_nothing_here_runs_is_recovered(any_runtime):
    make_job(any_runtime, "orphan", max_retries=0)
    long_ago = clock.now() - timedelta(minutes=5)
    run = runs.enqueue(any_runtime, "orphan", source=TriggerSource.MANUAL, node="me")
    assert runs.start(any_runtime, run.id, "me")
    with any_runtime.db.begin() as session:
        session.execute(update(Run).where(Run.id == run.id).values(created_at=long_ago))
    assert nodes.recover(any_runtime, "me", running_here={run.id}) == 0  # still ours: untouched
    assert nodes.recover(any_runtime, "me", running_here=set()) == 1
    ended = get_run(any_runtime, run.id)
    assert ended.status == RunStatus.INTERRUPTED.value and "nothing on this node" in ended.error_message


# --- the scheduler service ------------------------------------------------------------------


@pytest.fixture
def leader(runtime):
    service = SchedulerService(runtime)
    service.start(thread=False)
    service.step()
    assert service.leading and service.epoch is not None
    yield service
    service.stop(wait_seconds=2)


def test_a_node_that_finds_another_holding_the_lease_stops_at_once(runtime, leader):
    code = "import time\n\ndef execute_task():\n    time.sleep(30)\n"
    make_job(runtime, "long", code=code, function=None)
    run = runs.enqueue(runtime, "long", source=TriggerSource.MANUAL)
    leader.step()
    deadline = time.monotonic() + 15
    while get_run(runtime, run.id).status != RunStatus.RUNNING.value and time.monotonic() < deadline:
        time.sleep(0.05)
        leader.step()
    age_lease(runtime, runtime.settings.lease_seconds + 1)
    assert nodes.take(runtime, "usurper") == leader.epoch + 1
    leader._timers["lease"] = 0.0  # the keeper's next renewal is due now
    assert leader.keep_lease_once() is True
    assert not leader.leading and not leader.engine.alive()
    deadline = time.monotonic() + 10
    while get_run(runtime, run.id).status == RunStatus.RUNNING.value and time.monotonic() < deadline:
        time.sleep(0.05)
    ended = get_run(runtime, run.id)
    assert ended.status == RunStatus.INTERRUPTED.value
    assert "lost the scheduler lease" in ended.error_message


def test_a_leader_that_stalled_past_its_lease_stops_before_asking_the_database(runtime, leader):
    leader._renewed_at -= runtime.settings.lease_seconds + 1  # as after SIGSTOP … SIGCONT
    assert leader.keep_lease_once() is True
    assert not leader.leading and leader.epoch is None
    assert leader.runner.epoch is None


def test_fire_times_folded_by_coalesce_are_counted_on_the_run(runtime, leader):
    make_job(runtime, "persec", trigger_type="interval", interval_seconds=1)
    leader.engine.pause()
    leader.step()  # the engine learns of the job
    apjob = leader.engine.aps.get_job("persec")
    start = apjob.next_run_time
    # APScheduler wakes 4 s late: with coalesce it hands over only the last due time, while the
    # job still holds the first (it is updated after the hand-over).
    due = [start + timedelta(seconds=4)]
    leader.engine.fire(apjob, due)
    leader.engine.flush()
    [run] = [r for r in runs_of(runtime, "persec") if r.scheduled_time == due[0]]
    assert run.coalesced == 4 and run.coalesced_from == start


def test_the_run_page_and_api_say_how_many_fire_times_a_run_absorbed(runtime, leader, client, login):
    make_job(runtime, "persec", trigger_type="interval", interval_seconds=1)
    leader.engine.pause()
    leader.step()
    apjob = leader.engine.aps.get_job("persec")
    leader.engine.fire(apjob, [apjob.next_run_time + timedelta(seconds=2)])
    leader.engine.flush()
    [run] = runs_of(runtime, "persec")
    login(client, "viewer")
    data = client.get(f"/scheduler/api/runs/{run.id}").json["data"]
    assert data["coalesced"] == 2 and data["coalesced_from"].endswith("+00:00")
    assert data["scheduled_at"] == run.scheduled_time.isoformat()
    html = client.get(f"/scheduler/runs/{run.id}?lang=en").get_data(as_text=True)
    assert "2 earlier fire time(s)" in html
    html = client.get(f"/scheduler/runs/{run.id}?lang=zh").get_data(as_text=True)
    assert "另有 2 次触发" in html
