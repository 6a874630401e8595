"""Dependency triggers: a job runs once every upstream has succeeded since its own last run."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from whalefall.domain.triggers import TriggerType
from whalefall.errors import RunConflict
from whalefall.models import ACTIVE_STATUSES, Job, JobState, Run, RunStatus, TriggerSource
from whalefall.runtime import Runtime
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


def after_success(runtime: Runtime, *job_ids: str) -> list[int]:
    """Queue the downstream jobs that the success of ``job_ids`` made ready; returns their run ids."""
    queued: list[int] = []
    succeeded = set(job_ids)
    dependency_jobs = select(Job).where(
        Job.trigger_type == TriggerType.DEPENDENCY.value, Job.state == JobState.ACTIVE.value
    )
    with runtime.db.read() as session:  # most successes have no downstream: one read, no write
        depends = select(Job.depends_on).where(
            Job.trigger_type == TriggerType.DEPENDENCY.value, Job.state == JobState.ACTIVE.value
        )
        if not any(succeeded & set(upstreams or []) for upstreams in session.scalars(depends)):
            return queued
    with runtime.db.begin() as session:
        for job in session.scalars(dependency_jobs):
            if not succeeded & set(job.depends_on or []) or not ready(session, job):
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
