"""Runs: claimed before they execute (``services.claims``), moved through their states by
conditional UPDATEs.

queued → running → success | failed | timeout | cancelled, written here and
nowhere else. Every transition is ``UPDATE … WHERE id = ? AND status = old``
and checks that one row changed, so it is safe across processes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from whalefall import clock, defaults
from whalefall.errors import InvalidInput, JobNotFound, RunConflict, RunNotFound
from whalefall.i18n import reasons
from whalefall.models import (
    Job,
    JobKind,
    Run,
    RunStatus,
    TriggerSource,
)
from whalefall.models.run import RETRYABLE_STATUSES
from whalefall.runtime import Runtime
from whalefall.services import audit, claims, fencing, jobs
from whalefall.services.audit import Actor
from whalefall.services.query import changed_rows, paginate

log = logging.getLogger(__name__)


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
        job = claims.lock_job(s, job_id) if enforce_max_instances else s.get(Job, job_id)
        if job is None:
            raise JobNotFound(job_id)
        if actor is not None:  # a person's run now; retries and dependency runs have no actor
            jobs.require_may_act(job.kind, actor, "run", job_id)
        if enforce_max_instances:
            active = claims.active_count(s, job_id, now)
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


def cancel_requested(runtime: Runtime, run_id: int) -> bool:
    return run_id in cancels_requested(runtime, [run_id])


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


@dataclass(frozen=True)
class Ending:
    """A run's outcome, to write with others (:func:`record`)."""

    run_id: int
    status: RunStatus
    return_value: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    log_text: str | None = None
    log_start: int | None = None
    started_at: datetime | None = None  # for the duration; read from the row when not given


@dataclass
class Recorded:
    """What :func:`record` wrote: the runs it started (with their jobs) and the runs it ended."""

    started: list[tuple[RunStart, claims.RunJob]]
    ended: list[tuple[int, str, RunStatus]]  # run id, job id, status


_runs = cast(Table, Run.__table__)
_job_table = cast(Table, Job.__table__)
_END = (
    _runs.update()
    .where(_runs.c.id == bindparam("b_id"), _runs.c.status == RunStatus.RUNNING.value)
    .values(
        status=bindparam("b_status"),
        finished_at=bindparam("b_at"),
        error_message=bindparam("b_error"),
        traceback=bindparam("b_traceback"),
        return_value=bindparam("b_value"),
        log=func.coalesce(bindparam("b_log"), _runs.c.log),
        log_start=func.coalesce(bindparam("b_log_start"), _runs.c.log_start),
        duration_seconds=bindparam("b_duration"),
    )
)
_ENDED = select(_runs.c.id, _runs.c.job_id, _runs.c.status).where(
    _runs.c.id.in_(bindparam("b_ids", expanding=True)), _runs.c.finished_at == bindparam("b_now")
)
_CODE_VERSION = (
    _runs.update().where(_runs.c.id == bindparam("b_id")).values(code_version=bindparam("b_version"))
)
_LOG = (
    _runs.update()
    .where(_runs.c.id == bindparam("b_id"), _runs.c.status == RunStatus.RUNNING.value)
    .values(log=bindparam("b_log"), log_start=bindparam("b_log_start"))
)


def record(
    runtime: Runtime,
    node: str,
    *,
    starts: Sequence[int] = (),
    endings: Sequence[Ending] = (),
    logs: dict[int, tuple[str, int]] | None = None,
    epoch: int | None = None,
    jobs: dict[str, Job] | None = None,
    known: dict[int, claims.RunJob] | None = None,
) -> Recorded:
    """The runner's writes of a moment, in one transaction: logs of running runs, outcomes
    (running → final, then a retry queued when the policy asks), and starts (queued → running,
    fenced by ``epoch`` as :func:`start` is). Each transition is conditional on the status it
    leaves, as everywhere: a run cancelled meanwhile is not started, one ended elsewhere is not
    ended again. ``jobs`` is the caller's cache of job rows, kept fresh by their version;
    ``known`` the built-in jobs of runs that their claim read a moment ago (they are not read again). One commit for many runs is what lets the embedded SQLite keep up with a
    thousand runs a second; the single-run functions below say the same for one run.
    """
    now = clock.now()
    started: list[tuple[RunStart, claims.RunJob]] = []
    ended: list[tuple[int, str, RunStatus]] = []
    retried = False
    with runtime.db.begin() as session:
        if logs:
            session.execute(
                _LOG,
                [{"b_id": run_id, "b_log": text, "b_log_start": at} for run_id, (text, at) in logs.items()],
            )
        if endings:
            ended, retried = _end_many(runtime, session, endings, now)
        if starts:
            started = _start_many(
                session, list(starts), node, epoch, now, jobs if jobs is not None else {}, known or {}
            )
    if retried:  # the scheduler takes queued runs (a retry) when woken; an outcome alone needs nothing
        runtime.changed()
    return Recorded(started, ended)


