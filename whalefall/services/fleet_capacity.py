"""Size statistics: daily, weekly (Monday–Sunday), monthly and quarterly aggregations, and the
series and rankings the capacity charts read.

For a business day D, each period is the one containing D: the day itself,
its Monday–Sunday week, its month, its quarter. Average, maximum, minimum and
sample count come from the daily size rows inside the period; the change is
this period's average minus the previous period's. Recomputing a period
replaces it, so the task can run any number of times.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from whalefall import clock
from whalefall.models.fleet import DatabaseSize, Instance, InstanceSize, Period, SizeAggregation
from whalefall.runtime import Runtime

PERIODS = tuple(p.value for p in Period)


def period_bounds(period: str, day: date) -> tuple[date, date]:
    """First and last day of the ``period`` that contains ``day``."""
    if period == Period.DAILY:
        return day, day
    if period == Period.WEEKLY:
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    if period == Period.MONTHLY:
        start = day.replace(day=1)
    elif period == Period.QUARTERLY:
        start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    else:
        raise ValueError(f"unknown period {period!r}")
    months = 1 if period == Period.MONTHLY else 3
    year, month = divmod(start.month - 1 + months, 12)
    return start, date(start.year + year, month + 1, 1) - timedelta(days=1)


def previous_bounds(period: str, day: date) -> tuple[date, date]:
    start, _ = period_bounds(period, day)
    return period_bounds(period, start - timedelta(days=1))


def _stats(
    session: Session, instance_id: int, start: date, end: date, *, per_database: bool
) -> dict[str, tuple[float, int, int, int]]:
    """{database or "": (avg, max, min, count)} over the daily rows of ``start``..``end``."""
    model: type[DatabaseSize] | type[InstanceSize]
    if per_database:
        model, size, key = DatabaseSize, DatabaseSize.size_bytes, DatabaseSize.database_name
    else:
        model, size, key = InstanceSize, InstanceSize.total_bytes, None
    columns = [func.avg(size), func.max(size), func.min(size), func.count()]
    query = select(*([key] if key is not None else []), *columns).where(
        model.instance_id == instance_id, model.collected_date >= start, model.collected_date <= end
    )
    if key is not None:
        return {row[0]: _figures(row) for row in session.execute(query.group_by(key))}
    row = session.execute(query).one()
    return {"": _figures(row)} if row[3] else {}


def _figures(row: Sequence[Any]) -> tuple[float, int, int, int]:
    """The row's last four columns: AVG (a Decimal on PostgreSQL and MariaDB), MAX, MIN, COUNT."""
    avg, high, low, count = row[-4:]
    return float(avg), int(high), int(low), int(count)


def aggregate(
    runtime: Runtime, instance_id: int, day: date, periods: tuple[str, ...] = PERIODS
) -> dict[str, int]:
    """(Re)compute the periods containing ``day`` for one instance, in one transaction; returns counts."""
    now = clock.now()
    counts = {"periods": 0, "database_rows": 0, "instance_rows": 0}
    with runtime.db.begin() as session:
        for period in periods:
            start, end = period_bounds(period, day)
            prev_start, prev_end = previous_bounds(period, day)
            session.execute(
                delete(SizeAggregation).where(
                    SizeAggregation.instance_id == instance_id,
                    SizeAggregation.period == period,
                    SizeAggregation.period_start == start,
                )
            )
            for scope, per_database in (("database", True), ("instance", False)):
                current = _stats(session, instance_id, start, end, per_database=per_database)
                previous = _stats(session, instance_id, prev_start, prev_end, per_database=per_database)
                for name, (avg, high, low, count) in current.items():
                    avg_bytes = round(avg)
                    prev_avg = round(previous[name][0]) if name in previous else None
                    change = None if prev_avg is None else avg_bytes - prev_avg
                    session.add(
                        SizeAggregation(
                            instance_id=instance_id,
                            scope=scope,
                            database_name=name,
                            period=period,
                            period_start=start,
                            period_end=end,
                            avg_bytes=avg_bytes,
                            max_bytes=high,
                            min_bytes=low,
                            sample_count=count,
                            previous_avg_bytes=prev_avg,
                            change_bytes=change,
                            change_percent=round(change * 100.0 / prev_avg, 2)
                            if change is not None and prev_avg
                            else None,
                            calculated_at=now,
                        )
                    )
                    counts[f"{scope}_rows"] += 1
            counts["periods"] += 1
    return counts


