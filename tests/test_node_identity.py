"""Node identity: two machines (containers, cloned VMs) with one hostname are never confused.

A node id is ``host~identity:pid:tag``; the identity hashes the machine id, the
boot id and the PID namespace. Only a node of this very identity may be judged
dead by a pid check here, and a pid check never beats a fresh heartbeat of a
node of another identity: its lease is not taken early, its run not interrupted,
and no local process group is killed in its name.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.proc import pid_gone, wait_until
from whalefall import clock
from whalefall.domain.jobspec import JobCreate
from whalefall.models import Node, Run, RunStatus, TriggerSource
from whalefall.services import jobs, nodes, runs
from whalefall.services.audit import Actor

REPO = Path(__file__).resolve().parents[1]
OTHER_IDENTITY = "0123456789"


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen]:
    """An unrelated process of this machine leading its own process group."""
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def other_machine_node_id(pid: int) -> str:
    """A node id of a machine sharing this one's hostname but not its identity."""
    assert OTHER_IDENTITY != nodes.IDENTITY
    return f"{nodes.HOSTNAME}~{OTHER_IDENTITY}:{pid}:abcdef"


def add_node(rt, node_id: str, pid: int, *, heartbeat_age: float = 0) -> None:
    beat = clock.now() - timedelta(seconds=heartbeat_age)
    with rt.db.begin() as session:
        session.add(
            Node(
                id=node_id,
                hostname=nodes.HOSTNAME,
                pid=pid,
                role="scheduler",
                started_at=beat - timedelta(minutes=5),
                heartbeat_at=beat,
            )
        )


def hold_lease(rt, node_id: str) -> None:
    """``node_id`` takes the free lease, as that node itself would."""
    assert nodes.acquire(rt, node_id)


def running_run_with_group(rt, node_id: str, group: int) -> int:
    """A running run of ``node_id`` whose code job's process group is ``group``."""
    jobs.create(
        rt,
        JobCreate(id="long", name="Long", function="heartbeat", trigger_type="interval", interval_seconds=60),
        Actor.system(),
    )
    run = runs.enqueue(rt, "long", source=TriggerSource.MANUAL, node=node_id)
    assert runs.start(rt, run.id, node_id, pid=group)
    return run.id


def status_of(rt, run_id: int) -> str:
    with rt.db.read() as session:
        return session.get(Run, run_id).status


# --- the id ------------------------------------------------------------------------------


def test_a_node_id_names_host_identity_pid_and_a_tag_and_reads_back():
    node_id = nodes.make_node_id()
    host, rest = node_id.split("~", 1)
    identity, pid, tag = rest.split(":")
    assert (host, identity, int(pid)) == (nodes.HOSTNAME, nodes.IDENTITY, os.getpid())
    assert len(tag) == 6
    assert nodes.parse_node_id(node_id) == (nodes.HOSTNAME, nodes.IDENTITY, os.getpid())
    assert nodes.parse_node_id(nodes.make_node_id("db-a:2", pid=7)) == ("db-a:2", nodes.IDENTITY, 7)
    assert nodes.is_local(node_id)


def test_a_node_id_from_before_identities_is_never_local():
    old = f"{nodes.HOSTNAME}:{dead_pid()}:abcdef"
    assert nodes.parse_node_id(old)[1] is None
    assert not nodes.is_local(old)
    assert not nodes.holder_is_dead_here(old)


def test_the_identity_changes_with_the_machine_the_boot_and_the_pid_namespace(tmp_path, monkeypatch):
    machine, boot = tmp_path / "machine-id", tmp_path / "boot_id"
    namespace = tmp_path / "ns"
    machine.write_text("aaaa\n")
    boot.write_text("bbbb\n")
    namespace.symlink_to("pid:[1]")
    monkeypatch.setattr(nodes, "IDENTITY_FILES", (str(machine),))
    monkeypatch.setattr(nodes, "BOOT_ID_FILE", str(boot))
    monkeypatch.setattr(nodes, "PID_NAMESPACE_LINK", str(namespace))
    first = nodes.machine_identity()
    assert nodes.machine_identity() == first  # stable for one process

    seen = {first}
    machine.write_text("cccc\n")  # a different machine
    seen.add(nodes.machine_identity())
    machine.write_text("aaaa\n")
    boot.write_text("dddd\n")  # the same image cloned and booted elsewhere
    seen.add(nodes.machine_identity())
    boot.write_text("bbbb\n")
    namespace.unlink()
    namespace.symlink_to("pid:[2]")  # a container on the same host
    seen.add(nodes.machine_identity())
    assert len(seen) == 4