@dataclass(frozen=True)
class RunStart:
    """What executing a run needs of its row, as its start left it."""

    id: int
    job_id: str
    attempt: int
    trigger_source: str
    scheduled_time: datetime | None
    started_at: datetime | None


def _end_params(e: Ending, now: datetime, began: datetime | None) -> dict[str, Any]:
    value = e.return_value
    return {
        "b_id": e.run_id,
        "b_status": e.status.value,
        "b_at": now,
        "b_error": e.error_message,
        "b_traceback": e.traceback,
        "b_value": None if value is None else value[: defaults.RETURN_VALUE_MAX_CHARS],
        "b_log": e.log_text,
        "b_log_start": None if e.log_text is None else (e.log_start or 0),
        "b_duration": round((now - began).total_seconds(), 3) if began is not None else None,
    }


def _end_many(
    runtime: Runtime, session: Session, endings: Sequence[Ending], now: datetime
) -> tuple[list[tuple[int, str, RunStatus]], bool]:
    """running → final for each, in one statement batch; the runs it ended (a run that was no
    longer running is left alone), and whether a retry was queued (for failures the policy
    retries)."""
    ids = [e.run_id for e in endings]
    unknown = [e.run_id for e in endings if e.started_at is None]
    began: dict[int, datetime] = {}
    if unknown:
        began = dict(
            session.execute(select(_runs.c.id, _runs.c.started_at).where(_runs.c.id.in_(unknown))).all()
        )
    session.execute(_END, [_end_params(e, now, e.started_at or began.get(e.run_id)) for e in endings])
    # The rows this batch ended carry its finish time (a run ended elsewhere carries another).
    rows = session.execute(_ENDED, {"b_ids": ids, "b_now": now}).all()
    wanted = {e.run_id: e.status.value for e in endings}
    ended = [
        (run_id, job_id, RunStatus(status)) for run_id, job_id, status in rows if wanted[run_id] == status
    ]
    retried = False
    for run_id, _, status in ended:
        if status.value in RETRYABLE_STATUSES:
            run = session.get(Run, run_id)
            if run is not None:
                retried |= _maybe_retry(runtime, session, run)
    return ended, retried


@functools.cache
def _start_statements(dialect: str, fenced: bool) -> tuple[Any, Any, Any]:
    """queued → running for a list of runs (fenced or not), the read of those it started (with
    their jobs), and the same UPDATE returning the runs it started: built once per dialect, as a
    thousand runs a second start through them."""
    c, j = _runs.c, _job_table.c  # the tables, not the mapped classes: no ORM work per start
    ids: Any = bindparam("b_ids", expanding=True)
    where: list[Any] = [c.id.in_(ids), c.status == RunStatus.QUEUED.value]
    if fenced:
        where.append(fencing.fence_template(dialect))
    start = (
        _runs.update()
        .where(*where)
        .values(status=RunStatus.RUNNING.value, started_at=bindparam("b_now"), node=bindparam("b_node"))
    )
    started = (
        select(
            c.id,
            c.job_id,
            c.attempt,
            c.trigger_source,
            c.scheduled_time,
            c.started_at,
            j.version,
            j.kind,
            j.func_name,
            j.params,
            j.timeout_seconds,
            j.timezone,
        )
        .outerjoin(_job_table, j.id == c.job_id)
        .where(
            c.id.in_(ids),
            c.status == RunStatus.RUNNING.value,
            c.node == bindparam("b_node"),
            c.started_at == bindparam("b_now"),
        )
    )
    returning = start.returning(c.id, c.job_id, c.attempt, c.trigger_source, c.scheduled_time, c.started_at)
    return start, started, returning


