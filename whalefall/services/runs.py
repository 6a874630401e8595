"""Runs: claimed before they execute, moved through their states by conditional UPDATEs.

queued → running → success | failed | timeout | cancelled, written here and
nowhere else. A scheduled time is claimed once by the unique
(job_id, scheduled_time): a second claim (a double fire, a takeover) fails and
is harmless. Every transition is ``UPDATE … WHERE id = ? AND status = old``
and checks that one row changed, so it is safe across processes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from whalefall import clock, defaults
from whalefall.errors import InvalidInput, JobNotFound, RunConflict, RunNotFound
from whalefall.models import ACTIVE_STATUSES, Job, JobState, Run, RunStatus, TriggerSource
from whalefall.models.run import RETRYABLE_STATUSES
from whalefall.runtime import Runtime
from whalefall.services import audit, fencing, jobs, windows
from whalefall.services.audit import Actor
from whalefall.services.query import changed_rows, paginate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    """What a claim produced: a run to execute, or one recorded as skipped/missed."""

    run_id: int
    status: RunStatus


def _active_count(session: Session, job_id: str, now: datetime) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Run)
            .where(
                Run.job_id == job_id,
                Run.status.in_(ACTIVE_STATUSES),
                or_(Run.not_before.is_(None), Run.not_before <= now),
            )
        )
        or 0
    )


def upstream_reason(upstream: str, run: Run) -> str:
    """Why a downstream job did not run; alerts know the event by its first word, ``upstream``."""
    return f"upstream job {upstream!r} {run.status} (run #{run.id})"


def upstream_failure(session: Session, job: Job) -> str | None:
    """Why ``job`` must not run because an upstream's latest run failed, or None."""
    for upstream in job.depends_on or []:
        latest = session.scalars(
            select(Run)
            .where(
                Run.job_id == upstream,
                Run.status.notin_(ACTIVE_STATUSES),
                Run.status != RunStatus.SKIPPED.value,
            )
            .order_by(Run.id.desc())
            .limit(1)
        ).first()
        if latest is not None and latest.status in RETRYABLE_STATUSES:
            return upstream_reason(upstream, latest)
    return None


class LeaseLost(RuntimeError):
    """A claim or start was refused: the node no longer holds the lease under the epoch it gave."""


