"""The lease's two primitives: the database server's clock, and the fence a claim must pass.

Kept apart from ``nodes`` (which takes and renews the lease, and imports ``runs``) so that
``runs`` can fence its claims without importing ``nodes``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, bindparam, exists, literal, literal_column
from sqlalchemy.orm import Session

from whalefall import clock
from whalefall.models import Lease
from whalefall.models.base import UTCDateTime

LEASE_NAME = "scheduler"


def db_now(session: Session) -> ColumnElement[datetime]:
    """Now on the database server's clock (naive UTC, as stored), for lease decisions.

    SQLite is embedded: its clock is this process's, so it is the seam ``clock.now()``.
    """
    return db_time(session, 0)


def db_time(session: Session, seconds: int) -> ColumnElement[datetime]:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return literal_column(
            f"((now() AT TIME ZONE 'UTC') + interval '{int(seconds)} seconds')", UTCDateTime()
        )
    if dialect in ("mysql", "mariadb"):
        return literal_column(f"(UTC_TIMESTAMP(6) + INTERVAL {int(seconds)} SECOND)", UTCDateTime())
    return literal(clock.now() + timedelta(seconds=seconds), UTCDateTime())


def fence(session: Session, node_id: str, epoch: int) -> ColumnElement[bool]:
    """True in SQL while ``node_id`` holds the lease under ``epoch`` and it has not expired."""
    return exists().where(
        Lease.name == LEASE_NAME,
        Lease.holder == node_id,
        Lease.epoch == epoch,
        Lease.expires_at > db_now(session),
    )


def now_template(dialect: str) -> ColumnElement[datetime]:
    """Now on the database server's clock in a statement built once: SQL on PostgreSQL and MySQL,
    the bind parameter ``f_now`` on SQLite (:func:`fence_params` gives it)."""
    if dialect == "postgresql":
        return literal_column("(now() AT TIME ZONE 'UTC')", UTCDateTime())
    if dialect in ("mysql", "mariadb"):
        return literal_column("UTC_TIMESTAMP(6)", UTCDateTime())
    return bindparam("f_now", type_=UTCDateTime())


def fence_template(dialect: str) -> ColumnElement[bool]:
    """:func:`fence` with its values as bind parameters — ``f_node``, ``f_epoch`` and, on SQLite,
    ``f_now`` (:func:`fence_params`) — for a statement built once and run many times."""
    return exists().where(
        Lease.name == LEASE_NAME,
        Lease.holder == bindparam("f_node"),
        Lease.epoch == bindparam("f_epoch"),
        Lease.expires_at > now_template(dialect),
    )


def fence_params(dialect: str, node_id: str, epoch: int) -> dict[str, object]:
    params: dict[str, object] = {"f_node": node_id, "f_epoch": epoch}
    if dialect not in ("postgresql", "mysql", "mariadb"):
        params["f_now"] = clock.now()
    return params
