"""Growth and "days until full": what the size history says about the coming weeks.

Growth per day, week and month is the change of the latest daily, weekly and
monthly aggregation (``fleet_capacity``: this period's average minus the
previous one's). The forecast fits a straight line (least squares) through the
daily sizes of the last ``WINDOW_DAYS`` business days; with a disk capacity
given on the instance, the days until full are the room left (capacity minus
the latest size) over the fitted growth per day. No growth, fewer than two
days of figures or no capacity: no forecast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from whalefall.models.fleet import DatabaseSize, Instance, InstanceSize, Period, SizeAggregation

WINDOW_DAYS = 30
GROWTH_PERIODS = (Period.DAILY.value, Period.WEEKLY.value, Period.MONTHLY.value)


def slope_per_day(points: Sequence[tuple[date, int]]) -> float | None:
    """Least-squares growth in bytes per day through ``(day, bytes)``; None under two distinct days."""
    if len({d for d, _ in points}) < 2:
        return None
    origin = min(d for d, _ in points)
    xs = [(d - origin).days for d, _ in points]
    ys = [float(v) for _, v in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def days_until_full(used: int, capacity: int | None, per_day: float | None) -> float | None:
    """Days until ``used`` reaches ``capacity`` at ``per_day``; 0 when already full, None when
    there is no capacity or no growth."""
    if capacity is None or per_day is None:
        return None
    if used >= capacity:
        return 0.0
    if per_day <= 0:
        return None
    return (capacity - used) / per_day


def _growth(session: Session, instance_id: int, scope: str) -> dict[tuple[str, str], dict[str, Any]]:
    """{(database or "", period): {"change_bytes", "period_start"}} of the latest period of each kind."""
    latest = (
        select(
            SizeAggregation.database_name,
            SizeAggregation.period,
            func.max(SizeAggregation.period_start).label("start"),
        )
        .where(
            SizeAggregation.instance_id == instance_id,
            SizeAggregation.scope == scope,
            SizeAggregation.period.in_(GROWTH_PERIODS),
        )
        .group_by(SizeAggregation.database_name, SizeAggregation.period)
        .subquery()
    )
    rows = session.execute(
        select(SizeAggregation)
        .join(
            latest,
            (SizeAggregation.database_name == latest.c.database_name)
            & (SizeAggregation.period == latest.c.period)
            & (SizeAggregation.period_start == latest.c.start),
        )
        .where(SizeAggregation.instance_id == instance_id, SizeAggregation.scope == scope)
    ).scalars()
    return {
        (row.database_name, row.period): {
            "change_bytes": row.change_bytes,
            "period_start": row.period_start.isoformat(),
        }
        for row in rows
    }


def _growth_of(growth: dict[tuple[str, str], dict[str, Any]], name: str) -> dict[str, Any]:
    return {period: growth.get((name, period)) for period in GROWTH_PERIODS}


def instance_forecast(
    session: Session, instance: Instance, today: date, *, warn_days: int, databases: bool = True
) -> dict[str, Any]:
    """The instance's latest size, growth and forecast (and each database's, when ``databases``)."""
    since = today - timedelta(days=WINDOW_DAYS - 1)
    rows = session.execute(
        select(InstanceSize.collected_date, InstanceSize.total_bytes)
        .where(
            InstanceSize.instance_id == instance.id,
            InstanceSize.collected_date >= since,
            InstanceSize.collected_date <= today,
        )
        .order_by(InstanceSize.collected_date)
    ).all()
    points = [(d, int(v)) for d, v in rows]
    used = points[-1][1] if points else None
    per_day = slope_per_day(points)
    capacity = instance.disk_capacity_bytes
    days = days_until_full(used, capacity, per_day) if used is not None else None
    full_date = None
    if days is not None:
        full_date = (points[-1][0] + timedelta(days=math.floor(days))).isoformat()
    out: dict[str, Any] = {
        "instance_id": instance.id,
        "instance_name": instance.name,
        "disk_capacity_bytes": capacity,
        "used_bytes": used,
        "used_percent": round(used * 100.0 / capacity, 1) if used is not None and capacity else None,
        "size_date": points[-1][0].isoformat() if points else None,
        "samples": len(points),
        "growth_per_day_bytes": None if per_day is None else round(per_day),
        "growth": _growth_of(_growth(session, instance.id, "instance"), ""),
        "days_until_full": None if days is None else round(days, 1),
        "full_date": full_date,
        "warning": days is not None and days < warn_days,
    }
    if databases:
        out["databases"] = database_growth(session, instance.id, since, today)
    return out


def database_growth(session: Session, instance_id: int, since: date, today: date) -> list[dict[str, Any]]:
    """Each database's latest size and growth (fitted per day, and per period), largest first."""
    series: dict[str, list[tuple[date, int]]] = {}
    for name, day, size in session.execute(
        select(DatabaseSize.database_name, DatabaseSize.collected_date, DatabaseSize.size_bytes)
        .where(
            DatabaseSize.instance_id == instance_id,
            DatabaseSize.collected_date >= since,
            DatabaseSize.collected_date <= today,
        )
        .order_by(DatabaseSize.collected_date)
    ):
        series.setdefault(name, []).append((day, int(size)))
    growth = _growth(session, instance_id, "database")
    out = []
    for name, points in series.items():
        per_day = slope_per_day(points)
        out.append(
            {
                "database": name,
                "used_bytes": points[-1][1],
                "size_date": points[-1][0].isoformat(),
                "growth_per_day_bytes": None if per_day is None else round(per_day),
                "growth": _growth_of(growth, name),
            }
        )
    return sorted(out, key=lambda d: (-d["used_bytes"], d["database"]))


def fleet_forecast(
    session: Session, today: date, *, warn_days: int, instance_id: int | None = None
) -> list[dict[str, Any]]:
    """Every instance's forecast (or one's), the ones closest to full first."""
    query = select(Instance).order_by(Instance.name)
    if instance_id:
        query = query.where(Instance.id == instance_id)
    forecasts = [
        instance_forecast(session, i, today, warn_days=warn_days, databases=bool(instance_id))
        for i in session.scalars(query)
    ]
    return sorted(
        forecasts,
        key=lambda f: (f["days_until_full"] is None, f["days_until_full"] or 0, f["instance_name"]),
    )