def lock_job(session: Session, job_id: str) -> Job | None:
    """The job's row, locked until the transaction ends, so that counting its active runs and
    adding one is atomic across threads and processes (``max_instances``).

    PostgreSQL and MySQL lock the row (``SELECT … FOR UPDATE``). SQLite has one writer: a write
    first makes the transaction take the database's write lock before it counts.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(Job).where(Job.id == job_id).values(version=Job.version))
        return session.get(Job, job_id, populate_existing=True)
    return session.scalars(select(Job).where(Job.id == job_id).with_for_update()).first()


def claim_scheduled(
    runtime: Runtime,
    job_id: str,
    scheduled_time: datetime,
    *,
    source: TriggerSource,
    node: str,
    epoch: int | None = None,
    next_run_time: datetime | None = None,
    late_reason: str | None = None,
    coalesced: int = 0,
    coalesced_from: datetime | None = None,
) -> Claim | None:
    """Claim one scheduled time of a job. None when it was claimed already or the job is gone/paused.

    Records ``missed`` when ``late_reason`` is given, ``skipped`` when max_instances is
    reached, an upstream failed or a window holds it, else a ``queued`` run owned by ``node``.
    ``coalesced`` fire times (from ``coalesced_from``) folded into this one are recorded on it.

    With ``epoch`` the run is inserted only while ``node`` holds the lease under that epoch — in
    the INSERT itself, so a stale leader's claim fails even before it notices — else
    ``LeaseLost`` is raised.
    """
    now = clock.now()
    holding = windows.holding_windows(runtime)  # before the lock: it may read the database
    try:
        with runtime.db.begin() as session:
            job = lock_job(session, job_id)
            if job is None or (job.state != JobState.ACTIVE and source == TriggerSource.SCHEDULE):
                return None
            if next_run_time is not None or source == TriggerSource.SCHEDULE:
                jobs.set_next_run_time(job, next_run_time)
            values: dict[str, Any] = {
                "job_id": job_id,
                "job_name": job.name,
                "trigger_source": source.value,
                "scheduled_time": scheduled_time,
                "created_at": now,
                "node": node,
                "attempt": 1,
                "log": "",
                "log_start": 0,
                "epoch": epoch,
                "coalesced": coalesced,
                "coalesced_from": coalesced_from,
                "cancel_requested": False,
                "partial": False,
            }
            reason = late_reason
            if reason:
                values["status"] = RunStatus.MISSED.value
            else:
                active = _active_count(session, job_id, now)
                held = windows.first_covering(runtime, holding, job.id, job.category, scheduled_time)
                if held is not None:
                    reason = f"held by maintenance window {held.name!r}"
                elif active >= job.max_instances:
                    reason = f"max_instances ({job.max_instances}) reached: {active} run(s) still active"
                else:
                    reason = upstream_failure(session, job)
                values["status"] = RunStatus.SKIPPED.value if reason else RunStatus.QUEUED.value
            if reason:
                values.update(error_message=reason, finished_at=now, node=None)
            columns = Run.__table__.c
            row = select(*[literal(value, columns[name].type) for name, value in values.items()])
            if epoch is not None:
                row = row.where(fencing.fence(session, node, epoch))
            table = cast(Table, Run.__table__)
            run_id = session.scalar(insert(table).from_select(list(values), row).returning(table.c.id))
            if run_id is None:
                raise LeaseLost(f"{node} no longer holds the scheduler lease (epoch {epoch})")
            return Claim(run_id, RunStatus(values["status"]))
    except IntegrityError:
        return None  # someone claimed this scheduled time first


def enqueue(
    runtime: Runtime,
    job_id: str,
    *,
    source: TriggerSource,
    actor: Actor | None = None,
    attempt: int = 1,
    retry_of: int | None = None,
    not_before: datetime | None = None,
    session: Session | None = None,
    enforce_max_instances: bool = True,
    node: str | None = None,
) -> Run:
    """Queue a run for whichever scheduler is active (manual, retry, dependency).

    Raises JobNotFound, and RunConflict (409) when max_instances would be exceeded.
    """

    def _do(s: Session) -> Run:
        now = clock.now()
        job = lock_job(s, job_id) if enforce_max_instances else s.get(Job, job_id)
        if job is None:
            raise JobNotFound(job_id)
        if actor is not None:  # a person's run now; retries and dependency runs have no actor
            jobs.require_may_act(job.kind, actor, "run", job_id)
        if enforce_max_instances:
            active = _active_count(s, job_id, now)
            if active >= job.max_instances:
                raise RunConflict(
                    f"job {job_id!r} is already running ({active} of max_instances {job.max_instances})",
                    key="run_max_instances",
                    params={"id": job_id, "active": active, "max": job.max_instances},
                )
        run = _add_run(
            s,
            job,
            source,
            RunStatus.QUEUED,
            not_before=not_before,
            attempt=attempt,
            retry_of=retry_of,
            triggered_by=actor.name if actor else None,
            node=node,
        )
        if actor is not None:
            audit.record(s, actor, "job.run", "job", job_id, {"run_id": run.id})
        return run

    if session is not None:
        return _do(session)
    with runtime.db.begin() as s:
        run = _do(s)
    runtime.changed()
    return run


def record_skipped(session: Session, job: Job, reason: str, *, source: TriggerSource) -> Run:
    """A run that did not happen, with why (``skipped``, finished at once; the alerts read it)."""
    return _add_run(session, job, source, RunStatus.SKIPPED, finished_at=clock.now(), error_message=reason)


def _add_run(session: Session, job: Job, source: TriggerSource, status: RunStatus, **fields: Any) -> Run:
    """A new run of ``job`` (created now, no log yet), flushed so it has its id."""
    values: dict[str, Any] = {"attempt": 1, **fields}
    run = Run(
        job_id=job.id,
        job_name=job.name,
        trigger_source=source.value,
        status=status.value,
        created_at=clock.now(),
        log="",
        log_start=0,
        **values,
    )
    session.add(run)
    session.flush()
    return run


def take_queued(runtime: Runtime, node: str, limit: int = 50, *, epoch: int | None = None) -> list[int]:
    """Claim queued runs nobody owns whose time has come; returns their ids. With ``epoch``, only
    while ``node`` holds the lease under it (see :func:`claim_scheduled`)."""
    now = clock.now()
    with runtime.db.read() as session:
        ids = list(
            session.scalars(
                select(Run.id)
                .where(
                    Run.status == RunStatus.QUEUED.value,
                    Run.node.is_(None),
                    or_(Run.not_before.is_(None), Run.not_before <= now),
                )
                .order_by(Run.id)
                .limit(limit)
            )
        )
    taken = []
    for run_id in ids:
        with runtime.db.begin() as session:
            conditions = [Run.id == run_id, Run.status == RunStatus.QUEUED.value, Run.node.is_(None)]
            if epoch is not None:
                conditions.append(fencing.fence(session, node, epoch))
            taken_here = changed_rows(session, update(Run).where(*conditions).values(node=node))
            if taken_here == 1:
                taken.append(run_id)
    return taken


def start(
    runtime: Runtime, run_id: int, node: str, pid: int | None = None, *, epoch: int | None = None
) -> bool:
    """queued → running. False when the run was cancelled (or taken) meanwhile, or — given
    ``epoch`` — when ``node`` no longer holds the lease under it (the run stays queued, to be
    released by the next leader)."""
    with runtime.db.begin() as session:
        conditions = [Run.id == run_id, Run.status == RunStatus.QUEUED.value]
        if epoch is not None:
            conditions.append(fencing.fence(session, node, epoch))
        started = changed_rows(
            session,
            update(Run)
            .where(*conditions)
            .values(status=RunStatus.RUNNING.value, started_at=clock.now(), node=node, pid=pid),
        )
        return started == 1


def set_pid(runtime: Runtime, run_id: int, pid: int) -> None:
    with runtime.db.begin() as session:
        session.execute(update(Run).where(Run.id == run_id).values(pid=pid))


def save_log(runtime: Runtime, run_id: int, text: str, start: int) -> None:
    with runtime.db.begin() as session:
        session.execute(update(Run).where(Run.id == run_id).values(log=text, log_start=start))


def cancel_requested(runtime: Runtime, run_id: int) -> bool:
    with runtime.db.read() as session:
        return bool(session.scalar(select(Run.cancel_requested).where(Run.id == run_id)))


def finish(
    runtime: Runtime,
    run_id: int,
    status: RunStatus,
    *,
    return_value: str | None = None,
    error_message: str | None = None,
    traceback: str | None = None,
    log_text: str | None = None,
    log_start: int | None = None,
    from_status: RunStatus = RunStatus.RUNNING,
) -> Run | None:
    """running → a final status, then queue a retry when the policy asks. None if it had ended already."""
    now = clock.now()
    with runtime.db.begin() as session:
        run = session.get(Run, run_id)
        if run is None or run.status != from_status.value:
            return None
        values: dict[str, Any] = {
            "status": status.value,
            "finished_at": now,
            "error_message": error_message,
            "traceback": traceback,
        }
        if return_value is not None:
            values["return_value"] = return_value[: defaults.RETURN_VALUE_MAX_CHARS]
        if log_text is not None:
            values["log"], values["log_start"] = log_text, log_start or 0
        if run.started_at is not None:
            values["duration_seconds"] = round((now - run.started_at).total_seconds(), 3)
        ended = changed_rows(
            session, update(Run).where(Run.id == run_id, Run.status == from_status.value).values(**values)
        )
        if ended != 1:
            return None
        session.refresh(run)
        _maybe_retry(runtime, session, run)
    runtime.changed()
    return run


def _maybe_retry(runtime: Runtime, session: Session, run: Run) -> None:
    if run.status not in RETRYABLE_STATUSES:
        return
    job = session.get(Job, run.job_id)
    if job is None or run.attempt > job.max_retries:
        return
    delay = job.retry_delay_seconds * (2 ** (run.attempt - 1))
    enqueue(
        runtime,
        job.id,
        source=TriggerSource.RETRY,
        attempt=run.attempt + 1,
        retry_of=run.id,
        not_before=clock.now() + timedelta(seconds=delay),
        session=session,
        enforce_max_instances=False,
    )
    log.info(
        "retry of run %s queued in %s s",
        run.id,
        delay,
        extra={"job_id": job.id, "run_id": run.id, "attempt": run.attempt + 1},
    )


def cancel(runtime: Runtime, run_id: int, actor: Actor) -> Run:
    """A queued run ends now; a running one is asked to stop (its runner kills it).

    Both are conditional UPDATEs whose changed rows are counted, so a cancel that
    races with the run's start asks the started run to stop instead of being
    reported and never set. Raises RunNotFound, and RunConflict for a run that ended.
    """
    with runtime.db.begin() as session:
        job_id = session.scalar(select(Run.job_id).where(Run.id == run_id))
        if job_id is None:
            raise RunNotFound(run_id)
        kind = session.scalar(select(Job.kind).where(Job.id == job_id))  # None: the job was deleted
        jobs.require_may_act(kind, actor, "cancel", job_id)
        cancelled = changed_rows(
            session,
            update(Run)
            .where(Run.id == run_id, Run.status == RunStatus.QUEUED.value)
            .values(
                status=RunStatus.CANCELLED.value,
                finished_at=clock.now(),
                error_message=f"cancelled by {actor.name} before it started",
            ),
        )
        if cancelled != 1:
            asked = changed_rows(
                session,
                update(Run)
                .where(Run.id == run_id, Run.status == RunStatus.RUNNING.value)
                .values(cancel_requested=True),
            )
            if asked != 1:
                status = session.scalar(select(Run.status).where(Run.id == run_id))
                raise RunConflict(
                    f"run {run_id} has already ended ({status})",
                    key="run_ended",
                    params={"run": run_id, "status": status},
                )
        audit.record(session, actor, "run.cancel", "run", str(run_id), {"job_id": job_id})
    runtime.changed()
    with runtime.db.read() as session:
        return get(session, run_id)


def get(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise RunNotFound(run_id)
    return run


def parse_when(value: str | None, field: str, *, zone: ZoneInfo | None = None) -> datetime | None:
    """An ISO 8601 time; without an offset it is a wall time in ``zone``, or a 400 when none is given."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{field}: expected an ISO 8601 date-time, got {value!r}",
            field=field,
            key="when_not_iso",
            params={"field": field, "value": value},
        ) from None
    if when.tzinfo is None and zone is not None:
        return when.replace(tzinfo=zone)
    if when.tzinfo is None:
        raise InvalidInput(
            f"{field}: give a UTC offset, e.g. {value}+08:00",
            field=field,
            key="when_needs_offset",
            params={"field": field, "value": value},
        )
    return when


