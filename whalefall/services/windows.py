"""Maintenance windows: when alerts are silenced and, if asked, scheduled runs held.

A window is one-off (from … until) or recurring (a crontab expression for each
opening, and how long it stays open), scoped to every job, some categories or
some jobs. ``covering`` answers from a list of the open windows kept for a few
seconds, so the claim of each scheduled time asks no extra query.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from whalefall import clock
from whalefall.domain import triggers
from whalefall.domain.alertspec import WindowCreate, WindowPatch
from whalefall.errors import InvalidInput, InvalidTrigger, WindowNotFound
from whalefall.models import Job, MaintenanceWindow
from whalefall.runtime import Runtime
from whalefall.services import audit
from whalefall.services.audit import Actor

CACHE_SECONDS = 5.0
CACHE_KEY = "maintenance_windows"
_cache_lock = threading.Lock()


def get(session: Session, window_id: int) -> MaintenanceWindow:
    window = session.get(MaintenanceWindow, window_id)
    if window is None:
        raise WindowNotFound(window_id)
    return window


def list_all(session: Session) -> list[MaintenanceWindow]:
    return list(session.scalars(select(MaintenanceWindow).order_by(MaintenanceWindow.id.desc())))


def _zone_of(runtime: Runtime, window: MaintenanceWindow) -> str:
    return window.timezone or runtime.settings.timezone


def opened_at(runtime: Runtime, window: MaintenanceWindow, now: datetime) -> tuple[datetime, datetime] | None:
    """(opened, closes) when ``window`` is open at ``now``, else None."""
    if window.ended_at is not None and window.ended_at <= now:
        return None
    if window.cron:
        spec = triggers.parse_trigger(
            {"trigger_type": "cron", "cron_expression": window.cron}, timezone=_zone_of(runtime, window)
        )
        duration = timedelta(seconds=window.duration_seconds or 0)
        trigger = triggers.build_trigger(spec, _zone_of(runtime, window))
        assert trigger is not None
        opened = trigger.get_next_fire_time(None, now - duration)
        if opened is not None and opened <= now < opened + duration:
            return opened, opened + duration
        return None
    if window.starts_at and window.ends_at and window.starts_at <= now < window.ends_at:
        return window.starts_at, window.ends_at
    return None


def _open_windows(runtime: Runtime) -> list[MaintenanceWindow]:
    with _cache_lock:
        cached = runtime.caches.get(CACHE_KEY)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return list(cached[1])
    with runtime.db.read() as session:
        rows = list(session.scalars(select(MaintenanceWindow).where(MaintenanceWindow.ended_at.is_(None))))
    with _cache_lock:
        runtime.caches[CACHE_KEY] = (time.monotonic(), rows)
    return rows


def forget(runtime: Runtime) -> None:
    """Drop this process's list of windows (after a change made here)."""
    with _cache_lock:
        runtime.caches.pop(CACHE_KEY, None)


def _covers(window: MaintenanceWindow, job_id: str, category: str) -> bool:
    if window.scope == "all":
        return True
    if window.scope == "category":
        return category in (window.scope_values or [])
    return job_id in (window.scope_values or [])


def covering(
    runtime: Runtime, job_id: str, category: str, now: datetime, *, holding: bool = False
) -> MaintenanceWindow | None:
    """The open window that covers the job (one that holds runs, with ``holding``), or None."""
    candidates = [w for w in _open_windows(runtime) if w.hold_runs or not holding]
    return first_covering(runtime, candidates, job_id, category, now)


def holding_windows(runtime: Runtime) -> list[MaintenanceWindow]:
    """The windows that may hold runs (from the per-process cache): read them before a
    transaction that holds a lock, so the check inside it needs no connection of its own."""
    return [w for w in _open_windows(runtime) if w.hold_runs]


def first_covering(
    runtime: Runtime, candidates: list[MaintenanceWindow], job_id: str, category: str, now: datetime
) -> MaintenanceWindow | None:
    for window in candidates:
        if _covers(window, job_id, category) and opened_at(runtime, window, now):
            return window
    return None


def open_now(runtime: Runtime, now: datetime | None = None) -> list[tuple[MaintenanceWindow, datetime]]:
    """The windows open now, with when each closes (for the jobs page's banner)."""
    now = now or clock.now()
    found = []
    for window in _open_windows(runtime):
        span = opened_at(runtime, window, now)
        if span:
            found.append((window, span[1]))
    return found


# --- changing -----------------------------------------------------------------------------------------


def _apply(runtime: Runtime, session: Session, window: MaintenanceWindow, data: WindowPatch) -> None:
    given = data.model_fields_set
    for name in ("name", "description", "scope", "hold_runs"):
        if name in given and getattr(data, name) is not None:
            setattr(window, name, getattr(data, name))
    if "timezone" in given:
        if data.timezone:
            triggers.load_timezone(data.timezone)
        window.timezone = data.timezone or ""
    zone = triggers.load_timezone(_zone_of(runtime, window))
    if "cron" in given or "duration_minutes" in given:
        window.cron = (data.cron or "").strip() or None
        window.duration_seconds = data.duration_minutes * 60 if data.duration_minutes else None
    if "starts_at" in given or "ends_at" in given:
        window.starts_at = (
            triggers.parse_datetime(data.starts_at, zone, "starts_at") if data.starts_at else None
        )
        window.ends_at = triggers.parse_datetime(data.ends_at, zone, "ends_at") if data.ends_at else None
    if "scope_values" in given:
        window.scope_values = list(dict.fromkeys(data.scope_values or []))
    _check(runtime, session, window)


