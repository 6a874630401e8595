"""Health and statistics, answered from the database so any process can answer them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from whalefall import clock, defaults
from whalefall.i18n import catalogue
from whalefall.models import Job, JobState, Node, Run
from whalefall.runtime import Runtime
from whalefall.sandbox.isolation import SandboxUnavailable
from whalefall.services import nodes, state


def health(runtime: Runtime, lang: str | None = None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 200 healthy/warning while a scheduler can fire, 503 otherwise.

    A scheduler can fire when this node's engine runs, or when another node holds the lease, its
    engine has started (``state.ENGINE_READY`` names it) and its node is alive (not stopped, a
    fresh heartbeat, and — on this very machine — its process exists). Before that the status is
    ``starting``; a holder that died is ``unhealthy`` at once, not when its lease expires.

    ``problems`` are said in ``lang`` (the product's language by default); a job store's own
    error is quoted as it came.
    """
    lang = lang or runtime.settings.language

    def say(key: str, **params: object) -> str:
        return catalogue.text("api", key, lang).format(**params)

    now = clock.now()
    problems: list[str] = []
    try:
        with runtime.db.read() as session:
            session.execute(text("SELECT 1"))
            states = state.all_entries(session)
        lease = nodes.current_leader(runtime)
        holder = _node(runtime, lease.holder) if lease is not None and lease.holder else None
    except SQLAlchemyError as exc:
        unavailable = say("database_unavailable")
        return 503, {
            "status": "unhealthy",
            "database": "unreachable",
            "message": unavailable,
            "problems": [unavailable, say("health_database", error=exc.__class__.__name__)],
            "time": clock.iso(now),
        }
    local = runtime.scheduler
    running = lease is not None
    status = "unhealthy"
    reason = None if running else say("health_no_scheduler")
    ready = states.get(state.ENGINE_READY)
    engine_ready = bool(lease is not None and ready is not None and ready.value == lease.holder)
    if lease is not None:
        dead = _holder_dead(runtime, lease.holder or "", holder, now, say)
        if dead is not None:
            running, reason = False, dead
        elif not engine_ready:
            running, status, reason = False, "starting", say("health_starting", node=lease.holder)
    if running and local is not None and local.leading and not local.engine.alive():
        running = False
        reason = say("health_engine_stopped")
    beat = states.get("heartbeat")
    last_beat = datetime.fromisoformat(beat.value) if beat else None
    age = (now - last_beat).total_seconds() if last_beat is not None else None
    leading_for = (now - lease.acquired_at).total_seconds() if lease and lease.acquired_at else 0
    if age is None:
        if leading_for > runtime.settings.heartbeat_warning_seconds:
            problems.append(say("health_no_heartbeat"))
    elif age > runtime.settings.heartbeat_warning_seconds:
        problems.append(
            say("health_heartbeat_late", age=int(age), limit=runtime.settings.heartbeat_warning_seconds)
        )
    problem = states.get("scheduler_problem")
    if problem and problem.value:
        problems.append(problem.value)
    sandbox = sandbox_state(runtime)
    if sandbox["problem"]:
        problems.append(say("health_sandbox_unavailable", reason=sandbox["problem"]))
    if reason is not None:
        problems.insert(0, reason)
    if running:
        status = "warning" if problems else "healthy"
    body = {
        "status": status,
        "scheduler": {
            "running": running,
            "leader": lease.holder if lease else None,
            "lease_expires_at": clock.iso(lease.expires_at) if lease else None,
            "leader_heartbeat_at": clock.iso(holder.heartbeat_at) if holder else None,
            "engine_ready": engine_ready,
            "this_node_leads": bool(local and local.leading),
        },
        "database": "ok",
        "last_heartbeat": clock.iso(last_beat),
        "heartbeat_age_seconds": round(age, 1) if age is not None else None,
        "problems": problems,
        "sandbox": sandbox,
        "time": clock.iso(now),
    }
    if not running:
        body["message"] = reason
    return (200 if running else 503), body


def _node(runtime: Runtime, node_id: str) -> Node | None:
    with runtime.db.read() as session:
        return session.get(Node, node_id)


def _holder_dead(
    runtime: Runtime, holder_id: str, holder: Node | None, now: datetime, say: Callable[..., str]
) -> str | None:
    """Why the lease's holder is dead though its lease still runs, or None while it may be alive.

    A holder without a node row is not judged (its lease alone speaks for it).
    """
    if holder is None:
        return None
    if holder.stopped_at is not None:
        return say("health_leader_stopped", node=holder_id)
    # The holder beats every NODE_BEAT_SECONDS: a shorter staleness setting must not make it flap.
    limit = max(runtime.settings.node_stale_seconds, 2 * defaults.NODE_BEAT_SECONDS)
    age = (now - holder.heartbeat_at).total_seconds()
    if age > limit:
        return say("health_leader_silent", node=holder_id, age=int(age), limit=int(limit))
    if nodes.holder_is_dead_here(holder_id):
        return say("health_leader_gone", node=holder_id)
    return None


def sandbox_state(runtime: Runtime) -> dict[str, Any]:
    """Where this process would run code and shell jobs: ``mode`` ("bwrap" or "none"),
    ``network``, and ``problem`` (why the sandbox cannot be set up here, else None)."""
    sandbox = runtime.sandbox
    problem = None
    try:
        sandbox.check()
    except SandboxUnavailable as exc:
        problem = str(exc)
    return {"mode": sandbox.mode, "network": sandbox.network, "problem": problem}


def stats(runtime: Runtime, *, upcoming: int = 10) -> dict[str, Any]:
    since = clock.now() - timedelta(hours=24)
    with runtime.db.read() as session:
        by_state = dict(session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
        # Grouped by an expression on purpose: grouped by the bare column, SQLite walks the whole
        # (status, id) index to avoid a sort instead of reading one day of (created_at, status).
        status = func.lower(Run.status)
        by_status: dict[str, int] = dict(
            session.execute(
                select(status, func.count()).where(Run.created_at >= since).group_by(status)
            ).all()
        )
        nxt = session.execute(
            select(Job.id, Job.name, Job.next_run_time, Job.timezone)
            .where(Job.next_run_time.isnot(None), Job.state == JobState.ACTIVE.value)
            .order_by(Job.next_run_time)
            .limit(upcoming)
        ).all()
    tz = runtime.settings.timezone
    return {
        "total_jobs": sum(by_state.values()),
        "active_jobs": by_state.get(JobState.ACTIVE.value, 0),
        "paused_jobs": by_state.get(JobState.PAUSED.value, 0),
        "runs_24h": {"total": sum(by_status.values()), **by_status},
        "next_executions": [
            {"job_id": jid, "name": name, "next_run_time": clock.local_text(when, jtz or tz)}
            for jid, name, when, jtz in nxt
        ],
    }