def page(
    session: Session,
    *,
    job_id: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[Run], int]:
    conditions = []
    if job_id:
        conditions.append(Run.job_id == job_id)
    if status:
        conditions.append(Run.status == status)
    if since:
        conditions.append(Run.created_at >= since)
    if until:
        conditions.append(Run.created_at < until)
    return paginate(session, select(Run).where(*conditions), Run.id.desc(), page=page, per_page=per_page)


def to_dict(run: Run, timezone: str, *, with_log: bool = False, offset: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": run.id,
        "run_id": run.id,
        "job_id": run.job_id,
        "job_name": run.job_name,
        "trigger_source": run.trigger_source,
        "scheduled_time": clock.local_text(run.scheduled_time, timezone),
        "scheduled_at": clock.iso(run.scheduled_time),
        # Fire times coalesced into this run (not counting its own), and the first of them.
        "coalesced": run.coalesced or 0,
        "coalesced_from": clock.iso(run.coalesced_from),
        "created_at": clock.iso(run.created_at),
        "started_at": clock.iso(run.started_at),
        "finished_at": clock.iso(run.finished_at),
        "duration_seconds": run.duration_seconds,
        "status": run.status,
        "attempt": run.attempt,
        "retry_of": run.retry_of,
        "return_value": run.return_value,
        "error_message": run.error_message,
        "node": run.node,
        "triggered_by": run.triggered_by,
        "cancel_requested": run.cancel_requested,
        "partial": run.partial,
        "display_status": "partial" if run.partial and run.status == RunStatus.SUCCESS.value else run.status,
    }
    if with_log:
        data["traceback"] = run.traceback
        text, start = run.log or "", run.log_start or 0
        if offset is not None:
            skip = max(0, offset - start)
            data["log"] = text[skip:]
            data["log_offset"] = start + skip
        else:
            data["log"] = text
            data["log_offset"] = start
        data["next_offset"] = start + len(text)
        data["log_truncated"] = start > 0
    return data


def release(runtime: Runtime, run_id: int) -> None:
    """Give a queued run back to whichever scheduler takes queued runs next."""
    with runtime.db.begin() as session:
        session.execute(
            update(Run).where(Run.id == run_id, Run.status == RunStatus.QUEUED.value).values(node=None)
        )


def mark_partial(runtime: Runtime, run_id: int) -> None:
    """Flag a run whose fleet task succeeded for some instances and failed for others."""
    with runtime.db.begin() as session:
        session.execute(update(Run).where(Run.id == run_id).values(partial=True))
