"""Database sizes: one row per instance, database and business day, the instance total, and the inventory.

The business day is the date in the configured timezone (``settings.timezone``),
not the server's and not UTC: a collection at 01:30 in Shanghai belongs to
that Shanghai day. A re-run on the same day replaces that day's rows, so a
database dropped in between no longer counts in the day's total.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from whalefall import clock
from whalefall.fleet.base import DatabaseSize as MeasuredSize
from whalefall.fleet.base import TableSize as MeasuredTable
from whalefall.models.fleet import DatabaseInventory, DatabaseSize, InstanceSize, TableSize
from whalefall.runtime import Runtime
from whalefall.services.query import contains, paginate


def size_text(value: int | float | None) -> str:
    """Bytes in binary units, one decimal: ``1.5 GiB``; empty when unknown."""
    if not isinstance(value, int | float):
        return ""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""  # pragma: no cover


def business_date(runtime: Runtime, when: datetime | None = None) -> date:
    return (when or clock.now()).astimezone(ZoneInfo(runtime.settings.timezone)).date()


def store(
    runtime: Runtime,
    instance_id: int,
    sizes: list[MeasuredSize],
    day: date,
    tables: list[MeasuredTable] | None = None,
) -> dict[str, int]:
    """Replace ``day``'s sizes of one instance, its largest tables, and update its inventory, in
    one transaction.

    A database listed without a size (the login may not measure it) stays in the
    inventory — it is not gone — but has no size row and is not in the total.
    """
    now = clock.now()
    parts = {s.name: s for s in sizes}
    listed = {s.name: s.size_bytes for s in sizes}
    by_name = {name: size for name, size in listed.items() if size is not None}
    counts = {
        "databases": len(by_name),
        "total_bytes": sum(by_name.values()),
        "new": 0,
        "gone": 0,
        "back": 0,
        "unmeasured": len(listed) - len(by_name),
    }
    with runtime.db.begin() as session:
        session.execute(
            delete(DatabaseSize).where(
                DatabaseSize.instance_id == instance_id, DatabaseSize.collected_date == day
            )
        )
        session.execute(
            delete(InstanceSize).where(
                InstanceSize.instance_id == instance_id, InstanceSize.collected_date == day
            )
        )
        session.add_all(
            DatabaseSize(
                instance_id=instance_id,
                database_name=name,
                collected_date=day,
                size_bytes=size,
                data_bytes=parts[name].data_bytes,
                index_bytes=parts[name].index_bytes,
                free_bytes=parts[name].free_bytes,
                collected_at=now,
            )
            for name, size in by_name.items()
        )
        if tables is not None:
            counts["tables"] = _store_tables(session, instance_id, tables, day, now)
        session.add(
            InstanceSize(
                instance_id=instance_id,
                collected_date=day,
                total_bytes=counts["total_bytes"],
                database_count=len(by_name),
                collected_at=now,
            )
        )
        known = {
            row.database_name: row
            for row in session.scalars(
                select(DatabaseInventory).where(DatabaseInventory.instance_id == instance_id)
            )
        }
        for name, size in listed.items():
            row = known.get(name)
            if row is None:
                session.add(
                    DatabaseInventory(
                        instance_id=instance_id,
                        database_name=name,
                        first_seen_date=day,
                        last_seen_date=day,
                        last_size_bytes=size,
                        is_gone=False,
                    )
                )
                counts["new"] += 1
                continue
            if row.is_gone:
                row.is_gone, row.gone_date = False, None
                counts["back"] += 1
            row.last_seen_date = max(row.last_seen_date, day)
            if size is not None:
                row.last_size_bytes = size
        for name, row in known.items():
            if name not in listed and not row.is_gone:
                row.is_gone, row.gone_date = True, day
                counts["gone"] += 1
    return counts


def _store_tables(
    session: Session, instance_id: int, tables: list[MeasuredTable], day: date, now: datetime
) -> int:
    """Replace the instance's largest tables; each keeps the size it had at the collection before
    (an earlier day: that day's; a re-run the same day: what the first run of the day kept)."""
    before = {
        (row.database_name, row.table_name): row
        for row in session.scalars(select(TableSize).where(TableSize.instance_id == instance_id))
    }
    session.execute(delete(TableSize).where(TableSize.instance_id == instance_id))
    session.flush()
    for t in tables:
        old = before.get((t.database, t.name))
        previous_total, previous_date = None, None
        if old is not None and old.collected_date < day:
            previous_total, previous_date = old.total_bytes, old.collected_date
        elif old is not None:
            previous_total, previous_date = old.previous_total_bytes, old.previous_date
        session.add(
            TableSize(
                instance_id=instance_id,
                database_name=t.database,
                table_name=t.name,
                engine=t.engine,
                row_estimate=t.rows,
                total_bytes=t.total_bytes,
                data_bytes=t.data_bytes,
                index_bytes=t.index_bytes,
                collected_date=day,
                previous_total_bytes=previous_total,
                previous_date=previous_date,
                collected_at=now,
            )
        )
    return len(tables)


def largest_tables(
    session: Session, instance_id: int, *, database: str | None = None, limit: int = 100
) -> list[TableSize]:
    query = select(TableSize).where(TableSize.instance_id == instance_id)
    if database:
        query = query.where(TableSize.database_name == database)
    return list(
        session.scalars(
            query.order_by(TableSize.total_bytes.desc(), TableSize.database_name, TableSize.table_name).limit(
                limit
            )
        )
    )


def table_to_dict(row: TableSize) -> dict[str, Any]:
    growth = None if row.previous_total_bytes is None else row.total_bytes - row.previous_total_bytes
    return {
        "database": row.database_name,
        "table": row.table_name,
        "engine": row.engine,
        "rows": row.row_estimate,
        "total_bytes": row.total_bytes,
        "data_bytes": row.data_bytes,
        "index_bytes": row.index_bytes,
        "collected_date": row.collected_date.isoformat(),
        "previous_total_bytes": row.previous_total_bytes,
        "previous_date": row.previous_date.isoformat() if row.previous_date else None,
        "growth_bytes": growth,
    }


def inventory_page(
    session: Session,
    instance_id: int,
    *,
    q: str | None = None,
    include_gone: bool = False,
    page: int = 1,
    per_page: int = 100,
) -> tuple[list[DatabaseInventory], int]:
    query = select(DatabaseInventory).where(DatabaseInventory.instance_id == instance_id)
    if not include_gone:
        query = query.where(DatabaseInventory.is_gone.is_(False))
    if q:
        query = query.where(contains(DatabaseInventory.database_name, q))
    return paginate(
        session,
        query,
        DatabaseInventory.last_size_bytes.desc(),
        DatabaseInventory.database_name,
        page=page,
        per_page=per_page,
    )


def latest_parts(session: Session, instance_id: int) -> dict[str, DatabaseSize]:
    """Each database's size row of the instance's latest collection (its data, index, free split)."""
    latest = (
        select(func.max(DatabaseSize.collected_date))
        .where(DatabaseSize.instance_id == instance_id)
        .scalar_subquery()
    )
    rows = session.scalars(
        select(DatabaseSize).where(
            DatabaseSize.instance_id == instance_id, DatabaseSize.collected_date == latest
        )
    )
    return {row.database_name: row for row in rows}


def inventory_to_dict(row: DatabaseInventory, parts: dict[str, DatabaseSize] | None = None) -> dict[str, Any]:
    part = (parts or {}).get(row.database_name)
    return {
        "name": row.database_name,
        "size_bytes": row.last_size_bytes,
        "data_bytes": part.data_bytes if part else None,
        "index_bytes": part.index_bytes if part else None,
        "free_bytes": part.free_bytes if part else None,
        "first_seen": row.first_seen_date.isoformat(),
        "last_seen": row.last_seen_date.isoformat(),
        "is_gone": row.is_gone,
        "gone_date": row.gone_date.isoformat() if row.gone_date else None,
    }
