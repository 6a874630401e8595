"""The hot path's batches keep every guarantee the single-run path gave.

Claims of one wake-up go in one transaction (``claims.claim_many``), fenced once; the runner's
starts, outcomes and logs go through the ledger (``runs.record``), many runs per commit; built-in
tasks run on the worker itself, and a worker stuck in a task that will not return is replaced.
Run on SQLite, PostgreSQL and MariaDB where the SQL differs.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest

from tests.conftest import make_runtime
from tests.test_scheduler import make_job, runs_of, wait_until
from whalefall import clock
from whalefall.models import Run, RunStatus, TriggerSource
from whalefall.scheduler.service import SchedulerService
from whalefall.services import claims, nodes
from whalefall.services import jobs as job_service
from whalefall.services import runs as run_service
from whalefall.services.audit import Actor
from whalefall.tasks.registry import BUILTIN_TASKS, TaskEntry, TaskRegistry

T0 = clock.now().replace(microsecond=0) - timedelta(minutes=5)
ADMIN = Actor("admin", "admin")


def request(job_id, when=T0, **kwargs):
    return claims.ClaimRequest(job_id, when, **kwargs)


# --- claims ----------------------------------------------------------------------------


def test_one_batch_claims_each_time_once_and_counts_max_instances_across_it(any_runtime):
    for name in ("a", "b", "single"):
        make_job(any_runtime, name, max_instances=1 if name == "single" else 3)
    job_service.pause(any_runtime, "b", ADMIN)
    got = claims.claim_many(
        any_runtime,
        [
            request("a"),
            request("a", T0 + timedelta(seconds=1)),
            request("b"),  # paused: nothing
            request("ghost"),  # no such job: nothing
            request("single"),
            request("single", T0 + timedelta(seconds=1)),  # the first of the batch is still active
            request("a"),  # the same time twice in one batch: once
        ],
        node="n1",
    )
    statuses = [None if c is None else c.status for c in got]
    assert statuses == [
        RunStatus.QUEUED,
        RunStatus.QUEUED,
        None,
        None,
        RunStatus.QUEUED,
        RunStatus.SKIPPED,
        None,
    ]
    assert len(runs_of(any_runtime, "a")) == 2
    [_, skipped] = runs_of(any_runtime, "single")
    assert skipped.error_message.startswith("max_instances (1) reached")
    # Claimed already, by this batch or another process's: a second batch claims nothing.
    again = claims.claim_many(any_runtime, [request("a"), request("single")], node="n2")
    assert again == [None, None]


def test_a_batch_sets_each_jobs_next_run_time_to_its_last_request(any_runtime):
    make_job(any_runtime, "tick", interval_seconds=1)
    later = T0 + timedelta(seconds=2)
    claims.claim_many(
        any_runtime,
        [
            request("tick", next_run_time=T0 + timedelta(seconds=1)),
            request("tick", later, next_run_time=later),
        ],
        node="n1",
    )
    with any_runtime.db.read() as session:
        assert job_service.get(session, "tick").next_run_time == later


def test_a_batch_under_a_lost_lease_claims_nothing_at_all(any_runtime):
    make_job(any_runtime, "a")
    make_job(any_runtime, "b")
    epoch = nodes.take(any_runtime, "leader")
    assert epoch is not None
    with pytest.raises(claims.LeaseLost):
        claims.claim_many(any_runtime, [request("a"), request("b")], node="leader", epoch=epoch + 1)
    assert runs_of(any_runtime, "a") == [] and runs_of(any_runtime, "b") == []
    got = claims.claim_many(any_runtime, [request("a"), request("b")], node="leader", epoch=epoch)
    assert [c.status for c in got] == [RunStatus.QUEUED, RunStatus.QUEUED]
    assert {r.epoch for r in runs_of(any_runtime, "a") + runs_of(any_runtime, "b")} == {epoch}


def test_a_batch_larger_than_a_chunk_claims_every_time(runtime, monkeypatch):
    monkeypatch.setattr(claims, "CLAIM_CHUNK", 3)
    for i in range(7):
        make_job(runtime, f"j{i}")
    got = claims.claim_many(runtime, [request(f"j{i}") for i in range(7)], node="n1")
    assert all(c is not None and c.status == RunStatus.QUEUED for c in got)
    assert len({c.run_id for c in got}) == 7


# --- the ledger's writes ----------------------------------------------------------------


def queued_run(runtime, job_id, when=T0):
    [claim] = claims.claim_many(runtime, [request(job_id, when)], node="n1")
    return claim.run_id


def test_record_starts_queued_runs_but_not_a_cancelled_one(any_runtime):
    make_job(any_runtime, "a", max_instances=5)
    first, second = queued_run(any_runtime, "a"), queued_run(any_runtime, "a", T0 + timedelta(seconds=1))
    run_service.cancel(any_runtime, second, ADMIN)
    done = run_service.record(any_runtime, "n1", starts=[first, second], jobs={})
    assert [(run.id, job.id) for run, job in done.started] == [(first, "a")]
    [run] = [r for r in runs_of(any_runtime, "a") if r.id == first]
    assert run.status == RunStatus.RUNNING.value and run.started_at is not None and run.node == "n1"


def test_record_ends_a_run_once_and_queues_the_retry_its_policy_asks(any_runtime):
    make_job(any_runtime, "flaky", max_retries=1, retry_delay_seconds=30, max_instances=5)
    ok_run, bad_run = (
        queued_run(any_runtime, "flaky"),
        queued_run(any_runtime, "flaky", T0 + timedelta(seconds=1)),
    )
    run_service.record(any_runtime, "n1", starts=[ok_run, bad_run])
    endings = [
        run_service.Ending(ok_run, RunStatus.SUCCESS, return_value="fine", log_text="line\n", log_start=0),
        run_service.Ending(bad_run, RunStatus.FAILED, error_message="boom"),
    ]
    done = run_service.record(any_runtime, "n1", endings=endings)
    assert sorted(done.ended) == [(ok_run, "flaky", RunStatus.SUCCESS), (bad_run, "flaky", RunStatus.FAILED)]
    # The same outcome again (a retried write) changes nothing and queues nothing more.
    again = run_service.record(any_runtime, "n1", endings=endings)
    assert again.ended == []
    runs = {r.id: r for r in runs_of(any_runtime, "flaky")}
    assert runs[ok_run].return_value == "fine" and runs[ok_run].log == "line\n"
    assert runs[ok_run].duration_seconds is not None
    retries = [r for r in runs.values() if r.retry_of == bad_run]
    assert len(retries) == 1 and retries[0].status == RunStatus.QUEUED.value


def test_a_claim_carries_its_builtin_job_and_a_start_with_it_reads_no_more(any_runtime):
    make_job(any_runtime, "a", params={}, timeout_seconds=7, timezone="UTC", max_instances=5)
    code = "def execute_task():\n    return 1\n"
    make_job(any_runtime, "c", function=None, code=code, max_instances=5)
    first, second, coded = claims.claim_many(
        any_runtime, [request("a"), request("a", T0 + timedelta(seconds=1)), request("c")], node="n1"
    )
    assert first.job == claims.RunJob("a", "builtin", "heartbeat", {}, 7, "UTC")
    assert coded.job is None  # a code job's start reads its whole row (its source)
    # Started with the claim's job: the same run as the start that reads the job gives.
    known = {first.run_id: first.job}
    done = run_service.record(any_runtime, "n1", starts=[first.run_id], known=known)
    [(run, job)] = done.started
    assert job == first.job and (run.id, run.job_id, run.attempt) == (first.run_id, "a", 1)
    assert run.started_at is not None and run.scheduled_time == T0
    read = run_service.record(any_runtime, "n1", starts=[second.run_id, coded.run_id], jobs={})
    assert [(job.id, job.timeout_seconds, job.full is None) for _, job in read.started] == [
        ("a", 7, True),
        ("c", None, False),
    ]
    # A known job does not start a run that must not start (here: cancelled meanwhile).
    third = claims.claim_many(any_runtime, [request("a", T0 + timedelta(seconds=2))], node="n1")[0]
    run_service.cancel(any_runtime, third.run_id, ADMIN)
    again = run_service.record(any_runtime, "n1", starts=[third.run_id], known={third.run_id: third.job})
    assert again.started == []


def test_an_outcome_wakes_the_scheduler_only_when_it_queued_a_retry(any_runtime):
    make_job(any_runtime, "flaky", max_retries=1, retry_delay_seconds=1, max_instances=5)
    woken = []
    any_runtime.subscribe(lambda: woken.append(1))
    ok_run, bad_run = (
        queued_run(any_runtime, "flaky"),
        queued_run(any_runtime, "flaky", T0 + timedelta(seconds=1)),
    )
    run_service.record(any_runtime, "n1", starts=[ok_run, bad_run])
    woken.clear()
    run_service.record(any_runtime, "n1", endings=[run_service.Ending(ok_run, RunStatus.SUCCESS)])
    assert woken == []
    run_service.record(any_runtime, "n1", endings=[run_service.Ending(bad_run, RunStatus.FAILED)])
    assert woken == [1]


def test_record_fenced_by_a_lost_lease_starts_nothing(any_runtime):
    make_job(any_runtime, "a")
    epoch = nodes.take(any_runtime, "leader")
    run_id = queued_run(any_runtime, "a")
    done = run_service.record(any_runtime, "leader", starts=[run_id], epoch=epoch + 1)
    assert done.started == []
    assert runs_of(any_runtime, "a")[0].status == RunStatus.QUEUED.value


# --- the runner's workers ------------------------------------------------------------------

RELEASE = threading.Event()


def stuck(ctx) -> str:
    """A task that ignores ``cancel_requested`` until the test lets it go."""
    RELEASE.wait(30)
    return "let go"


@pytest.fixture
def one_worker(tmp_path):
    runtime = make_runtime(tmp_path, executor_max_workers=1)
    table = {
        **BUILTIN_TASKS,
        "stuck": TaskEntry("tests.test_batching:stuck", "whalefall.tasks.heartbeat:Params"),
    }
    runtime.tasks = TaskRegistry(table)
    service = SchedulerService(runtime)
    service.start(thread=False)
    service.step()
    RELEASE.clear()
    yield runtime, service
    RELEASE.set()
    service.stop(wait_seconds=5)
    runtime.close()


def test_a_task_past_its_timeout_ends_the_run_and_its_worker_is_replaced(one_worker):
    runtime, service = one_worker
    make_job(runtime, "stuck", function="stuck", timeout_seconds=1)
    make_job(runtime, "beat")
    stuck_run = run_service.enqueue(runtime, "stuck", source=TriggerSource.MANUAL, actor=ADMIN).id
    wait_until(lambda: runs_of(runtime, "stuck")[0].status == RunStatus.TIMEOUT.value, service)
    # The only worker is still inside the task; a new one took its place and runs the next run.
    run_service.enqueue(runtime, "beat", source=TriggerSource.MANUAL, actor=ADMIN)
    wait_until(lambda: [r.status for r in runs_of(runtime, "beat")] == [RunStatus.SUCCESS.value], service)
    RELEASE.set()
    time.sleep(0.2)
    [run] = runs_of(runtime, "stuck")
    assert run.id == stuck_run and run.status == RunStatus.TIMEOUT.value  # what it returned late is dropped
    assert "timed out after 1 s" in run.error_message


def test_a_burst_due_on_one_second_is_recorded_whole(runtime):
    """Many jobs due at the same moment: every one claimed, started and succeeded; none skipped
    or coalesced away (the figures are bench/burst.py's; this is the correctness)."""
    due = clock.now().replace(microsecond=0) + timedelta(seconds=2)
    for i in range(200):
        make_job(runtime, f"burst-{i:03d}", trigger_type="date", run_date=due.isoformat())
    service = SchedulerService(runtime)
    service.start(thread=False)
    try:
        service.step()

        def burst_runs():
            with runtime.db.read() as session:
                return session.query(Run).filter(Run.job_id.like("burst-%")).all()

        wait_until(
            lambda: sum(r.status == RunStatus.SUCCESS.value for r in burst_runs()) == 200, service, timeout=30
        )
        rows = burst_runs()
        assert len(rows) == 200
        assert {r.status for r in rows} == {RunStatus.SUCCESS.value}
        assert {r.scheduled_time for r in rows} == {due} and not any(r.coalesced for r in rows)
    finally:
        service.stop(wait_seconds=5)


# --- the API's times ------------------------------------------------------------------------


def test_a_start_date_keeps_its_fraction_of_a_second_through_the_api(runtime, client, bearer):
    """Jobs can be spread inside a second: the fraction survives saving, scheduling and the run."""
    admin = bearer("admin")
    body = {
        "id": "spread",
        "name": "spread",
        "function": "heartbeat",
        "trigger_type": "interval",
        "interval_seconds": 1,
        "start_date": "2026-01-01T00:00:00.250+08:00",
    }
    created = client.post("/scheduler/api/jobs", json=body, headers=admin)
    assert created.status_code == 200, created.json
    job = client.get("/scheduler/api/jobs/spread", headers=admin).json["data"]
    assert job["trigger_params"]["start_date"].startswith("2026-01-01T00:00:00.250")
    next_at = datetime.fromisoformat(job["next_run_at"])
    assert next_at.utcoffset() is not None and next_at.microsecond == 250_000
    [claim] = claims.claim_many(runtime, [request("spread", next_at)], node="n1")
    run = client.get(f"/scheduler/api/runs/{claim.run_id}", headers=admin).json["data"]
    assert datetime.fromisoformat(run["scheduled_at"]) == next_at
    assert run["scheduled_at"].endswith("+00:00") and ".250" in run["scheduled_at"]