def _check(runtime: Runtime, session: Session, window: MaintenanceWindow) -> None:
    recurring = bool(window.cron or window.duration_seconds)
    one_off = bool(window.starts_at or window.ends_at)
    if recurring == one_off:
        raise InvalidInput(
            "give either starts_at and ends_at (once) or cron and duration_minutes (recurring)",
            field="starts_at",
            key="window_kind",
        )
    if recurring:
        if not window.cron or not window.duration_seconds:
            missing = "cron" if not window.cron else "duration_minutes"
            raise InvalidInput(
                f"{missing}: required", field=missing, key="required_field", params={"field": missing}
            )
        try:
            triggers.parse_trigger(
                {"trigger_type": "cron", "cron_expression": window.cron}, timezone=_zone_of(runtime, window)
            )
        except InvalidTrigger as exc:
            raise InvalidInput(exc.message, field="cron", key=exc.key, params=exc.params) from None
    else:
        if not window.starts_at or not window.ends_at:
            missing = "starts_at" if not window.starts_at else "ends_at"
            raise InvalidInput(
                f"{missing}: required", field=missing, key="required_field", params={"field": missing}
            )
        if window.ends_at <= window.starts_at:
            raise InvalidInput(
                "ends_at must be after starts_at", field="ends_at", key="window_ends_before_it_starts"
            )
    if window.scope != "all":
        if not window.scope_values:
            raise InvalidInput(
                "scope_values: name the categories or jobs", field="scope_values", key="window_scope_empty"
            )
        if window.scope == "jobs":
            known = set(session.scalars(select(Job.id).where(Job.id.in_(window.scope_values))))
            unknown = [v for v in window.scope_values if v not in known]
            if unknown:
                raise InvalidInput(
                    f"unknown job(s): {', '.join(unknown)}",
                    field="scope_values",
                    key="window_unknown_jobs",
                    params={"ids": ", ".join(unknown)},
                )


def create(runtime: Runtime, data: WindowCreate, actor: Actor) -> MaintenanceWindow:
    window = MaintenanceWindow(
        description="",
        timezone="",
        scope="all",
        scope_values=[],
        hold_runs=False,
        created_by=actor.name,
        created_at=clock.now(),
    )
    with runtime.db.begin() as session:
        with session.no_autoflush:
            _apply(runtime, session, window, data)
        session.add(window)
        session.flush()
        audit.record(session, actor, "window.create", "window", str(window.id), {"name": window.name})
    forget(runtime)
    runtime.changed()
    return window


def update(runtime: Runtime, window_id: int, data: WindowPatch, actor: Actor) -> MaintenanceWindow:
    with runtime.db.begin() as session:
        window = get(session, window_id)
        with session.no_autoflush:
            _apply(runtime, session, window, data)
        audit.record(
            session,
            actor,
            "window.update",
            "window",
            str(window_id),
            {"fields": sorted(data.model_fields_set)},
        )
    forget(runtime)
    return window


def end(runtime: Runtime, window_id: int, actor: Actor) -> MaintenanceWindow:
    """End a window now (early): alerts and runs go on as usual from this moment."""
    with runtime.db.begin() as session:
        window = get(session, window_id)
        if window.ended_at is None:
            window.ended_at = clock.now()
            audit.record(session, actor, "window.end", "window", str(window_id), {"name": window.name})
    forget(runtime)
    return window


def delete(runtime: Runtime, window_id: int, actor: Actor) -> None:
    with runtime.db.begin() as session:
        window = get(session, window_id)
        session.delete(window)
        audit.record(session, actor, "window.delete", "window", str(window_id), {"name": window.name})
    forget(runtime)


def to_dict(runtime: Runtime, window: MaintenanceWindow, now: datetime | None = None) -> dict[str, Any]:
    now = now or clock.now()
    tz = _zone_of(runtime, window)
    span = opened_at(runtime, window, now)
    return {
        "id": window.id,
        "name": window.name,
        "description": window.description,
        "kind": "recurring" if window.cron else "once",
        "starts_at": clock.local_text(window.starts_at, tz),
        "ends_at": clock.local_text(window.ends_at, tz),
        "cron": window.cron,
        "duration_minutes": (window.duration_seconds or 0) // 60 or None,
        "timezone": tz,
        "scope": window.scope,
        "scope_values": window.scope_values,
        "hold_runs": window.hold_runs,
        "open": span is not None,
        "closes_at": clock.local_text(span[1], tz) if span else None,
        "ended_at": clock.iso(window.ended_at),
        "created_by": window.created_by,
        "created_at": clock.iso(window.created_at),
    }
