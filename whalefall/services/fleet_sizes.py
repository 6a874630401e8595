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

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from whalefall import clock
from whalefall.fleet.base import DatabaseSize as MeasuredSize
from whalefall.models.fleet import DatabaseInventory, DatabaseSize, InstanceSize
from whalefall.runtime import Runtime
from whalefall.services.query import contains, paginate


def business_date(runtime: Runtime, when: datetime | None = None) -> date:
    return (when or clock.now()).astimezone(ZoneInfo(runtime.settings.timezone)).date()


def store(runtime: Runtime, instance_id: int, sizes: list[MeasuredSize], day: date) -> dict[str, int]:
    """Replace ``day``'s sizes of one instance and update its inventory, in one transaction.

    A database listed without a size (the login may not measure it) stays in the
    inventory — it is not gone — but has no size row and is not in the total.
    """
    now = clock.now()
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
                collected_at=now,
            )
            for name, size in by_name.items()
        )
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


def inventory_to_dict(row: DatabaseInventory) -> dict[str, Any]:
    return {
        "name": row.database_name,
        "size_bytes": row.last_size_bytes,
        "first_seen": row.first_seen_date.isoformat(),
        "last_seen": row.last_seen_date.isoformat(),
        "is_gone": row.is_gone,
        "gone_date": row.gone_date.isoformat() if row.gone_date else None,
    }
