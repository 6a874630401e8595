"""Claims: a scheduled time becomes a run before anything executes — once.

A claim inserts the run of a (job, scheduled time) under the unique key on those two, so a second
claim (a double fire, a takeover) fails and is harmless. The scheduler claims every time one
wake-up found due in one transaction per :data:`CLAIM_CHUNK`, fenced once by the lease's epoch,
with ``max_instances`` counted under a lock on the jobs' rows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from whalefall import clock
from whalefall.i18n import reasons
from whalefall.models import (
    ACTIVE_STATUSES,
    Job,
    JobKind,
    JobState,
    Lease,
    MaintenanceWindow,
    Run,
    RunStatus,
    TriggerSource,
)
from whalefall.models.run import RETRYABLE_STATUSES
from whalefall.runtime import Runtime
from whalefall.services import fencing, windows
from whalefall.services.query import changed_rows


@dataclass(frozen=True)
class RunJob:
    """What executing a run reads of its job, read by its claim or its start. A built-in task
    needs only these (a burst of five thousand jobs is not five thousand whole rows to load); a
    code or shell job also carries its whole row in ``full`` (its source, command, credentials)."""

    id: str
    kind: str
    func_name: str | None
    params: dict[str, Any]
    timeout_seconds: int | None
    timezone: str | None
    full: Job | None = None


@dataclass(frozen=True)
class Claim:
    """What a claim produced: a run to execute, or one recorded as skipped/missed. ``job`` is
    the run's built-in job as the claim read it under its lock (None for code and shell jobs,
    whose start reads their whole row): a run that starts at once starts with it."""

    run_id: int
    status: RunStatus
    job: RunJob | None = None


def active_count(session: Session, job_id: str, now: datetime) -> int:
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
    return reasons.english("upstream_failed", upstream=upstream, status=run.status, run=run.id)


def upstream_failure(session: Session, job: Any) -> str | None:
    """Why ``job`` (a job, or a row with its ``depends_on``) must not run because an upstream's
    latest run failed, or None."""
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


@dataclass(frozen=True)
class ClaimRequest:
    """One scheduled time to claim (see :func:`claim_many`)."""

    job_id: str
    scheduled_time: datetime
    source: TriggerSource = TriggerSource.SCHEDULE
    next_run_time: datetime | None = None
    late_reason: str | None = None
    coalesced: int = 0
    coalesced_from: datetime | None = None


CLAIM_CHUNK = 500  # requests per statement batch (SQLite's bound on parameters is far above this)


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
    """Claim one scheduled time of a job: :func:`claim_many` with one request."""
    request = ClaimRequest(
        job_id, scheduled_time, source, next_run_time, late_reason, coalesced, coalesced_from
    )
    return claim_many(runtime, [request], node=node, epoch=epoch)[0]


def claim_many(
    runtime: Runtime, requests: list[ClaimRequest], *, node: str, epoch: int | None = None
) -> list[Claim | None]:
    """Claim scheduled times, in one transaction per :data:`CLAIM_CHUNK` requests; per request
    the claim, or None when that time was claimed already or the job is gone/paused.

    A request records ``missed`` when it gives a ``late_reason``, ``skipped`` when max_instances
    is reached (counting the runs this batch adds), an upstream failed or a window holds it, else
    a ``queued`` run owned by ``node``. ``coalesced`` fire times (from ``coalesced_from``) folded
    into it are recorded on it. A job's stored next run time becomes the request's
    ``next_run_time`` when one is given or the source is the schedule.

    With ``epoch`` the batch is claimed only while ``node`` holds the lease under that epoch: the
    lease row is checked once and held (shared) until the batch commits, so a takeover waits for
    the batch or the batch fails whole with ``LeaseLost``. The jobs' rows are locked before their
    active runs are counted, so ``max_instances`` holds across threads and processes.
    """
    claims: list[Claim | None] = []
    holding = windows.holding_windows(runtime)  # before the locks: it may read the database
    for i in range(0, len(requests), CLAIM_CHUNK):
        chunk = requests[i : i + CLAIM_CHUNK]
        try:
            with runtime.db.begin() as session:
                claims.extend(_claim_chunk(runtime, session, chunk, holding, node, epoch))
        except IntegrityError:
            # A time claimed between our look and our insert (only without a lease to serialise
            # claimers): claim this chunk one by one, each losing alone.
            if len(chunk) == 1:
                claims.append(None)
                continue
            for request in chunk:
                claims.extend(claim_many(runtime, [request], node=node, epoch=epoch))
    return claims


@functools.cache
def _statements(dialect: str) -> dict[str, Any]:
    """The claim's statements, built once per dialect (a claim runs at every wake-up; building
    its SQL each time cost more than running it)."""
    ids: Any = bindparam("b_ids", expanding=True)
    lease = cast(Table, Lease.__table__)
    runs = cast(Table, Run.__table__)
    c, r = _jobs.c, runs.c
    jobs = (
        select(
            c.id,
            c.name,
            c.state,
            c.max_instances,
            c.category,
            c.depends_on,
            # what a built-in run reads of its job (RunJob): a run that starts at once needs no more
            c.kind,
            c.func_name,
            c.params,
            c.timeout_seconds,
            c.timezone,
        )
        .where(c.id.in_(ids))
        .order_by(c.id)
    )
    hold: Any
    if dialect == "sqlite":
        # One writer: a no-op UPDATE of the lease row takes the database's write lock before
        # anything is counted, and checks the fence; the jobs' no-op UPDATE takes it when no lease
        # is checked.
        hold = lease.update().where(*_lease_row(dialect)).values(epoch=lease.c.epoch)
        lock = _jobs.update().where(c.id.in_(ids)).values(version=c.version)
    else:
        hold = select(lease.c.epoch).where(*_lease_row(dialect)).with_for_update(read=True)
        lock = None
        jobs = jobs.with_for_update()
    return {
        "hold": hold,
        "lock": lock,
        "jobs": jobs,
        "taken": select(r.job_id, r.scheduled_time).where(
            r.job_id.in_(ids), r.scheduled_time.in_(bindparam("b_times", expanding=True))
        ),
        "active": select(r.job_id, func.count())
        .where(
            r.job_id.in_(ids),
            r.status.in_(ACTIVE_STATUSES),
            or_(r.not_before.is_(None), r.not_before <= bindparam("b_now")),
        )
        .group_by(r.job_id),
        "insert": insert(runs).returning(r.id, sort_by_parameter_order=True),
    }


def _lease_row(dialect: str) -> list[Any]:
    """The lease row held by ``f_node`` under ``f_epoch`` and not expired (``f_now`` on SQLite)."""
    lease = cast(Table, Lease.__table__)
    return [
        lease.c.name == fencing.LEASE_NAME,
        lease.c.holder == bindparam("f_node"),
        lease.c.epoch == bindparam("f_epoch"),
        lease.c.expires_at > fencing.now_template(dialect),
    ]


def _hold_lease(session: Session, sql: dict[str, Any], dialect: str, node: str, epoch: int) -> bool:
    """Check the fence once for a batch and keep the lease row from changing until it commits:
    on SQLite a no-op UPDATE of the row (which takes the write lock), elsewhere ``SELECT … FOR SHARE``."""
    params = fencing.fence_params(dialect, node, epoch)
    if dialect == "sqlite":
        return changed_rows(session, sql["hold"], params) == 1
    return session.execute(sql["hold"], params).first() is not None


def _lock_jobs(
    session: Session, sql: dict[str, Any], job_ids: list[str], *, write_locked: bool = False
) -> dict[str, Any]:
    """What claiming needs of the jobs' rows, locked until the transaction ends (in id order, so two
    lockers never deadlock). Plain rows, not ORM objects: a burst claims thousands."""
    ordered = sorted(set(job_ids))
    if sql["lock"] is not None and not write_locked:
        session.execute(sql["lock"], {"b_ids": ordered})
    return {row.id: row for row in session.execute(sql["jobs"], {"b_ids": ordered})}


def _claim_chunk(
    runtime: Runtime,
    session: Session,
    chunk: list[ClaimRequest],
    holding: list[MaintenanceWindow],
    node: str,
    epoch: int | None,
) -> list[Claim | None]:
    now = clock.now()
    dialect = session.get_bind().dialect.name
    sql = _statements(dialect)
    if epoch is not None and not _hold_lease(session, sql, dialect, node, epoch):
        raise LeaseLost(f"{node} no longer holds the scheduler lease (epoch {epoch})")
    # On SQLite the lease's UPDATE has taken the write lock already; without a lease to check, the
    # jobs' no-op UPDATE takes it.
    jobs_by_id = _lock_jobs(session, sql, [r.job_id for r in chunk], write_locked=epoch is not None)
    found = list(jobs_by_id)
    times = list({r.scheduled_time for r in chunk})
    # A time claimed already is skipped; for one time alone the unique key says so (IntegrityError).
    taken: set[tuple[str, datetime]] = set()
    if len(chunk) > 1:
        taken = {
            (job_id, when)
            for job_id, when in session.execute(sql["taken"], {"b_ids": found, "b_times": times})
        }
    active = dict(session.execute(sql["active"], {"b_ids": found, "b_now": now}).all())
    rows: list[dict[str, Any]] = []
    placed: list[int | None] = []  # per request: its row's index in ``rows``
    next_times: dict[str, datetime | None] = {}
    for request in chunk:
        job = jobs_by_id.get(request.job_id)
        key = (request.job_id, request.scheduled_time)  # aware times hash by their instant
        if (
            job is None
            or (job.state != JobState.ACTIVE and request.source == TriggerSource.SCHEDULE)
            or key in taken
        ):
            placed.append(None)
            continue
        taken.add(key)
        if request.next_run_time is not None or request.source == TriggerSource.SCHEDULE:
            next_times[job.id] = request.next_run_time
        values = _run_row(job, request, node, epoch, now)
        reason = request.late_reason
        if reason:
            values["status"] = RunStatus.MISSED.value
        else:
            count = active.get(job.id, 0)
            held = windows.first_covering(runtime, holding, job.id, job.category, request.scheduled_time)
            if held is not None:
                reason = reasons.english("held_by_window", window=held.name)
            elif count >= job.max_instances:
                reason = reasons.english("max_instances", limit=job.max_instances, count=count)
            elif job.depends_on:
                reason = upstream_failure(session, job)
            values["status"] = RunStatus.SKIPPED.value if reason else RunStatus.QUEUED.value
            if not reason:
                active[job.id] = count + 1
        if reason:
            values.update(error_message=reason, finished_at=now, node=None)
        placed.append(len(rows))
        rows.append(values)
    ids: list[int] = []
    if rows:
        ids = list(session.scalars(sql["insert"], rows))
    if next_times:
        session.execute(
            _NEXT_RUN_TIME, [{"b_id": job_id, "b_next": when} for job_id, when in next_times.items()]
        )
    claimed: list[Claim | None] = []
    for request, at in zip(chunk, placed, strict=True):
        if at is None:
            claimed.append(None)
            continue
        status = RunStatus(rows[at]["status"])
        job = jobs_by_id[request.job_id]
        builtin = status == RunStatus.QUEUED and job.kind == JobKind.BUILTIN
        claimed.append(Claim(ids[at], status, _run_job(job) if builtin else None))
    return claimed


def _run_job(row: Any) -> RunJob:
    return RunJob(row.id, row.kind, row.func_name, row.params or {}, row.timeout_seconds, row.timezone)


_jobs = cast(Table, Job.__table__)
_NEXT_RUN_TIME = (
    _jobs.update().where(_jobs.c.id == bindparam("b_id")).values(next_run_time=bindparam("b_next"))
)


def _run_row(job: Any, request: ClaimRequest, node: str, epoch: int | None, now: datetime) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "job_name": job.name,
        "trigger_source": request.source.value,
        "scheduled_time": request.scheduled_time,
        "created_at": now,
        "node": node,
        "attempt": 1,
        "log": "",
        "log_start": 0,
        "epoch": epoch,
        "coalesced": request.coalesced,
        "coalesced_from": request.coalesced_from,
        "cancel_requested": False,
        "partial": False,
        "status": RunStatus.QUEUED.value,
        "error_message": None,
        "finished_at": None,
    }
