"""The scheduler in-process: the engine, the runner, and the APScheduler 3 traps it closes.

The service is driven step by step (``SchedulerService.step``); APScheduler's own
thread runs for real. Waits poll a condition with a deadline; time a test needs to pass
(a due time during a shutdown, due times after a pause) is moved on the clock with
time-machine, not slept through.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from whalefall import clock
from whalefall.domain.jobspec import JobCreate
from whalefall.models import Job, Run
from whalefall.scheduler.service import SchedulerService
from whalefall.services import claims
from whalefall.services import jobs as job_service
from whalefall.services import runs as run_service
from whalefall.services.audit import Actor
from whalefall.services.health import health

ADMIN = Actor("admin", "admin")


def wait_until(condition, service=None, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service is not None:
            service.step()
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def make_job(runtime, job_id="job", **fields):
    data = {
        "id": job_id,
        "name": job_id,
        "trigger_type": "interval",
        "interval_seconds": 3600,
        "function": "heartbeat",
        **fields,
    }
    return job_service.create(runtime, JobCreate.model_validate(data), ADMIN)


def runs_of(runtime, job_id, **filters):
    with runtime.db.read() as session:
        return list(session.query(Run).filter_by(job_id=job_id, **filters).order_by(Run.id))


def statuses(runtime, job_id):
    return [r.status for r in runs_of(runtime, job_id)]


@pytest.fixture
def start_scheduler(runtime):
    started = []

    def start(rt=None):
        svc = SchedulerService(rt or runtime)
        svc.start(thread=False)
        svc.step()
        assert svc.leading
        started.append(svc)
        return svc

    yield start
    for svc in started:
        svc.stop(wait_seconds=5)


@pytest.fixture
def scheduler(start_scheduler):
    return start_scheduler()


def stored_next_run_time(service, job_id):
    job = service.engine.aps.get_job(job_id)
    return None if job is None else job.next_run_time


# --- running ------------------------------------------------------------------


def test_interval_job_runs_each_second_with_distinct_scheduled_times(runtime, scheduler):
    make_job(runtime, "tick", interval_seconds=1)
    wait_until(lambda: len(runs_of(runtime, "tick", status="success")) >= 3, scheduler)
    runs = runs_of(runtime, "tick")
    times = [r.scheduled_time for r in runs if r.trigger_source == "schedule"]
    assert len(times) == len(set(times))
    assert all((b - a) == timedelta(seconds=1) for a, b in zip(times, times[1:], strict=False))


def test_run_now_executes_and_records_the_outcome(runtime, scheduler):
    make_job(runtime, "hb")
    run = run_service.enqueue(runtime, "hb", source=run_service.TriggerSource.MANUAL, actor=ADMIN)
    done = wait_until(lambda: [r for r in runs_of(runtime, "hb") if r.status == "success"], scheduler)
    assert done[0].id == run.id and done[0].return_value and done[0].node == scheduler.node_id
    assert done[0].started_at and done[0].finished_at and done[0].duration_seconds is not None


def test_code_job_output_reaches_the_log_and_its_return_value_is_kept(runtime, scheduler):
    code = "def execute_task():\n    print('hello')\n    logger.info('from logger %s', params['x'])\n    return {'n': 1}\n"
    make_job(runtime, "code", code=code, function=None, params={"x": 7})
    run_service.enqueue(runtime, "code", source=run_service.TriggerSource.MANUAL, actor=ADMIN)
    run = wait_until(lambda: [r for r in runs_of(runtime, "code") if r.status == "success"], scheduler)[0]
    assert run.return_value == '{"n": 1}'
    assert "hello" in run.log and "INFO from logger 7" in run.log


def test_failed_run_keeps_error_and_traceback_and_is_retried(runtime, scheduler):
    code = "def execute_task():\n    raise ValueError('boom')\n"
    make_job(runtime, "bad", code=code, function=None, max_retries=2, retry_delay_seconds=0)
    run_service.enqueue(runtime, "bad", source=run_service.TriggerSource.MANUAL, actor=ADMIN)
    runs = wait_until(
        lambda: (r := runs_of(runtime, "bad")) and len([x for x in r if x.status == "failed"]) == 3 and r,
        scheduler,
        timeout=20,
    )
    assert [r.attempt for r in runs] == [1, 2, 3]
    assert [r.trigger_source for r in runs] == ["manual", "retry", "retry"]
    assert "ValueError: boom" in runs[0].error_message and "line 2" in runs[0].traceback


def test_code_job_past_its_timeout_is_killed_and_marked_timeout(runtime, scheduler):
    make_job(
        runtime,
        "slow",
        code="import time\ndef execute_task():\n    time.sleep(30)\n",
        function=None,
        timeout_seconds=1,
    )
    run_service.enqueue(runtime, "slow", source=run_service.TriggerSource.MANUAL, actor=ADMIN)
    run = wait_until(lambda: [r for r in runs_of(runtime, "slow") if r.status == "timeout"], scheduler)[0]
    assert "timed out" in run.error_message and run.duration_seconds < 10


def test_cancelling_a_running_code_job_stops_it(runtime, scheduler):
    make_job(
        runtime,
        "long",
        code="import time\ndef execute_task():\n    print('started', flush=True)\n    time.sleep(30)\n",
        function=None,
    )
    run = run_service.enqueue(runtime, "long", source=run_service.TriggerSource.MANUAL, actor=ADMIN)
    wait_until(lambda: "started" in (runs_of(runtime, "long")[0].log or ""), scheduler)
    run_service.cancel(runtime, run.id, ADMIN)
    done = wait_until(lambda: [r for r in runs_of(runtime, "long") if r.status == "cancelled"], scheduler)[0]
    assert done.duration_seconds < 10


def test_scheduled_run_beyond_max_instances_is_skipped_with_a_reason(runtime, scheduler):
    make_job(
        runtime,
        "busy",
        code="import time\ndef execute_task():\n    time.sleep(3)\n",
        function=None,
        trigger_type="interval",
        interval_seconds=1,
    )
    skipped = wait_until(lambda: runs_of(runtime, "busy", status="skipped"), scheduler)
    assert "max_instances" in skipped[0].error_message


def test_dependency_job_runs_after_its_upstream_succeeds(runtime, scheduler):
    make_job(runtime, "up")
    make_job(runtime, "down", trigger_type="dependency", interval_seconds=None, depends_on=["up"])
    run_service.enqueue(runtime, "up", source=run_service.TriggerSource.MANUAL, actor=ADMIN)
    down = wait_until(lambda: runs_of(runtime, "down", status="success"), scheduler)
    assert down[0].trigger_source == "dependency"


def test_job_whose_upstream_failed_is_skipped_saying_why(runtime, scheduler):
    make_job(runtime, "up", code="def execute_task():\n    raise RuntimeError('x')\n", function=None)
    make_job(runtime, "after", depends_on=["up"])
    run_service.enqueue(runtime, "up", source=run_service.TriggerSource.MANUAL, actor=ADMIN)
    wait_until(lambda: runs_of(runtime, "up", status="failed"), scheduler)
    claims.claim_scheduled(
        runtime, "after", clock.now(), source=run_service.TriggerSource.SCHEDULE, node=scheduler.node_id
    )
    skipped = runs_of(runtime, "after", status="skipped")
    assert skipped and "upstream job 'up' failed" in skipped[0].error_message


# --- following changes --------------------------------------------------------


def test_changes_made_elsewhere_reach_the_scheduler(runtime, scheduler):
    # A second runtime stands for a web process: it shares the database, not the memory.
    from tests.conftest import make_runtime

    web = make_runtime(runtime.settings.data_dir.parent, runtime.settings.resolved_database_url)
    try:
        make_job(web, "remote", interval_seconds=1)
        wait_until(lambda: runs_of(runtime, "remote", status="success"), scheduler, timeout=5)
        job_service.pause(web, "remote", ADMIN)
        wait_until(lambda: stored_next_run_time(scheduler, "remote") is None, scheduler, timeout=3)
        count = len(runs_of(runtime, "remote"))
        # Two due times pass on the clock (not slept through), and the engine processes its due
        # jobs at each: a schedule still stored would fire each time.
        with time_machine.travel(clock.now(), tick=True) as traveller:
            for _ in range(2):
                traveller.shift(timedelta(seconds=1.5))
                scheduler.engine.aps._process_jobs()
            scheduler.step()
            assert len(runs_of(runtime, "remote")) <= count + 1  # at most one already in flight
    finally:
        web.close()


def test_run_now_neither_unpauses_nor_shifts_the_phase(runtime, scheduler):
    make_job(runtime, "phase", interval_seconds=600)
    scheduler.step()
    before = stored_next_run_time(scheduler, "phase")
    run_service.enqueue(runtime, "phase", source=run_service.TriggerSource.MANUAL, actor=ADMIN)
    wait_until(lambda: runs_of(runtime, "phase", status="success"), scheduler)
    assert stored_next_run_time(scheduler, "phase") == before

    job_service.pause(runtime, "phase", ADMIN)
    scheduler.step()
    run_service.enqueue(runtime, "phase", source=run_service.TriggerSource.MANUAL, actor=ADMIN)
    wait_until(lambda: len(runs_of(runtime, "phase", status="success")) == 2, scheduler)
    with runtime.db.read() as session:
        assert session.get(Job, "phase").state == "paused"
    assert stored_next_run_time(scheduler, "phase") is None


def test_resume_keeps_the_interval_phase_anchored(runtime, scheduler):
    make_job(runtime, "anchored", interval_seconds=600)
    scheduler.step()
    before = stored_next_run_time(scheduler, "anchored")
    job_service.pause(runtime, "anchored", ADMIN)
    job_service.resume(runtime, "anchored", ADMIN)
    scheduler.step()
    assert stored_next_run_time(scheduler, "anchored") == before


# --- the traps ----------------------------------------------------------------


def test_claims_the_database_refuses_are_reported_then_fired_again_and_counted(
    runtime, scheduler, monkeypatch
):
    make_job(runtime, "tick", interval_seconds=1)
    wait_until(lambda: runs_of(runtime, "tick", status="success"), scheduler)
    real = claims.claim_many
    refused: list[datetime] = []

    def refusing(rt, requests, **kwargs):
        tick = [r for r in requests if r.job_id == "tick"]
        if tick and len(refused) < 3:
            refused.append(tick[0].scheduled_time)
            raise OperationalError("INSERT INTO runs", {}, Exception("database is locked"))
        return real(rt, requests, **kwargs)

    monkeypatch.setattr(claims, "claim_many", refusing)
    wait_until(lambda: scheduler.problem() is not None, scheduler, timeout=10)
    status, body = health(runtime)
    assert body["status"] == "warning" and any(
        "claiming scheduled runs failed" in p for p in body["problems"]
    )
    assert scheduler.engine.alive()
    # Once the database answers again, the refused times are fired again: one run absorbs them.
    wait_until(
        lambda: (
            any(r.coalesced and r.coalesced_from == refused[0] for r in runs_of(runtime, "tick"))
            or any(r.scheduled_time == refused[0] for r in runs_of(runtime, "tick"))
        ),
        scheduler,
    )
    wait_until(lambda: scheduler.problem() is None, scheduler)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_engine_thread_is_noticed_and_restarted(runtime, scheduler, monkeypatch):
    make_job(runtime, "tick", interval_seconds=1)
    aps = scheduler.engine.aps

    def explode():
        raise RuntimeError("job store went away")

    monkeypatch.setattr(aps, "_process_jobs", explode)
    aps.wakeup()
    wait_until(lambda: not aps._thread.is_alive())
    assert aps.running  # the stock trap: the thread is dead, `running` still says true
    scheduler.step()
    assert scheduler.engine.alive() and scheduler.engine.aps is not aps
    count = len(runs_of(runtime, "tick", status="success"))
    wait_until(lambda: len(runs_of(runtime, "tick", status="success")) > count, scheduler)


def test_a_job_due_during_shutdown_runs_at_the_next_start(runtime, start_scheduler):
    first = start_scheduler()
    make_job(runtime, "due", interval_seconds=2)
    first.step()
    due = stored_next_run_time(first, "due")
    first.engine.pause()  # what stop() does first: nothing more is processed
    # The due time passes during the shutdown: on the clock, not waited for.
    with time_machine.travel(max(clock.now(), due + timedelta(seconds=0.5)), tick=True):
        first.stop(wait_seconds=1)
        with runtime.db.read() as session:  # its time was not advanced past the fire it skipped
            assert session.get(Job, "due").next_run_time <= due
        second = start_scheduler()
        catch_up = wait_until(lambda: runs_of(runtime, "due", trigger_source="catch_up"), second)
        second.stop(wait_seconds=2)
    assert len(catch_up) == 1 and catch_up[0].scheduled_time == due


def test_catch_up_after_a_day_down_costs_one_run_not_one_per_second(runtime, start_scheduler, monkeypatch):
    first = start_scheduler()
    make_job(runtime, "persec", interval_seconds=1)
    first.step()
    first.stop(wait_seconds=1)
    before = len(runs_of(runtime, "persec"))

    from apscheduler.triggers.interval import IntervalTrigger

    calls = {"n": 0}
    real = IntervalTrigger.get_next_fire_time

    def counting(self, previous, now):
        calls["n"] += 1
        return real(self, previous, now)

    monkeypatch.setattr(IntervalTrigger, "get_next_fire_time", counting)
    with time_machine.travel(clock.now() + timedelta(days=1), tick=True):
        second = start_scheduler()
        runs = runs_of(runtime, "persec")[before:]
        second.stop(wait_seconds=2)
    catch_up = [r for r in runs if r.trigger_source == "catch_up"]
    assert [r.status for r in catch_up if r.status != "missed"].count("missed") == 0
    assert len([r for r in catch_up if r.status == "missed"]) == 1
    assert len([r for r in catch_up if r.status != "missed"]) == 1
    assert calls["n"] < 1000  # the grace window (300 s), not 86,400 seconds


def test_max_instances_counts_manual_runs_too(runtime, scheduler):
    make_job(runtime, "one", code="import time\ndef execute_task():\n    time.sleep(2)\n", function=None)
    run_service.enqueue(runtime, "one", source=run_service.TriggerSource.MANUAL, actor=ADMIN)
    with pytest.raises(run_service.RunConflict):
        run_service.enqueue(runtime, "one", source=run_service.TriggerSource.MANUAL, actor=ADMIN)


def test_a_new_leader_rebuilds_every_schedule_from_the_jobs_table_phase_and_all(runtime, start_scheduler):
    first = start_scheduler()
    make_job(runtime, "steady", interval_seconds=600)
    first.step()
    expected = stored_next_run_time(first, "steady")
    first.stop(wait_seconds=1)
    second = start_scheduler()  # nothing of the first engine's is kept anywhere but in `jobs`
    assert stored_next_run_time(second, "steady") == expected


def test_a_job_whose_builtin_function_is_gone_is_kept_and_flagged(runtime, scheduler):
    make_job(runtime, "orphan")
    with runtime.db.begin() as session:
        session.execute(update(Job).where(Job.id == "orphan").values(func_name="renamed_task"))
    job_service.mark_broken(runtime, "orphan", None)
    scheduler.engine.reconcile_all()
    with runtime.db.read() as session:
        job = session.get(Job, "orphan")
    assert job.broken_reason == "unknown built-in function 'renamed_task'" and job.next_run_time is None
    assert stored_next_run_time(scheduler, "orphan") is None
    job_service.update(runtime, "orphan", job_service.JobPatch(function="heartbeat"), ADMIN)
    scheduler.step()
    with runtime.db.read() as session:
        assert session.get(Job, "orphan").broken_reason is None
    assert stored_next_run_time(scheduler, "orphan") is not None


def test_a_renamed_builtin_function_fails_the_run_and_flags_the_job(runtime, scheduler):
    make_job(runtime, "renamed")
    with runtime.db.begin() as session:
        session.execute(update(Job).where(Job.id == "renamed").values(func_name="old_name"))
    run_service.enqueue(runtime, "renamed", source=run_service.TriggerSource.MANUAL, actor=ADMIN)
    run = wait_until(lambda: runs_of(runtime, "renamed", status="failed"), scheduler)[0]
    assert "old_name" in run.error_message
    with runtime.db.read() as session:
        assert "old_name" in session.get(Job, "renamed").broken_reason


def test_heartbeat_job_keeps_health_green(runtime, scheduler):
    make_job(runtime, "beat", interval_seconds=1)
    wait_until(lambda: runs_of(runtime, "beat", status="success"), scheduler)
    status, body = health(runtime)
    assert status == 200 and body["status"] == "healthy" and body["last_heartbeat"]


def test_a_heartbeat_in_one_database_does_not_hold_back_the_next_ones_in_another(tmp_path):
    """The once-a-second write is per database: two runtimes in one process both get their beat."""
    import logging

    from tests.conftest import make_runtime
    from whalefall.services import state
    from whalefall.tasks import heartbeat
    from whalefall.tasks.registry import TaskContext

    first, second = make_runtime(tmp_path / "a"), make_runtime(tmp_path / "b")
    try:
        for rt in (first, second):
            heartbeat.run(TaskContext(rt, 1, "beat", None, 1, logging.getLogger("test")))
        assert state.get(first, heartbeat.KEY) is not None
        assert state.get(second, heartbeat.KEY) is not None
    finally:
        first.close()
        second.close()


def test_health_is_503_without_a_scheduler(runtime):
    status, body = health(runtime)
    assert status == 503 and body["scheduler"]["running"] is False


def test_a_lease_held_by_a_dead_process_of_this_machine_is_taken_at_once(runtime):
    import os
    import subprocess
    import sys

    from whalefall.services import nodes

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = nodes.make_node_id(pid=child.pid)
    alive = nodes.make_node_id(pid=os.getpid())
    assert nodes.acquire(runtime, alive)
    assert not nodes.acquire(runtime, nodes.make_node_id())  # a live holder keeps it until it expires
    mine = nodes.make_node_id()
    with runtime.db.begin() as session:
        session.execute(
            update(nodes.Lease).values(holder=dead, expires_at=clock.now() + timedelta(seconds=60))
        )
    assert nodes.acquire(runtime, mine)
    assert nodes.current_leader(runtime).holder == mine
