"""Dependency triggers: a job runs once every upstream has succeeded since its own last run."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from whalefall.domain.triggers import TriggerType
from whalefall.errors import RunConflict
from whalefall.models import ACTIVE_STATUSES, Job, JobState, Run, RunStatus, TriggerSource
from whalefall.models.run import RETRYABLE_STATUSES
from whalefall.runtime import Runtime
from whalefall.services import claims
from whalefall.services import runs as run_service

log = logging.getLogger(__name__)


def ready(session: Session, job: Job) -> bool:
    """Has every upstream of ``job`` succeeded since ``job`` last ran?"""
    last = session.scalar(select(func.max(Run.created_at)).where(Run.job_id == job.id))
    for upstream in job.depends_on or []:
        query = select(func.max(Run.finished_at)).where(
            Run.job_id == upstream, Run.status == RunStatus.SUCCESS.value
        )
        succeeded = session.scalar(query)
        if succeeded is None or (last is not None and succeeded <= last):
            return False
    active = session.scalar(
        select(func.count()).select_from(Run).where(Run.job_id == job.id, Run.status.in_(ACTIVE_STATUSES))
    )
    return not active


def downstream_of(session: Session, job_id: str) -> list[Job]:
    """The active dependency-triggered jobs that name ``job_id`` in their ``depends_on``."""
    candidates = session.scalars(
        select(Job).where(
            Job.trigger_type == TriggerType.DEPENDENCY.value, Job.state == JobState.ACTIVE.value
        )
    )
    return [job for job in candidates if job_id in (job.depends_on or [])]


def upstreams(runtime: Runtime) -> frozenset[str]:
    """Every job an active dependency-triggered job waits on. Most jobs have no downstream: a
    runner reads this once (again after job changes) rather than a thousand times a second."""
    with runtime.db.read() as session:
        depends = select(Job.depends_on).where(
            Job.trigger_type == TriggerType.DEPENDENCY.value, Job.state == JobState.ACTIVE.value
        )
        return frozenset(job_id for names in session.scalars(depends) for job_id in names or [])


def _any_downstream(runtime: Runtime, job_ids: set[str]) -> bool:
    return bool(job_ids & upstreams(runtime))


def after_success(runtime: Runtime, *job_ids: str) -> list[int]:
    """Queue the downstream jobs that the success of ``job_ids`` made ready; returns their run ids."""
    queued: list[int] = []
    succeeded = set(job_ids)
    if not _any_downstream(runtime, succeeded):
        return queued
    with runtime.db.begin() as session:
        ready_jobs = {job.id: job for job_id in sorted(succeeded) for job in downstream_of(session, job_id)}
        for job in ready_jobs.values():
            if not ready(session, job):
                continue
            try:
                run = run_service.enqueue(runtime, job.id, source=TriggerSource.DEPENDENCY, session=session)
            except RunConflict:
                continue
            log.info(
                "dependency run of %s queued after %s succeeded",
                job.id,
                ", ".join(sorted(succeeded & set(job.depends_on or []))),
                extra={"job_id": job.id, "run_id": run.id},
            )
            queued.append(run.id)
    if queued:
        runtime.changed()
    return queued


def after_failure(runtime: Runtime, run_id: int, job_id: str | None = None) -> list[int]:
    """Record a ``skipped`` run, saying why, for each active dependency-triggered job downstream of
    a run that failed for good (no retry follows); returns their run ids. Each is an alert event
    (``skipped_upstream``), as a scheduled job skipped for its failed upstream is."""
    skipped: list[int] = []
    if job_id is not None and not _any_downstream(runtime, {job_id}):  # the run's job, when known
        return skipped
    with runtime.db.begin() as session:
        run = session.get(Run, run_id)
        job = session.get(Job, run.job_id) if run is not None else None
        if run is None or job is None or run.status not in RETRYABLE_STATUSES:
            return []
        if run.attempt <= job.max_retries:
            return []  # a retry follows
        reason = claims.upstream_reason(job.id, run)
        for downstream in downstream_of(session, job.id):
            recorded = run_service.record_skipped(
                session, downstream, reason, source=TriggerSource.DEPENDENCY
            )
            log.info(
                "dependency run of %s skipped: %s",
                downstream.id,
                reason,
                extra={"job_id": downstream.id, "run_id": recorded.id},
            )
            skipped.append(recorded.id)
    return skipped