def _start_many(
    session: Session,
    starts: list[int],
    node: str,
    epoch: int | None,
    now: datetime,
    cache: dict[str, Job],
    known: dict[int, claims.RunJob],
) -> list[tuple[RunStart, claims.RunJob]]:
    """queued → running (fenced by ``epoch``); the runs started, with what they read of their jobs.
    A code or shell job's whole row is read again only when it changed (its version) since
    ``cache`` last held it. When every run's job is ``known`` (claimed a moment ago) and the
    database returns what an UPDATE changed, the start is that one statement."""
    bind = session.get_bind()
    dialect = bind.dialect.name
    start, started_rows, returning = _start_statements(dialect, epoch is not None)
    params: dict[str, Any] = {"b_ids": starts, "b_now": now, "b_node": node}
    if epoch is not None:
        params.update(fencing.fence_params(dialect, node, epoch))
    if bind.dialect.update_returning and all(run_id in known for run_id in starts):
        return [(RunStart(*row), known[row.id]) for row in session.execute(returning, params)]
    session.execute(start, params)
    rows = session.execute(started_rows, {"b_ids": starts, "b_now": now, "b_node": node}).all()
    whole = {row.job_id: row.version for row in rows if row.kind in _WHOLE_ROW_KINDS}
    stale = [job_id for job_id, v in whole.items() if job_id not in cache or cache[job_id].version != v]
    if stale:
        cache.update({job.id: job for job in session.scalars(select(Job).where(Job.id.in_(stale)))})
    started = []
    code_versions = []
    for row in rows:
        run = RunStart(
            row.id, row.job_id, row.attempt, row.trigger_source, row.scheduled_time, row.started_at
        )
        if row.version is None:  # its job was deleted between the claim and now
            failed = Ending(
                row.id, RunStatus.FAILED, error_message=reasons.english("job_deleted", job=row.job_id)
            )
            session.execute(_END, _end_params(failed, now, now))
            continue
        full = cache[row.job_id] if row.kind in _WHOLE_ROW_KINDS else None
        job = claims.RunJob(
            row.job_id, row.kind, row.func_name, row.params or {}, row.timeout_seconds, row.timezone, full
        )
        started.append((run, job))
        if full is not None:
            # The version of the source it runs, read with that source, in the start's transaction.
            code_versions.append({"b_id": row.id, "b_version": full.code_version})
    if code_versions:
        session.execute(_CODE_VERSION, code_versions)
    return started


_WHOLE_ROW_KINDS = (JobKind.CODE.value, JobKind.SHELL.value)


def cancels_requested(runtime: Runtime, run_ids: list[int]) -> set[int]:
    """Which of ``run_ids`` someone asked to cancel (one read for every watched run)."""
    if not run_ids:
        return set()
    with runtime.db.read() as session:
        return set(session.scalars(select(Run.id).where(Run.id.in_(run_ids), Run.cancel_requested.is_(True))))


def _maybe_retry(runtime: Runtime, session: Session, run: Run) -> bool:
    """Queue the next attempt of a failed run when its job's policy asks; whether it did."""
    if run.status not in RETRYABLE_STATUSES:
        return False
    job = session.get(Job, run.job_id)
    if job is None or run.attempt > job.max_retries:
        return False
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
    return True


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
                error_message=reasons.english("cancelled_before_start", user=actor.name),
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


def to_dict(
    run: Run,
    timezone: str,
    *,
    with_log: bool = False,
    offset: int | None = None,
    lang: str = reasons.WRITTEN_IN,
) -> dict[str, Any]:
    """A run as the API and the console show it; the product's reasons in ``lang``."""
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
        "code_version": run.code_version,
        "coalesced_from": clock.iso(run.coalesced_from),
        "created_at": clock.iso(run.created_at),
        "started_at": clock.iso(run.started_at),
        "finished_at": clock.iso(run.finished_at),
        "duration_seconds": run.duration_seconds,
        "status": run.status,
        "attempt": run.attempt,
        "retry_of": run.retry_of,
        "return_value": run.return_value,
        "error_message": reasons.say(run.error_message, lang),
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