def test_with_nothing_to_tell_machines_apart_every_process_is_its_own_identity(tmp_path, monkeypatch):
    monkeypatch.setattr(nodes, "IDENTITY_FILES", (str(tmp_path / "none"),))
    monkeypatch.setattr(nodes, "BOOT_ID_FILE", str(tmp_path / "none"))
    assert nodes.machine_identity() != nodes.machine_identity()


def test_a_process_in_another_pid_namespace_has_another_identity():
    if not shutil.which("unshare"):
        pytest.skip("unshare(1) is not installed")
    done = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--pid",
            "--fork",
            "--mount-proc",
            sys.executable,
            "-c",
            "from whalefall.services import nodes; print(nodes.IDENTITY)",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if done.returncode != 0:
        pytest.skip(f"cannot make a PID namespace here: {done.stderr.strip()}")
    theirs = done.stdout.strip()
    assert len(theirs) == nodes.IDENTITY_CHARS
    assert theirs != nodes.IDENTITY


# --- another machine with the same hostname ----------------------------------------------


def test_a_fresh_node_of_another_identity_with_a_pid_unknown_here_is_not_dead(runtime):
    other = other_machine_node_id(dead_pid())
    add_node(runtime, other, nodes.parse_node_id(other)[2] or 0)
    assert not nodes.holder_is_dead_here(other)
    assert other not in nodes.dead_nodes(runtime, nodes.make_node_id())


def test_the_fresh_lease_of_another_identity_is_not_taken_early(runtime):
    pid = dead_pid()
    other = other_machine_node_id(pid)
    add_node(runtime, other, pid)
    hold_lease(runtime, other)
    assert not nodes.acquire(runtime, nodes.make_node_id())
    assert nodes.current_leader(runtime).holder == other


def test_the_running_run_of_another_identity_is_neither_interrupted_nor_its_group_killed(runtime, bystander):
    pid = dead_pid()
    other = other_machine_node_id(pid)
    add_node(runtime, other, pid)
    # The other machine's code job has, by chance, the pid of a process group of ours.
    run_id = running_run_with_group(runtime, other, bystander.pid)
    assert nodes.recover(runtime, nodes.make_node_id()) == 0
    assert status_of(runtime, run_id) == RunStatus.RUNNING.value
    assert bystander.poll() is None and not pid_gone(bystander.pid)


def test_a_silent_node_of_another_identity_is_interrupted_without_killing_a_local_group(runtime, bystander):
    pid = dead_pid()
    other = other_machine_node_id(pid)
    add_node(runtime, other, pid, heartbeat_age=runtime.settings.node_stale_seconds + 60)
    run_id = running_run_with_group(runtime, other, bystander.pid)
    assert nodes.recover(runtime, nodes.make_node_id()) == 1
    assert status_of(runtime, run_id) == RunStatus.INTERRUPTED.value
    assert bystander.poll() is None  # its pid belongs to another machine: nothing killed here


# --- this machine: takeover stays fast -----------------------------------------------------


def test_a_node_of_this_identity_whose_pid_is_gone_is_dead_at_once(runtime):
    crashed = nodes.make_node_id(pid=dead_pid())
    nodes.register_node(runtime, crashed, "scheduler")
    assert nodes.holder_is_dead_here(crashed)
    assert crashed in nodes.dead_nodes(runtime, nodes.make_node_id())


def test_the_lease_of_a_dead_process_of_this_identity_is_taken_at_once(runtime):
    crashed = nodes.make_node_id(pid=dead_pid())
    nodes.register_node(runtime, crashed, "scheduler")
    hold_lease(runtime, crashed)
    mine = nodes.make_node_id()
    assert nodes.acquire(runtime, mine)
    assert nodes.current_leader(runtime).holder == mine


def test_the_run_of_a_dead_process_of_this_identity_is_interrupted_and_its_group_killed(runtime, bystander):
    crashed = nodes.make_node_id(pid=dead_pid())
    nodes.register_node(runtime, crashed, "scheduler")
    run_id = running_run_with_group(runtime, crashed, bystander.pid)  # the job its dead parent left
    assert nodes.recover(runtime, nodes.make_node_id()) == 1
    assert status_of(runtime, run_id) == RunStatus.INTERRUPTED.value
    wait_until(lambda: bystander.poll() is not None, 5, what="the dead node's process group to be killed")


def test_a_live_process_of_this_identity_with_a_fresh_heartbeat_is_not_dead(runtime):
    alive = nodes.make_node_id()
    nodes.register_node(runtime, alive, "scheduler")
    assert not nodes.holder_is_dead_here(alive)
    assert alive not in nodes.dead_nodes(runtime, nodes.make_node_id())
