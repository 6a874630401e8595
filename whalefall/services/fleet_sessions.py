"""Fleet task sessions: work instance by instance with a bounded pool, and record each outcome.

A fleet task calls :func:`run_per_instance` with what to do for one instance.
Steps:

1. open a session with one ``pending`` row per instance (one transaction);
2. hand the instances to a pool of ``fleet_max_connections`` daemon threads
   (:func:`map_in_daemon_threads`); each marks its row ``running``, does the work, and marks it ``success`` with
   its counts and details, or ``failed`` with the error in words — one slow
   or failing instance never stops the others;
3. when cancellation is asked for, instances not yet started are marked
   ``cancelled`` and the rest finish;
4. close the session with its totals and a summary ("成功 12 个，失败 1 个").

The run fails only when every instance failed; otherwise its return value is
the summary, and the session says which ones failed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from whalefall import clock
from whalefall.errors import FleetTaskFailed
from whalefall.fleet import open_adapter
from whalefall.fleet.base import Adapter
from whalefall.fleet.errors import FleetUnreachable, SecretUnreadable, SessionNotFound
from whalefall.i18n import catalogue
from whalefall.models.fleet import Instance, SessionStatus, SyncSession, SyncSessionInstance
from whalefall.runtime import Runtime
from whalefall.services import instances as instance_service
from whalefall.services import runs as run_service
from whalefall.services.query import paginate
from whalefall.tasks.registry import TaskContext

ERROR_MAX_CHARS = 4000
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Outcome:
    """What the work on one instance reports."""

    counts: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def read_instance(
    runtime: Runtime, instance: Instance, read: Callable[[Adapter], T], *, facts: bool = False
) -> tuple[T, str]:
    """Connect to ``instance``, run ``read(adapter)``, and remember how the contact went (with the
    server's facts — version, uptime, role — when ``facts``).

    Returns what ``read`` returned and the server's version; raises
    :class:`FleetUnreachable` (in words) when the server cannot be reached or read.
    """
    told = None
    try:
        with open_adapter(instance_service.target_for(runtime, instance)) as adapter:
            version = adapter.version()
            result = read(adapter)
            if facts:
                told = instance_service.read_facts(adapter)
    except FleetUnreachable as exc:
        instance_service.record_contact(runtime, instance.id, ok=False, error=exc.message)
        raise
    instance_service.record_contact(runtime, instance.id, ok=True, version=version, facts=told)
    return result, version


def test_all(runtime: Runtime, actor: Any) -> list[dict[str, Any]]:
    """Test every active instance's connection (and read its facts) in the fleet pool; each test
    is recorded and audited as a single one is. One result per instance, by name."""
    instances = load_instances(runtime)

    def one(instance: Instance) -> dict[str, Any]:
        try:
            result = instance_service.test_connection(runtime, instance.id, actor)
        except SecretUnreadable as exc:  # a password the current key cannot decrypt: this one only
            result = {"connected": False, "error": str(exc), "version": None, "facts": None}
        return {"instance_id": instance.id, "name": instance.name, **result}

    workers = max(1, min(runtime.settings.fleet_max_connections, len(instances)))
    results = map_in_daemon_threads(one, instances, workers, name="whalefall-test-all")
    return sorted(results, key=lambda r: r["name"])


def load_instances(runtime: Runtime, instance_ids: list[int] | None = None) -> list[Instance]:
    """The active instances (of ``instance_ids`` when given), the ones a fleet task works on."""
    with runtime.db.read() as session:
        return instance_service.active(session, [int(i) for i in instance_ids or []])


def summary_text(lang: str, session_id: int, succeeded: int, failed: int, cancelled: int = 0) -> str:
    """The session's one-line result, in the product's language (the run keeps it as written)."""
    key = "fleet_summary_cancelled" if cancelled else "fleet_summary"
    return catalogue.text("task", key, lang).format(
        session=session_id, succeeded=succeeded, failed=failed, cancelled=cancelled
    )


def _open(
    runtime: Runtime, ctx: TaskContext, task: str, instances: list[Instance]
) -> tuple[int, dict[int, int]]:
    with runtime.db.begin() as session:
        sync = SyncSession(
            task=task,
            run_id=ctx.run_id or None,
            job_id=ctx.job_id,
            total=len(instances),
            status=SessionStatus.RUNNING.value,
            started_at=clock.now(),
            summary="",
        )
        session.add(sync)
        session.flush()
        rows = {}
        for instance in instances:
            row = SyncSessionInstance(
                session_id=sync.id,
                instance_id=instance.id,
                instance_name=instance.name,
                status="pending",
                counts={},
                details={},
            )
            session.add(row)
            session.flush()
            rows[instance.id] = row.id
        return sync.id, rows


def _set_row(runtime: Runtime, row_id: int, **values: Any) -> None:
    with runtime.db.begin() as session:
        row = session.get(SyncSessionInstance, row_id)
        for name, value in values.items():
            setattr(row, name, value)


def run_per_instance(
    ctx: TaskContext, task: str, instances: list[Instance], work: Callable[[Instance, int], Outcome]
) -> str:
    """Do ``work(instance, session_id)`` for each instance in the pool; return the summary.

    Raises :class:`FleetTaskFailed` when every instance failed.
    """
    runtime = ctx.runtime
    session_id, rows = _open(runtime, ctx, task, instances)
    ctx.logger.info(
        "%s: session %d over %d instance(s), %d at a time",
        task,
        session_id,
        len(instances),
        min(runtime.settings.fleet_max_connections, max(len(instances), 1)),
    )

    def one(instance: Instance) -> str:
        row_id = rows[instance.id]
        if ctx.cancel_requested():
            _set_row(runtime, row_id, status="cancelled", error="cancelled before it started")
            return "cancelled"
        started = time.monotonic()
        _set_row(runtime, row_id, status="running", started_at=clock.now())
        try:
            outcome = work(instance, session_id)
        except FleetUnreachable as exc:
            return _failed(ctx, row_id, instance, exc.message, started)
        except Exception as exc:  # the per-instance boundary: record it and let the others go on
            ctx.logger.warning("%s: unexpected error", instance.name, exc_info=True)
            return _failed(ctx, row_id, instance, f"{exc.__class__.__name__}: {exc}", started)
        _set_row(
            runtime,
            row_id,
            status="success",
            counts=outcome.counts,
            details=outcome.details,
            finished_at=clock.now(),
            duration_seconds=round(time.monotonic() - started, 3),
        )
        ctx.logger.info("%s: %s ok %s", task, instance.name, outcome.counts)
        return "success"

    workers = max(1, min(runtime.settings.fleet_max_connections, len(instances)))
    results = map_in_daemon_threads(one, instances, workers, name=f"whalefall-{task}")

    succeeded, failed, cancelled = (results.count(s) for s in ("success", "failed", "cancelled"))
    text = summary_text(runtime.settings.language, session_id, succeeded, failed, cancelled)
    if cancelled:
        status = SessionStatus.CANCELLED
    elif failed and not succeeded:
        status = SessionStatus.FAILED
    elif failed:
        status = SessionStatus.PARTIAL
    else:
        status = SessionStatus.SUCCESS
    with runtime.db.begin() as session:
        sync = session.get(SyncSession, session_id)
        sync.status, sync.succeeded, sync.failed = status.value, succeeded, failed
        sync.summary, sync.finished_at = text, clock.now()
    ctx.logger.info("%s: %s", task, text)
    if status == SessionStatus.PARTIAL:
        run_service.mark_partial(runtime, ctx.run_id)
    if status == SessionStatus.FAILED:
        raise FleetTaskFailed(text)
    return text


def map_in_daemon_threads(fn: Callable[[T], R], items: Sequence[T], workers: int, *, name: str) -> list[R]:
    """``[fn(item) for item in items]`` on up to ``workers`` threads; raises the first item's error.

    Daemon threads, unlike ``ThreadPoolExecutor``'s: the interpreter joins those at exit, so one
    blocked in a driver's connect to a silent server held a stopping process for the whole
    connect timeout. The caller still waits here for every item; only the process does not.
    """
    results: list[Any] = [None] * len(items)
    errors: list[BaseException | None] = [None] * len(items)
    pending = iter(range(len(items)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                index = next(pending, None)
            if index is None:
                return
            try:
                results[index] = fn(items[index])
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below, as pool.map does
                errors[index] = exc

    threads = [threading.Thread(target=work, name=f"{name}_{n}", daemon=True) for n in range(max(1, workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
    return results


def _failed(ctx: TaskContext, row_id: int, instance: Instance, message: str, started: float) -> str:
    message = message[:ERROR_MAX_CHARS]
    _set_row(
        ctx.runtime,
        row_id,
        status="failed",
        error=message,
        finished_at=clock.now(),
        duration_seconds=round(time.monotonic() - started, 3),
    )
    ctx.logger.warning("%s failed: %s", instance.name, message)
    return "failed"


# --- reading -----------------------------------------------------------------------------


def page(
    session: Session,
    *,
    task: str | None = None,
    status: str | None = None,
    instance_id: int | None = None,
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[SyncSession], int]:
    query = select(SyncSession)
    if task:
        query = query.where(SyncSession.task == task)
    if status:
        query = query.where(SyncSession.status == status)
    if instance_id:
        query = query.where(
            SyncSession.id.in_(
                select(SyncSessionInstance.session_id).where(SyncSessionInstance.instance_id == instance_id)
            )
        )
    return paginate(session, query, SyncSession.id.desc(), page=page, per_page=per_page)


def get(session: Session, session_id: int) -> tuple[SyncSession, list[SyncSessionInstance]]:
    sync = session.get(SyncSession, session_id)
    if sync is None:
        raise SessionNotFound(session_id)
    rows = list(
        session.scalars(
            select(SyncSessionInstance)
            .where(SyncSessionInstance.session_id == session_id)
            .order_by(SyncSessionInstance.id)
        )
    )
    return sync, rows


def for_run(session: Session, run_id: int) -> list[SyncSession]:
    """The sessions a run opened (one per fleet task run; none for other jobs)."""
    return list(
        session.scalars(select(SyncSession).where(SyncSession.run_id == run_id).order_by(SyncSession.id))
    )


def history(
    session: Session, instance_id: int, *, limit: int = 20
) -> list[tuple[SyncSessionInstance, SyncSession]]:
    """An instance's part in the latest ``limit`` sessions, newest first, each with its session."""
    query = (
        select(SyncSessionInstance, SyncSession)
        .join(SyncSession, SyncSession.id == SyncSessionInstance.session_id)
        .where(SyncSessionInstance.instance_id == instance_id)
        .order_by(SyncSessionInstance.id.desc())
        .limit(limit)
    )
    return [(row, sync) for row, sync in session.execute(query)]


def row_to_dict(row: SyncSessionInstance, timezone: str) -> dict[str, Any]:
    """One instance's part in a session."""
    return {
        "session_id": row.session_id,
        "instance_id": row.instance_id,
        "instance_name": row.instance_name,
        "status": row.status,
        "counts": row.counts,
        "error": row.error,
        "details": row.details,
        "started_at": clock.local_text(row.started_at, timezone),
        "finished_at": clock.local_text(row.finished_at, timezone),
        "duration_seconds": row.duration_seconds,
    }


def to_dict(
    sync: SyncSession, timezone: str, rows: list[SyncSessionInstance] | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": sync.id,
        "task": sync.task,
        "run_id": sync.run_id,
        "job_id": sync.job_id,
        "status": sync.status,
        "total": sync.total,
        "succeeded": sync.succeeded,
        "failed": sync.failed,
        "summary": sync.summary,
        "started_at": clock.local_text(sync.started_at, timezone),
        "finished_at": clock.local_text(sync.finished_at, timezone),
    }
    if rows is not None:
        data["instances"] = [row_to_dict(r, timezone) for r in rows]
    return data
