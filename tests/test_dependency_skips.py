"""A dependency-triggered job whose upstream failed for good is recorded ``skipped``, saying why,
and that is an alert event (``skipped_upstream``), as for a scheduled job skipped for it."""

from __future__ import annotations

from sqlalchemy import select

from whalefall.domain.alertspec import ChannelCreate
from whalefall.domain.jobspec import JobCreate
from whalefall.models import AlertDelivery, Run, RunStatus, TriggerSource
from whalefall.scheduler.alerts import AlertDispatcher
from whalefall.services import alert_channels, dependencies, jobs, runs
from whalefall.services.audit import Actor

ADMIN = Actor("admin", "admin")


def make_job(rt, job_id: str, **fields) -> None:
    data = {"id": job_id, "name": job_id.title(), "function": "heartbeat", "trigger_type": "interval"}
    jobs.create(rt, JobCreate(**{**data, "interval_seconds": 3600, **fields}), ADMIN)


def fail(rt, job_id: str, attempt: int = 1) -> int:
    run = runs.enqueue(rt, job_id, source=TriggerSource.MANUAL, node="n1", attempt=attempt)
    assert runs.start(rt, run.id, "n1")
    runs.finish(rt, run.id, RunStatus.FAILED, error_message="boom")
    return run.id


def runs_of(rt, job_id: str) -> list[Run]:
    with rt.db.read() as session:
        return list(session.scalars(select(Run).where(Run.job_id == job_id).order_by(Run.id)))


def test_a_downstream_job_is_skipped_saying_why_and_alerts_once_its_upstream_failed_for_good(
    runtime, http_receiver
):
    alert_channels.create(
        runtime, ChannelCreate(name="hook", url=f"json://127.0.0.1:{http_receiver.port}/a"), ADMIN
    )
    make_job(runtime, "extract", max_retries=1)
    make_job(runtime, "load", trigger_type="dependency", interval_seconds=None, depends_on=["extract"])
    make_job(
        runtime,
        "idle",
        trigger_type="dependency",
        interval_seconds=None,
        depends_on=["extract"],
        state="paused",
    )

    first = fail(runtime, "extract")
    assert dependencies.after_failure(runtime, first) == []  # a retry follows: nothing yet
    last = fail(runtime, "extract", attempt=2)
    skipped = dependencies.after_failure(runtime, last)

    [run] = runs_of(runtime, "load")
    assert skipped == [run.id] and runs_of(runtime, "idle") == []
    assert run.status == "skipped" and run.trigger_source == "dependency"
    assert run.error_message == f"upstream job 'extract' failed (run #{last})"
    AlertDispatcher(runtime, lambda: True).step()
    with runtime.db.read() as session:
        events = {(d.job_id, d.event) for d in session.scalars(select(AlertDelivery))}
    assert ("load", "skipped_upstream") in events
