"""Monthly partitions of the size tables, when the product's own database is PostgreSQL.

Migration 0002 creates ``database_sizes`` and ``instance_sizes`` as tables
``PARTITION BY RANGE (collected_date)``; each month is a partition named
``<table>_pYYYYMM``. Upkeep creates this month's and next month's partitions
when missing and drops those whose whole month lies more than
``partition_retention_months`` months before the current one. Health is
``healthy``, or ``warning`` naming the missing partitions and those larger
than ``partition_warning_size_mb``. Months are business months (the
configured timezone). On SQLite and MySQL there is nothing to do: the
report says partitioning does not apply.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from whalefall import clock
from whalefall.models.fleet import PARTITIONED_TABLES
from whalefall.runtime import Runtime
from whalefall.services import state

TABLES = PARTITIONED_TABLES
STATE_KEY = "partition_health"
BOUND_RE = re.compile(r"FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)")

LIST_SQL = text("""
SELECT parent.relname, child.relname, pg_get_expr(child.relpartbound, child.oid),
       pg_total_relation_size(child.oid), GREATEST(child.reltuples, 0)::bigint
FROM pg_inherits i
JOIN pg_class parent ON parent.oid = i.inhparent
JOIN pg_class child ON child.oid = i.inhrelid
JOIN pg_partitioned_table pt ON pt.partrelid = parent.oid
WHERE parent.relname IN ('database_sizes', 'instance_sizes') AND pg_table_is_visible(parent.oid)
ORDER BY parent.relname, child.relname
""")
PARTITIONED_SQL = text("""
SELECT c.relname FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid
WHERE c.relname IN ('database_sizes', 'instance_sizes') AND pg_table_is_visible(c.oid)
""")


@dataclass
class Partition:
    table: str
    name: str
    start: str | None  # None for a DEFAULT partition
    end: str | None
    size_bytes: int
    rows_estimate: int


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, n: int) -> date:
    year, index = divmod(month.year * 12 + month.month - 1 + n, 12)
    return date(year, index + 1, 1)


def partition_name(table: str, month: date) -> str:
    return f"{table}_p{month:%Y%m}"


def applies(runtime: Runtime) -> bool:
    return runtime.db.backend == "postgresql"


def partitioned_tables(runtime: Runtime) -> list[str]:
    with runtime.db.engine.connect() as conn:
        return sorted(r[0] for r in conn.execute(PARTITIONED_SQL))


def partitions(runtime: Runtime) -> list[Partition]:
    with runtime.db.engine.connect() as conn:
        rows = conn.execute(LIST_SQL).all()
    out = []
    for table, name, bound, size, estimate in rows:
        match = BOUND_RE.search(bound or "")
        out.append(
            Partition(
                table,
                name,
                match.group(1) if match else None,
                match.group(2) if match else None,
                int(size),
                int(estimate),
            )
        )
    return out


def ensure(runtime: Runtime, months: list[date]) -> list[str]:
    """Create the partitions of ``months`` (first days) that are missing; returns the names created."""
    if not applies(runtime):
        return []
    tables = partitioned_tables(runtime)
    existing = {p.name for p in partitions(runtime)}
    created = []
    for table in tables:
        for month in months:
            name = partition_name(table, month)
            if name in existing:
                continue
            try:
                with runtime.db.engine.begin() as conn:
                    conn.execute(
                        text(
                            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} "
                            f"FOR VALUES FROM ('{month}') TO ('{add_months(month, 1)}')"
                        )
                    )
            except DBAPIError:
                # Another process created it a moment ago; anything else shows as "missing" in health.
                continue
            created.append(name)
    return created


def drop_expired(runtime: Runtime, today: date, retention_months: int) -> list[str]:
    """Drop the partitions whose month ended before ``retention_months`` months before this month."""
    if not applies(runtime):
        return []
    cutoff = add_months(month_start(today), -retention_months)
    dropped = []
    for part in partitions(runtime):
        if part.end is not None and date.fromisoformat(part.end) <= cutoff:
            with runtime.db.engine.begin() as conn:
                conn.execute(text(f'DROP TABLE IF EXISTS "{part.name}"'))
            dropped.append(part.name)
    return dropped


def health(runtime: Runtime, today: date) -> dict[str, Any]:
    """The partitions' status: healthy, warning (missing or oversized), or not_applicable."""
    backend = runtime.db.backend
    if not applies(runtime):
        return {
            "applicable": False,
            "status": "not_applicable",
            "backend": backend,
            "message": f"partitioning applies only when the product's database is PostgreSQL "
            f"(this one is {backend})",
            "partitions": [],
            "missing": [],
            "oversized": [],
        }
    parts = partitions(runtime)
    names = {p.name for p in parts}
    months = [month_start(today), add_months(month_start(today), 1)]
    tables = partitioned_tables(runtime)
    missing = [partition_name(t, m) for t in TABLES for m in months if partition_name(t, m) not in names]
    missing += [f"{t} (not partitioned)" for t in TABLES if t not in tables]
    limit = runtime.settings.partition_warning_size_mb * 1024 * 1024
    oversized = [p.name for p in parts if p.size_bytes > limit]
    status = "warning" if missing or oversized else "healthy"
    problems = ([f"missing: {', '.join(missing)}"] if missing else []) + (
        [f"over {runtime.settings.partition_warning_size_mb} MB: {', '.join(oversized)}"] if oversized else []
    )
    return {
        "applicable": True,
        "status": status,
        "backend": backend,
        "message": "; ".join(problems) or f"{len(parts)} partitions, none missing or oversized",
        "partitions": [asdict(p) for p in parts],
        "missing": missing,
        "oversized": oversized,
        "retention_months": runtime.settings.partition_retention_months,
    }


def maintain(runtime: Runtime, today: date) -> dict[str, Any]:
    """Create this and next month's partitions, drop expired ones, then report health (and keep the report)."""
    created = ensure(runtime, [month_start(today), add_months(month_start(today), 1)])
    dropped = drop_expired(runtime, today, runtime.settings.partition_retention_months)
    report = {
        **health(runtime, today),
        "created": created,
        "dropped": dropped,
        "business_date": today.isoformat(),
        "checked_at": clock.iso(clock.now()),
    }
    state.put(
        runtime,
        STATE_KEY,
        json.dumps({k: v for k, v in report.items() if k != "partitions"}, ensure_ascii=False),
    )
    return report


def last_report(runtime: Runtime) -> dict[str, Any] | None:
    value = state.get(runtime, STATE_KEY)
    return json.loads(value) if value else None
