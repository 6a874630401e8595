"""The contract of the services and the lease, run the same on SQLite, PostgreSQL and MariaDB.

Every test takes ``any_runtime``: a fresh migrated database of each kind in
turn. Nothing here mocks SQL; time moves with ``time_machine``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import event, func, select

from whalefall import clock
from whalefall import defaults as product_defaults
from whalefall.domain.jobspec import JobCreate
from whalefall.errors import JobNotFound, RunConflict
from whalefall.models import Job, Lease, Node, Run, RunStatus, TriggerSource
from whalefall.services import claims, jobs, nodes, runs
from whalefall.services.audit import Actor

T0 = datetime(2031, 3, 4, 2, 0, 0, 123456, tzinfo=UTC)
CODE = "def execute_task():\n    return 42\n"


def make_job(rt, job_id: str, **fields) -> Job:
    data = {
        "id": job_id,
        "name": job_id.title(),
        "function": "heartbeat",
        "trigger_type": "interval",
        "interval_seconds": 60,
        **fields,
    }
    return jobs.create(rt, JobCreate(**data), Actor.system())


def runs_of(rt, job_id: str) -> list[Run]:
    with rt.db.read() as session:
        return list(session.scalars(select(Run).where(Run.job_id == job_id).order_by(Run.id)))


def get_run(rt, run_id: int) -> Run:
    with rt.db.read() as session:
        return runs.get(session, run_id)


def running_run(rt, job_id: str, node: str = "n1", **enqueue_args) -> Run:
    run = runs.enqueue(rt, job_id, source=TriggerSource.MANUAL, node=node, **enqueue_args)
    assert runs.start(rt, run.id, node)
    return run


# --- claiming a scheduled time ----------------------------------------------


def test_a_scheduled_time_is_claimed_once(any_runtime):
    make_job(any_runtime, "nightly")
    first = claims.claim_scheduled(any_runtime, "nightly", T0, source=TriggerSource.SCHEDULE, node="n1")
    second = claims.claim_scheduled(any_runtime, "nightly", T0, source=TriggerSource.SCHEDULE, node="n2")
    assert first is not None and first.status == RunStatus.QUEUED
    assert second is None
    [run] = runs_of(any_runtime, "nightly")
    assert run.id == first.run_id and run.node == "n1" and run.scheduled_time == T0


def test_different_scheduled_times_of_one_job_are_both_claimed(any_runtime):
    make_job(any_runtime, "often", max_instances=5)
    first = claims.claim_scheduled(any_runtime, "often", T0, source=TriggerSource.SCHEDULE, node="n1")
    second = claims.claim_scheduled(
        any_runtime, "often", T0 + timedelta(minutes=1), source=TriggerSource.SCHEDULE, node="n1"
    )
    assert first is not None and second is not None
    assert {first.status, second.status} == {RunStatus.QUEUED}
    assert len(runs_of(any_runtime, "often")) == 2


def test_the_same_time_of_two_different_jobs_is_claimed_for_each(any_runtime):
    make_job(any_runtime, "one")
    make_job(any_runtime, "two")
    assert (
        claims.claim_scheduled(any_runtime, "one", T0, source=TriggerSource.SCHEDULE, node="n1") is not None
    )
    assert (
        claims.claim_scheduled(any_runtime, "two", T0, source=TriggerSource.SCHEDULE, node="n1") is not None
    )


def test_manual_runs_without_a_scheduled_time_never_conflict(any_runtime):
    make_job(any_runtime, "manual", max_instances=5)
    first = runs.enqueue(any_runtime, "manual", source=TriggerSource.MANUAL, actor=Actor("admin", "admin"))
    second = runs.enqueue(any_runtime, "manual", source=TriggerSource.MANUAL, actor=Actor("admin", "admin"))
    assert first.id != second.id
    stored = runs_of(any_runtime, "manual")
    assert [r.scheduled_time for r in stored] == [None, None]
    assert {r.triggered_by for r in stored} == {"admin"}


def test_a_claim_for_a_paused_or_missing_job_is_refused(any_runtime):
    make_job(any_runtime, "resting", state="paused")
    assert (
        claims.claim_scheduled(any_runtime, "resting", T0, source=TriggerSource.SCHEDULE, node="n1") is None
    )
    assert claims.claim_scheduled(any_runtime, "ghost", T0, source=TriggerSource.SCHEDULE, node="n1") is None
    assert runs_of(any_runtime, "resting") == []


def test_two_nodes_claiming_the_same_time_at_once_make_one_run(any_runtime):
    make_job(any_runtime, "raced", max_instances=10)
    barrier = threading.Barrier(4)
    results: list[object] = []

    def claim(node: str) -> None:
        barrier.wait()
        results.append(
            claims.claim_scheduled(any_runtime, "raced", T0, source=TriggerSource.SCHEDULE, node=node)
        )

    threads = [threading.Thread(target=claim, args=(f"n{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1
    assert len(runs_of(any_runtime, "raced")) == 1


def test_a_late_claim_is_recorded_as_missed_once(any_runtime):
    make_job(any_runtime, "sleepy")
    missed = claims.claim_scheduled(
        any_runtime,
        "sleepy",
        T0,
        source=TriggerSource.SCHEDULE,
        node="n1",
        late_reason="missed: 400 s late, beyond misfire_grace_time 300 s",
    )
    assert missed is not None and missed.status == RunStatus.MISSED
    run = get_run(any_runtime, missed.run_id)
    assert run.status == "missed" and "beyond misfire_grace_time" in run.error_message and run.node is None
    assert claims.claim_scheduled(any_runtime, "sleepy", T0, source=TriggerSource.SCHEDULE, node="n2") is None
    # A missed run is not active: the next time is claimed normally.
    assert (
        claims.claim_scheduled(
            any_runtime, "sleepy", T0 + timedelta(minutes=1), source=TriggerSource.SCHEDULE, node="n1"
        ).status
        == RunStatus.QUEUED
    )


def test_a_claim_whose_upstream_failed_is_skipped_with_the_reason(any_runtime):
    make_job(any_runtime, "extract")
    make_job(any_runtime, "load", depends_on=["extract"])
    failed = running_run(any_runtime, "extract")
    runs.finish(any_runtime, failed.id, RunStatus.FAILED, error_message="boom")
    claim = claims.claim_scheduled(any_runtime, "load", T0, source=TriggerSource.SCHEDULE, node="n1")
    assert claim.status == RunStatus.SKIPPED
    assert (
        get_run(any_runtime, claim.run_id).error_message
        == f"upstream job 'extract' failed (run #{failed.id})"
    )


# --- max_instances -----------------------------------------------------------


def test_a_scheduled_claim_beyond_max_instances_is_recorded_as_skipped_with_the_reason(any_runtime):
    make_job(any_runtime, "single")
    assert (
        claims.claim_scheduled(any_runtime, "single", T0, source=TriggerSource.SCHEDULE, node="n1").status
        == RunStatus.QUEUED
    )
    skipped = claims.claim_scheduled(
        any_runtime, "single", T0 + timedelta(minutes=1), source=TriggerSource.SCHEDULE, node="n1"
    )
    assert skipped is not None and skipped.status == RunStatus.SKIPPED
    run = get_run(any_runtime, skipped.run_id)
    assert run.status == "skipped"
    assert "max_instances (1) reached" in run.error_message
    assert run.finished_at is not None and run.node is None


def test_a_manual_run_beyond_max_instances_is_a_conflict(any_runtime):
    make_job(any_runtime, "single")
    claims.claim_scheduled(any_runtime, "single", T0, source=TriggerSource.SCHEDULE, node="n1")
    with pytest.raises(RunConflict, match="max_instances"):
        runs.enqueue(any_runtime, "single", source=TriggerSource.MANUAL, actor=Actor("admin", "admin"))
    assert len(runs_of(any_runtime, "single")) == 1


def test_a_finished_run_frees_its_instance(any_runtime):
    make_job(any_runtime, "single")
    run = running_run(any_runtime, "single")
    runs.finish(any_runtime, run.id, RunStatus.SUCCESS)
    again = runs.enqueue(any_runtime, "single", source=TriggerSource.MANUAL)
    assert again.status == "queued"


# --- transitions -------------------------------------------------------------


def test_starting_a_run_twice_succeeds_only_once(any_runtime):
    make_job(any_runtime, "job")
    run = runs.enqueue(any_runtime, "job", source=TriggerSource.MANUAL)
    assert runs.start(any_runtime, run.id, "n1", pid=4242) is True
    assert runs.start(any_runtime, run.id, "n2") is False
    stored = get_run(any_runtime, run.id)
    assert stored.status == "running" and stored.node == "n1" and stored.pid == 4242
    assert stored.started_at is not None


def test_finishing_a_run_that_is_not_running_does_nothing(any_runtime):
    make_job(any_runtime, "job")
    queued = runs.enqueue(any_runtime, "job", source=TriggerSource.MANUAL)
    assert runs.finish(any_runtime, queued.id, RunStatus.SUCCESS) is None
    assert get_run(any_runtime, queued.id).status == "queued"
    assert runs.start(any_runtime, queued.id, "n1")
    done = runs.finish(any_runtime, queued.id, RunStatus.SUCCESS, return_value="ok")
    assert done is not None and done.status == "success" and done.duration_seconds is not None
    assert runs.finish(any_runtime, queued.id, RunStatus.FAILED, error_message="late") is None
    stored = get_run(any_runtime, queued.id)
    assert stored.status == "success" and stored.error_message is None and stored.return_value == "ok"


def test_cancelling_a_queued_run_ends_it_as_cancelled(any_runtime):
    make_job(any_runtime, "job")
    queued = runs.enqueue(any_runtime, "job", source=TriggerSource.MANUAL)
    cancelled = runs.cancel(any_runtime, queued.id, Actor("operator", "operator"))
    assert cancelled.status == "cancelled"
    assert "operator" in cancelled.error_message and cancelled.finished_at is not None
    assert runs.start(any_runtime, queued.id, "n1") is False


def test_cancelling_a_running_run_asks_it_to_stop(any_runtime):
    make_job(any_runtime, "job")
    run = running_run(any_runtime, "job")
    assert runs.cancel(any_runtime, run.id, Actor("admin", "admin")).status == "running"
    assert runs.cancel_requested(any_runtime, run.id) is True


def test_a_cancel_that_races_with_the_start_asks_the_started_run_to_stop(any_runtime):
    make_job(any_runtime, "job")
    queued = runs.enqueue(any_runtime, "job", source=TriggerSource.MANUAL)
    raced: list[bool] = []

    def start_first(conn, cursor, statement, parameters, context, executemany):
        # The runner starts the run just before the cancel's UPDATE reaches the database.
        if (
            not raced
            and statement.lstrip().upper().startswith("UPDATE RUNS")
            and "cancelled" in str(parameters)
        ):
            raced.append(runs.start(any_runtime, queued.id, "n1"))

    event.listen(any_runtime.db.engine, "before_cursor_execute", start_first)
    try:
        run = runs.cancel(any_runtime, queued.id, Actor("operator", "operator"))
    finally:
        event.remove(any_runtime.db.engine, "before_cursor_execute", start_first)
    assert raced == [True]
    assert run.status == "running"
    assert runs.cancel_requested(any_runtime, queued.id) is True


def test_cancelling_a_finished_run_is_a_conflict(any_runtime):
    make_job(any_runtime, "job")
    run = running_run(any_runtime, "job")
    runs.finish(any_runtime, run.id, RunStatus.SUCCESS)
    with pytest.raises(RunConflict, match="already ended"):
        runs.cancel(any_runtime, run.id, Actor("admin", "admin"))
    assert get_run(any_runtime, run.id).status == "success"


def test_two_nodes_taking_queued_runs_never_get_the_same_run(any_runtime):
    make_job(any_runtime, "busy", max_instances=100)
    queued = {runs.enqueue(any_runtime, "busy", source=TriggerSource.MANUAL).id for _ in range(20)}
    barrier = threading.Barrier(2)
    taken: dict[str, list[int]] = {}

    def take(node: str) -> None:
        barrier.wait()
        taken[node] = runs.take_queued(any_runtime, node)

    threads = [threading.Thread(target=take, args=(node,)) for node in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not set(taken["a"]) & set(taken["b"])
    assert set(taken["a"]) | set(taken["b"]) == queued
    for node, ids in taken.items():
        assert {get_run(any_runtime, i).node for i in ids} <= {node}
    assert runs.take_queued(any_runtime, "c") == []


def test_queued_runs_are_not_taken_before_their_time(any_runtime):
    make_job(any_runtime, "later", max_instances=5)
    with time_machine.travel(T0, tick=False):
        waiting = runs.enqueue(
            any_runtime, "later", source=TriggerSource.RETRY, not_before=T0 + timedelta(seconds=30)
        )
        assert runs.take_queued(any_runtime, "a") == []
    with time_machine.travel(T0 + timedelta(seconds=31), tick=False):
        assert runs.take_queued(any_runtime, "a") == [waiting.id]


# --- retries -----------------------------------------------------------------


def test_a_failed_run_queues_retries_until_max_retries_is_spent(any_runtime):
    make_job(any_runtime, "flaky", max_retries=2, retry_delay_seconds=60)
    with time_machine.travel(T0, tick=False):
        first = running_run(any_runtime, "flaky")
        runs.finish(any_runtime, first.id, RunStatus.FAILED, error_message="boom")
    retry = runs_of(any_runtime, "flaky")[-1]
    assert retry.id != first.id
    assert (retry.status, retry.attempt, retry.trigger_source, retry.retry_of) == (
        "queued",
        2,
        "retry",
        first.id,
    )
    assert retry.not_before == T0 + timedelta(seconds=60)
    assert retry.node is None and retry.scheduled_time is None

    later = T0 + timedelta(seconds=61)
    with time_machine.travel(later, tick=False):
        assert runs.start(any_runtime, retry.id, "n1")
        runs.finish(any_runtime, retry.id, RunStatus.TIMEOUT, error_message="too slow")
    third = runs_of(any_runtime, "flaky")[-1]
    assert (third.status, third.attempt, third.trigger_source, third.retry_of) == (
        "queued",
        3,
        "retry",
        retry.id,
    )
    assert third.not_before == later + timedelta(seconds=120)  # the delay doubles each attempt

    with time_machine.travel(later + timedelta(seconds=121), tick=False):
        assert runs.start(any_runtime, third.id, "n1")
        runs.finish(any_runtime, third.id, RunStatus.FAILED, error_message="still broken")
    assert [r.attempt for r in runs_of(any_runtime, "flaky")] == [1, 2, 3]


def test_a_successful_or_cancelled_run_is_not_retried(any_runtime):
    make_job(any_runtime, "fine", max_retries=3, max_instances=5)
    ok = running_run(any_runtime, "fine")
    runs.finish(any_runtime, ok.id, RunStatus.SUCCESS)
    queued = runs.enqueue(any_runtime, "fine", source=TriggerSource.MANUAL)
    runs.cancel(any_runtime, queued.id, Actor("admin", "admin"))
    assert len(runs_of(any_runtime, "fine")) == 2


def test_a_job_without_retries_queues_nothing_after_a_failure(any_runtime):
    make_job(any_runtime, "once")
    run = running_run(any_runtime, "once")
    runs.finish(any_runtime, run.id, RunStatus.FAILED, error_message="boom")
    assert [r.id for r in runs_of(any_runtime, "once")] == [run.id]


# --- the leader lease ---------------------------------------------------------


def age_lease(rt, seconds: float) -> None:
    """Let ``seconds`` pass for the lease. The lease lives on the database server's clock, which a
    test cannot move: its expiry is moved back instead."""
    with rt.db.begin() as session:
        lease = session.get(Lease, nodes.LEASE_NAME)
        lease.expires_at = lease.expires_at - timedelta(seconds=seconds)


def test_the_lease_is_held_by_one_node_until_it_expires(any_runtime):
    lease = any_runtime.settings.lease_seconds
    assert nodes.acquire(any_runtime, "a") is True
    assert nodes.acquire(any_runtime, "a") is True
    assert nodes.acquire(any_runtime, "b") is False
    assert nodes.current_leader(any_runtime).holder == "a"
    age_lease(any_runtime, lease - 2)
    assert nodes.acquire(any_runtime, "b") is False
    age_lease(any_runtime, 3)
    assert nodes.current_leader(any_runtime) is None
    assert nodes.acquire(any_runtime, "b") is True
    assert nodes.acquire(any_runtime, "a") is False
    assert nodes.current_leader(any_runtime).holder == "b"


def test_renewing_the_lease_pushes_its_expiry_forward(any_runtime):
    lease = any_runtime.settings.lease_seconds
    assert nodes.acquire(any_runtime, "a")
    age_lease(any_runtime, lease - 1)
    before = nodes.lease(any_runtime).expires_at
    assert nodes.acquire(any_runtime, "a")
    after = nodes.lease(any_runtime).expires_at
    assert after - before >= timedelta(seconds=lease - 2)
    age_lease(any_runtime, lease - 2)
    assert nodes.acquire(any_runtime, "b") is False


def test_each_acquisition_raises_the_epoch_and_renewing_keeps_it(any_runtime):
    first = nodes.take(any_runtime, "a")
    assert nodes.take(any_runtime, "a") == first
    age_lease(any_runtime, any_runtime.settings.lease_seconds + 1)
    second = nodes.take(any_runtime, "b")
    assert second == first + 1
    age_lease(any_runtime, any_runtime.settings.lease_seconds + 1)
    assert nodes.take(any_runtime, "a") == first + 2  # its own expired lease is a new term too


def test_a_node_whose_clock_is_wrong_neither_steals_nor_keeps_the_lease(any_runtime):
    if any_runtime.db.backend == "sqlite":
        pytest.skip("SQLite is embedded: its clock is the node's own")
    assert nodes.acquire(any_runtime, "a")
    with time_machine.travel(clock.now() + timedelta(hours=3)):  # b's clock runs 3 hours ahead
        assert nodes.acquire(any_runtime, "b") is False
        assert nodes.current_leader(any_runtime).holder == "a"
    age_lease(any_runtime, any_runtime.settings.lease_seconds + 1)
    with time_machine.travel(clock.now() - timedelta(hours=3)):  # a's clock runs 3 hours behind
        assert nodes.current_leader(any_runtime) is None
        assert nodes.take(any_runtime, "a") is not None  # a takes it again, but only as a new term


def test_a_released_lease_is_taken_at_once(any_runtime):
    assert nodes.acquire(any_runtime, "a")
    nodes.release(any_runtime, "b")  # releasing a lease one does not hold changes nothing
    assert nodes.acquire(any_runtime, "b") is False
    nodes.release(any_runtime, "a")
    assert nodes.current_leader(any_runtime) is None
    assert nodes.acquire(any_runtime, "b") is True


def test_nodes_racing_for_a_fresh_lease_elect_exactly_one(any_runtime):
    barrier = threading.Barrier(4)
    won: list[str] = []

    def race(node: str) -> None:
        barrier.wait()
        if nodes.acquire(any_runtime, node):
            won.append(node)

    threads = [threading.Thread(target=race, args=(f"n{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert nodes.current_leader(any_runtime).holder == won[0]


# --- recovery of runs whose process died --------------------------------------


def add_node(rt, node_id: str, *, heartbeat_at: datetime, hostname: str = "elsewhere", pid: int = 1) -> None:
    with rt.db.begin() as session:
        session.add(
            Node(
                id=node_id,
                hostname=hostname,
                pid=pid,
                role="scheduler",
                started_at=heartbeat_at - timedelta(hours=1),
                heartbeat_at=heartbeat_at,
            )
        )


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_running_run_of_a_node_with_a_stale_heartbeat_is_interrupted_and_retried(any_runtime):
    make_job(any_runtime, "long", max_retries=1)
    stale = clock.now() - timedelta(seconds=any_runtime.settings.node_stale_seconds + 60)
    add_node(any_runtime, "dead", heartbeat_at=stale)
    run = running_run(any_runtime, "long", node="dead")
    assert nodes.recover(any_runtime, "me") >= 1
    stored = get_run(any_runtime, run.id)
    assert stored.status == "interrupted"
    assert "dead" in stored.error_message and "died" in stored.error_message
    retry = runs_of(any_runtime, "long")[-1]
    assert (retry.status, retry.attempt, retry.trigger_source, retry.retry_of) == (
        "queued",
        2,
        "retry",
        run.id,
    )


def test_a_running_run_of_a_dead_process_on_this_host_is_interrupted(any_runtime):
    make_job(any_runtime, "long")
    pid = dead_pid()
    crashed = nodes.make_node_id(pid=pid)  # this machine's identity: its pid can be checked here
    add_node(any_runtime, crashed, heartbeat_at=clock.now(), hostname=nodes.HOSTNAME, pid=pid)
    run = running_run(any_runtime, "long", node=crashed)
    nodes.recover(any_runtime, "me")
    assert get_run(any_runtime, run.id).status == "interrupted"
    assert len(runs_of(any_runtime, "long")) == 1  # max_retries 0: no retry


def test_a_run_of_a_live_node_is_left_alone(any_runtime):
    make_job(any_runtime, "long")
    alive = nodes.make_node_id()
    add_node(any_runtime, alive, heartbeat_at=clock.now(), hostname=nodes.HOSTNAME, pid=os.getpid())
    run = running_run(any_runtime, "long", node=alive)
    assert nodes.recover(any_runtime, "me") == 0
    assert get_run(any_runtime, run.id).status == "running"


def test_a_queued_run_of_a_dead_node_past_its_grace_is_missed(any_runtime):
    make_job(any_runtime, "late", misfire_grace_time=300)
    add_node(any_runtime, "dead", heartbeat_at=clock.now() - timedelta(hours=1))
    claim = claims.claim_scheduled(
        any_runtime, "late", clock.now() - timedelta(seconds=600), source=TriggerSource.SCHEDULE, node="dead"
    )
    nodes.recover(any_runtime, "me")
    stored = get_run(any_runtime, claim.run_id)
    assert stored.status == "missed"
    assert "missed" in stored.error_message and stored.finished_at is not None
    assert len(runs_of(any_runtime, "late")) == 1


def test_a_queued_run_of_a_dead_node_within_its_grace_is_released_for_dispatch(any_runtime):
    make_job(any_runtime, "soon", misfire_grace_time=300)
    add_node(any_runtime, "dead", heartbeat_at=clock.now() - timedelta(hours=1))
    claim = claims.claim_scheduled(
        any_runtime, "soon", clock.now() - timedelta(seconds=10), source=TriggerSource.SCHEDULE, node="dead"
    )
    nodes.recover(any_runtime, "me")
    stored = get_run(any_runtime, claim.run_id)
    assert stored.status == "queued" and stored.node is None
    assert runs.take_queued(any_runtime, "me") == [claim.run_id]


def test_runs_of_a_stopped_node_are_recovered(any_runtime):
    make_job(any_runtime, "long")
    add_node(any_runtime, "stopped", heartbeat_at=clock.now(), hostname="elsewhere")
    with any_runtime.db.begin() as session:
        session.get(Node, "stopped").stopped_at = clock.now()
    run = running_run(any_runtime, "long", node="stopped")
    nodes.recover(any_runtime, "me")
    assert get_run(any_runtime, run.id).status == "interrupted"


def test_recovery_leaves_the_runs_of_the_recovering_node_alone(any_runtime):
    make_job(any_runtime, "mine")
    run = running_run(any_runtime, "mine", node="me")
    assert nodes.recover(any_runtime, "me") == 0
    assert get_run(any_runtime, run.id).status == "running"


# --- jobs: listing, JSON, long text, time ------------------------------------


def seed_listing(rt) -> None:
    make_job(rt, "backup.mysql", name="Backup MySQL", category="maintenance", description="每晚全量备份")
    make_job(rt, "backup.pg", name="Backup PostgreSQL", category="maintenance", state="paused")
    make_job(rt, "sync-accounts", name="Sync accounts", category="sync", description="Nightly account SYNC")
    make_job(rt, "sizes", name="Collect sizes", category="monitoring")
    make_job(
        rt,
        "code_job",
        name="Code job",
        category="processing",
        code=CODE,
        function=None,
        trigger_type="cron",
        cron_expression="0 3 * * *",
        interval_seconds=None,
    )


def listed(rt, **filters) -> tuple[list[str], int]:
    with rt.db.read() as session:
        rows, total = jobs.page(session, **filters)
    return [j.id for j in rows], total


def test_job_pages_are_ordered_by_category_then_id(any_runtime):
    seed_listing(any_runtime)
    assert listed(any_runtime, per_page=2) == (["backup.mysql", "backup.pg"], 5)
    assert listed(any_runtime, per_page=2, page=2) == (["sizes", "code_job"], 5)
    assert listed(any_runtime, per_page=2, page=3) == (["sync-accounts"], 5)
    assert listed(any_runtime, per_page=2, page=4) == ([], 5)


def test_job_filters_and_search_work(any_runtime):
    seed_listing(any_runtime)
    assert listed(any_runtime, category="maintenance") == (["backup.mysql", "backup.pg"], 2)
    assert listed(any_runtime, state="paused") == (["backup.pg"], 1)
    assert listed(any_runtime, q="BACKUP") == (["backup.mysql", "backup.pg"], 2)
    assert listed(any_runtime, q="sync") == (["sync-accounts"], 1)  # name and description, any case
    assert listed(any_runtime, q="全量") == (["backup.mysql"], 1)
    assert listed(any_runtime, q="backup", state="active") == (["backup.mysql"], 1)
    assert listed(any_runtime, q="nothing-like-this") == ([], 0)


def test_search_takes_underscore_and_percent_literally(any_runtime):
    make_job(any_runtime, "backup.mysql")
    make_job(any_runtime, "old_logs")
    make_job(any_runtime, "full", description="100% of the disk")
    assert listed(any_runtime, q="_") == (["old_logs"], 1)
    assert listed(any_runtime, q="%") == (["full"], 1)
    assert listed(any_runtime, q="p_m") == ([], 0)


def test_job_ids_differing_only_in_case_are_two_jobs(any_runtime, db_kind, request):
    make_job(any_runtime, "Nightly")
    make_job(any_runtime, "nightly")
    with any_runtime.db.read() as session:
        assert jobs.get(session, "nightly").id == "nightly"
        with pytest.raises(JobNotFound):
            jobs.get(session, "NIGHTLY")


def test_run_pages_filter_by_job_status_and_creation_time(any_runtime):
    make_job(any_runtime, "a", max_instances=10)
    make_job(any_runtime, "b", max_instances=10)
    with time_machine.travel(T0, tick=False) as traveller:
        early = runs.enqueue(any_runtime, "a", source=TriggerSource.MANUAL)
        traveller.shift(timedelta(hours=1))
        done = running_run(any_runtime, "a")
        runs.finish(any_runtime, done.id, RunStatus.SUCCESS)
        other = runs.enqueue(any_runtime, "b", source=TriggerSource.MANUAL)
    with any_runtime.db.read() as session:

        def ids(**filters):
            rows, total = runs.page(session, **filters)
            return [r.id for r in rows], total

        assert ids() == ([other.id, done.id, early.id], 3)
        assert ids(job_id="a") == ([done.id, early.id], 2)
        assert ids(status="success") == ([done.id], 1)
        assert ids(since=T0 + timedelta(minutes=30)) == ([other.id, done.id], 2)
        assert ids(until=T0 + timedelta(minutes=30)) == ([early.id], 1)
        assert ids(per_page=2, page=2) == ([early.id], 3)


def test_json_columns_round_trip(any_runtime):
    params = {"名称": "值", "nested": {"list": [1, 2.5, None, True, "x"], "empty": {}}, "quote": "a\"b'c"}
    make_job(any_runtime, "upstream")
    make_job(
        any_runtime,
        "downstream",
        params=params,  # a code job's params are free-form (a built-in task's are checked by its model)
        function=None,
        code="def execute_task():\n    return params\n",
        depends_on=["upstream"],
        notify={"events": ["failure", "recovery"], "threshold": 2, "enabled": False},
        trigger_type="cron",
        cron_hour="2",
        cron_minute="30",
        cron_day_of_week="1-5",
        interval_seconds=None,
    )
    with any_runtime.db.read() as session:
        job = session.get(Job, "downstream")
        assert job.params == params
        assert job.depends_on == ["upstream"]
        assert job.notify == {"events": ["failure", "recovery"], "threshold": 2, "enabled": False}
        assert job.trigger_type == "cron"
        assert job.trigger_params["hour"] == "2" and job.trigger_params["minute"] == "30"


def test_last_runs_gives_the_newest_run_of_each_job(any_runtime):
    for job_id in ("a", "b", "c"):
        make_job(any_runtime, job_id, max_instances=10)
    newest = {}
    for job_id in ("a", "b", "a", "b", "a"):
        newest[job_id] = runs.enqueue(any_runtime, job_id, source=TriggerSource.MANUAL).id
    with any_runtime.db.read() as session:
        found = jobs.last_runs(session, ["a", "b", "c"])
        assert {k: r.id for k, r in found.items()} == newest
        assert jobs.last_runs(session, []) == {}


def test_long_code_return_value_and_log_round_trip(any_runtime):
    code = CODE + "# " + "x" * (200 * 1024 - len(CODE) - 3) + "\n"  # 200 KiB; the limit is 256 KiB
    make_job(any_runtime, "big", code=code, function=None, max_instances=5)
    value = "返回值" * (200 * 1024 // 3)
    log_text = ("日志 line ✓\n" * (900 * 1024 // 11))[: 900 * 1024]
    run = running_run(any_runtime, "big")
    runs.finish(any_runtime, run.id, RunStatus.SUCCESS, return_value=value, log_text=log_text, log_start=17)
    with any_runtime.db.read() as session:
        assert session.get(Job, "big").code == code
    stored = get_run(any_runtime, run.id)
    assert stored.log == log_text and stored.log_start == 17
    # SPEC §4: a return value keeps at most 64 KiB.
    assert stored.return_value == value[: product_defaults.RETURN_VALUE_MAX_CHARS]


def test_datetimes_come_back_aware_in_utc_with_microseconds(any_runtime):
    make_job(any_runtime, "timed", max_instances=5)
    created = datetime(2031, 3, 4, 10, 11, 12, 654321, tzinfo=UTC)
    local = datetime(2031, 3, 4, 18, 0, 0, 42, tzinfo=UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    with time_machine.travel(created, tick=False):
        claim = claims.claim_scheduled(any_runtime, "timed", local, source=TriggerSource.SCHEDULE, node="n1")
    stored = get_run(any_runtime, claim.run_id)
    assert stored.created_at == created and stored.created_at.tzinfo is UTC
    assert stored.scheduled_time == local and stored.scheduled_time.tzinfo is UTC
    assert stored.scheduled_time.microsecond == 42
    with any_runtime.db.read() as session:
        job = session.get(Job, "timed")
        assert job.created_at.tzinfo is UTC and job.updated_at.tzinfo is UTC
        count = session.scalar(select(func.count()).select_from(Run).where(Run.scheduled_time == local))
        assert count == 1  # filtering by an aware value in another zone finds the same row


# --- paging --------------------------------------------------------------------


def test_instances_filter_by_tag_in_the_database_and_page_after_it(any_runtime):
    from tests.fleet_support import ADMIN
    from whalefall.domain.instancespec import InstanceCreate
    from whalefall.services import instances

    tags = {"a": ["prod", "订单"], "b": ["prod_x"], "c": ['we"ird%'], "d": ["prod"], "e": []}
    for name, tag_list in tags.items():
        instances.create(
            any_runtime,
            InstanceCreate(name=name, db_type="mysql", host="h", username="u", tags=tag_list),
            ADMIN,
        )

    def names(tag: str, **paging) -> tuple[list[str], int]:
        with any_runtime.db.read() as session:
            rows, total = instances.page(session, tag=tag, **paging)
        return [r.name for r in rows], total

    assert names("prod") == (["a", "d"], 2)
    assert names("prod", page=2, per_page=1) == (["d"], 2)
    assert names("订单") == (["a"], 1)
    assert names('we"ird%') == (["c"], 1)
    assert names("prod_") == ([], 0)
    assert names("%") == ([], 0)


# --- alerts ------------------------------------------------------------------------


def test_the_alert_scan_queues_one_delivery_per_failure_on_every_database(any_runtime):
    from whalefall.domain.alertspec import ChannelCreate, WindowCreate
    from whalefall.models import AlertDelivery
    from whalefall.services import alert_channels, alerts, windows

    alert_channels.create(
        any_runtime, ChannelCreate(name="hook", url="json://127.0.0.1:9/hook"), Actor.system()
    )
    make_job(any_runtime, "job", max_instances=10)
    make_job(any_runtime, "held", category="etl")
    failed = running_run(any_runtime, "job")
    runs.finish(any_runtime, failed.id, RunStatus.FAILED, error_message="boom")
    ok = running_run(any_runtime, "job")
    runs.finish(any_runtime, ok.id, RunStatus.SUCCESS)
    assert alerts.scan_finished(any_runtime) == 2
    assert (
        alerts.scan_finished(any_runtime) == 0
    )  # the minute before the mark is looked at again: nothing new
    with any_runtime.db.read() as session:
        rows = list(session.scalars(select(AlertDelivery).order_by(AlertDelivery.id)))
    assert [(d.event, d.run_id, d.status) for d in rows] == [
        ("failure", failed.id, "pending"),
        ("recovery", ok.id, "pending"),
    ]
    assert alerts.due(any_runtime) == [rows[0].id, rows[1].id]
    windows.create(
        any_runtime,
        WindowCreate(
            name="w",
            cron="* * * * *",
            duration_minutes=5,
            scope="category",
            scope_values=["etl"],
            hold_runs=True,
        ),
        Actor.system(),
    )
    claim = claims.claim_scheduled(any_runtime, "held", clock.now(), source=TriggerSource.SCHEDULE, node="n1")
    assert claim is not None and claim.status == RunStatus.SKIPPED
