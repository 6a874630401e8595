"""The overview page's data: scheduler health, recent runs, what runs next, open windows, alerts.

Every query reads one index: runs of a period by ``ix_runs_created_at_status`` (it covers both
columns), the newest runs of one status by ``ix_runs_status_id`` (one query per status, so no
database has to sort every failure ever recorded), the next runs by ``jobs.next_run_time``'s
index, the last deliveries by their primary key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from whalefall import clock
from whalefall.i18n import reasons
from whalefall.models import AlertDelivery, Job, JobState, Run, RunStatus
from whalefall.runtime import Runtime
from whalefall.services import health, windows

DAYS = 7
GOING_LIMIT = 20
FAILURE_LIMIT = 10
NEXT_LIMIT = 20
DELIVERY_LIMIT = 10
GOING = (RunStatus.RUNNING.value, RunStatus.QUEUED.value)
FAILURES = (
    RunStatus.FAILED.value,
    RunStatus.TIMEOUT.value,
    RunStatus.INTERRUPTED.value,
    RunStatus.MISSED.value,
)
#: A day's success rate is successes over the runs that ended one of these ways.
JUDGED = (RunStatus.SUCCESS.value, *FAILURES)


def _when(value: datetime | None, tz: str) -> dict[str, str | None]:
    return {"iso": clock.iso(value), "local": clock.local_text(value, tz)}


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0][:300] if (text or "").strip() else ""


def _newest(session: Session, statuses: tuple[str, ...], limit: int) -> list[Run]:
    found: list[Run] = []
    for status in statuses:
        found += session.scalars(select(Run).where(Run.status == status).order_by(Run.id.desc()).limit(limit))
    return sorted(found, key=lambda r: r.id, reverse=True)[:limit]


def _run(run: Run, tz: str) -> dict[str, Any]:
    return {
        "id": run.id,
        "job_id": run.job_id,
        "job_name": run.job_name,
        "status": run.status,
        "trigger_source": run.trigger_source,
        "attempt": run.attempt,
        "created_at": _when(run.created_at, tz),
        "started_at": _when(run.started_at, tz),
        "finished_at": _when(run.finished_at, tz),
        "duration_seconds": run.duration_seconds,
    }


def daily_success(rows: list[tuple[datetime, str]], today: datetime, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Per local day, oldest first: runs judged, successes and the rate (None on a day without runs)."""
    days = [(today - timedelta(days=DAYS - 1 - i)).date().isoformat() for i in range(DAYS)]
    counts = {day: [0, 0] for day in days}
    for created, status in rows:
        day = clock.as_utc(created).astimezone(zone).date().isoformat()
        if day in counts and status in JUDGED:
            counts[day][0] += 1
            counts[day][1] += status == RunStatus.SUCCESS.value
    return [
        {"day": day, "total": total, "success": ok, "rate": round(100 * ok / total, 1) if total else None}
        for day, (total, ok) in counts.items()
    ]


def overview(runtime: Runtime, now: datetime | None = None, lang: str | None = None) -> dict[str, Any]:
    now = now or clock.now()
    tz = runtime.settings.timezone
    zone = ZoneInfo(tz)
    status_code, scheduler = health.health(runtime, lang)
    today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    week_start = today - timedelta(days=DAYS - 1)
    with runtime.db.read() as session:
        # By an expression, as in health.stats: SQLite then reads a day of (created_at, status).
        status = func.lower(Run.status)
        by_status: dict[str, int] = dict(
            session.execute(
                select(status, func.count())
                .where(Run.created_at >= now - timedelta(hours=24))
                .group_by(status)
            ).all()
        )
        week = [
            (created, status)
            for created, status in session.execute(
                select(Run.created_at, Run.status).where(Run.created_at >= week_start.astimezone(UTC))
            )
        ]
        going = _newest(session, GOING, GOING_LIMIT)
        failures = _newest(session, FAILURES, FAILURE_LIMIT)
        upcoming = session.execute(
            select(Job.id, Job.name, Job.next_run_time, Job.timezone)
            .where(Job.next_run_time.isnot(None), Job.state == JobState.ACTIVE.value)
            .order_by(Job.next_run_time)
            .limit(NEXT_LIMIT)
        ).all()
        deliveries = list(
            session.scalars(select(AlertDelivery).order_by(AlertDelivery.id.desc()).limit(DELIVERY_LIMIT))
        )
    open_windows = windows.open_now(runtime, now)
    lease = scheduler.get("scheduler") or {}
    lease_expires = lease.get("lease_expires_at")
    beat = scheduler.get("last_heartbeat")
    return {
        "time": _when(now, tz),
        "timezone": tz,
        "health": {
            "status": scheduler["status"],
            "http_status": status_code,
            "database": scheduler.get("database"),
            "running": bool(lease.get("running")),
            "leader": lease.get("leader"),
            "last_heartbeat": _when(datetime.fromisoformat(beat) if beat else None, tz),
            "heartbeat_age_seconds": scheduler.get("heartbeat_age_seconds"),
            "lease_expires_at": _when(datetime.fromisoformat(lease_expires) if lease_expires else None, tz),
            "problems": scheduler.get("problems", []),
        },
        "runs_24h": {
            "total": sum(by_status.values()),
            **{s.value: by_status.get(s.value, 0) for s in RunStatus},
        },
        "success_by_day": daily_success(week, today, zone),
        "running": [_run(r, tz) for r in going],
        "recent_failures": [
            {**_run(r, tz), "error": _first_line(reasons.say(r.error_message, lang or reasons.WRITTEN_IN))}
            for r in failures
        ],
        "next_runs": [
            {"job_id": jid, "name": name, "next_run_time": _when(when, jtz or tz), "timezone": jtz or tz}
            for jid, name, when, jtz in upcoming
        ],
        "open_windows": [
            {
                "id": w.id,
                "name": w.name,
                "hold_runs": w.hold_runs,
                "scope": w.scope,
                "closes_at": _when(closes, tz),
            }
            for w, closes in open_windows
        ],
        "deliveries": [
            {
                "id": d.id,
                "event": d.event,
                "channel": d.channel,
                "status": d.status,
                "job_id": d.job_id,
                "run_id": d.run_id,
                "title": d.title,
                "created_at": _when(d.created_at, tz),
            }
            for d in deliveries
        ],
    }