# --- reading -----------------------------------------------------------------------------


def point(row: SizeAggregation) -> dict[str, Any]:
    return {
        "period_start": row.period_start.isoformat(),
        "period_end": row.period_end.isoformat(),
        "avg_bytes": row.avg_bytes,
        "max_bytes": row.max_bytes,
        "min_bytes": row.min_bytes,
        "sample_count": row.sample_count,
        "change_bytes": row.change_bytes,
        "change_percent": row.change_percent,
    }


def series(
    session: Session,
    *,
    period: str,
    instance_id: int | None = None,
    database: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> list[dict[str, Any]]:
    """One series per instance (no ``database``) or for one database, points oldest first."""
    query = (
        select(SizeAggregation, Instance.name)
        .join(Instance, Instance.id == SizeAggregation.instance_id)
        .where(
            SizeAggregation.period == period,
            SizeAggregation.scope == ("database" if database else "instance"),
        )
    )
    if instance_id:
        query = query.where(SizeAggregation.instance_id == instance_id)
    if database:
        query = query.where(SizeAggregation.database_name == database)
    if start:
        query = query.where(SizeAggregation.period_start >= start)
    if end:
        query = query.where(SizeAggregation.period_start <= end)
    out: dict[tuple[int, str], dict[str, Any]] = {}
    for row, name in session.execute(
        query.order_by(SizeAggregation.instance_id, SizeAggregation.period_start)
    ):
        entry = out.setdefault(
            (row.instance_id, row.database_name),
            {
                "instance_id": row.instance_id,
                "instance_name": name,
                "database": row.database_name or None,
                "points": [],
            },
        )
        entry["points"].append(point(row))
    return list(out.values())


def rankings(
    session: Session, *, period: str, instance_id: int | None = None, limit: int = 10
) -> dict[str, Any]:
    """The largest and the fastest-growing databases in the latest ``period`` that has figures."""
    base = (
        select(SizeAggregation, Instance.name)
        .join(Instance, Instance.id == SizeAggregation.instance_id)
        .where(SizeAggregation.period == period, SizeAggregation.scope == "database")
    )
    if instance_id:
        base = base.where(SizeAggregation.instance_id == instance_id)
    latest = session.scalar(
        select(func.max(SizeAggregation.period_start)).where(
            SizeAggregation.period == period,
            SizeAggregation.scope == "database",
            *([SizeAggregation.instance_id == instance_id] if instance_id else []),
        )
    )
    if latest is None or limit == 0:
        return {"period_start": None, "largest": [], "fastest_growing": []}
    base = base.where(SizeAggregation.period_start == latest)

    def entries(query: Select[SizeAggregation, str]) -> list[dict[str, Any]]:
        return [
            {
                "instance_id": row.instance_id,
                "instance_name": name,
                "database": row.database_name,
                **point(row),
            }
            for row, name in session.execute(query.limit(limit))
        ]

    return {
        "period_start": latest.isoformat(),
        "largest": entries(base.order_by(SizeAggregation.avg_bytes.desc())),
        "fastest_growing": entries(
            base.where(SizeAggregation.change_bytes > 0).order_by(SizeAggregation.change_bytes.desc())
        ),
    }


SERIES_CSV_COLUMNS = (
    "instance_id",
    "instance",
    "database",
    "period_start",
    "period_end",
    "avg_bytes",
    "max_bytes",
    "min_bytes",
    "sample_count",
    "change_bytes",
    "change_percent",
)


def csv_rows(series_list: list[dict[str, Any]]) -> list[list[Any]]:
    """The series of :func:`series` as CSV rows (header first), one per point."""
    out: list[list[Any]] = [list(SERIES_CSV_COLUMNS)]
    for entry in series_list:
        for p in entry["points"]:
            out.append(
                [entry["instance_id"], entry["instance_name"], entry["database"] or ""]
                + [p[name] for name in SERIES_CSV_COLUMNS[3:]]
            )
    return out
