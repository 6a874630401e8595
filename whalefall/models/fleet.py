"""The database fleet: instances, their accounts, sizes and the sessions of fleet tasks.

Sizes are kept per business day (a date in the configured timezone). On
PostgreSQL the two size tables are range-partitioned by month on
``collected_date`` (see migration 0002 and ``services.fleet_partitions``), which
is why their primary keys include that column and nothing refers to them.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from whalefall.models.base import Base, JSONValue, UTCDateTime, utcnow

if TYPE_CHECKING:
    from alembic.runtime.environment import NameFilterParentNames, NameFilterType

# Account and database names are case-sensitive on every engine we read.
NameType = String(255).with_variant(
    mysql.VARCHAR(255, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
)
AccountKeyType = String(320).with_variant(
    mysql.VARCHAR(320, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
)
BigId = BigInteger().with_variant(Integer, "sqlite")
PARTITIONED_TABLES = ("database_sizes", "instance_sizes")
PARTITION_NAME = re.compile(r"^(database_sizes|instance_sizes)_p\d{6}$")


def include_name(name: str | None, type_: NameFilterType, parent_names: NameFilterParentNames) -> bool:
    """Alembic's ``include_name`` hook: the monthly partitions are not tables of the models."""
    return not (type_ == "table" and name is not None and PARTITION_NAME.match(name))


class DbType(StrEnum):
    MYSQL = "mysql"
    POSTGRESQL = "postgresql"
    SQLSERVER = "sqlserver"
    ORACLE = "oracle"


class ChangeType(StrEnum):
    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"


class Period(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


class SessionStatus(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"  # some instances failed
    FAILED = "failed"  # every instance failed
    CANCELLED = "cancelled"


class Instance(Base):
    __tablename__ = "instances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    db_type: Mapped[str] = mapped_column(String(16))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    database: Mapped[str] = mapped_column(String(128), default="")
    username: Mapped[str] = mapped_column(String(128))
    # Fernet token of the password (services.fleet_secrets); never leaves the server.
    password_encrypted: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The last contact (test connection or a fleet task): its outcome and what the server said.
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_contact_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_contact_error: Mapped[str | None] = mapped_column(Text)
    server_version: Mapped[str | None] = mapped_column(String(255))
    # What the server said of itself at the last collection or test: {"version", "uptime_seconds",
    # "role", "replica_lag_seconds", "at"} (fleet.base.Facts).
    server_facts: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    # The disk the instance's databases live on, given by the DBA: "days until full" needs it.
    disk_capacity_bytes: Mapped[int | None] = mapped_column(BigInteger)
    created_by: Mapped[str | None] = mapped_column(String(64))
    updated_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InstanceAccount(Base):
    """An account as last read from its instance; removed accounts are kept, flagged ``is_deleted``."""

    __tablename__ = "instance_accounts"
    __table_args__ = (
        UniqueConstraint("instance_id", "account_key", name="uq_instance_accounts_instance_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    # What identifies the account on its engine: 'user'@'host' on MySQL, the role name on PostgreSQL, …
    account_key: Mapped[str] = mapped_column(AccountKeyType)
    username: Mapped[str] = mapped_column(NameType)
    host: Mapped[str] = mapped_column(String(255), default="")
    kind: Mapped[str] = mapped_column(String(32), default="user")  # user, role, login, database_user
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    is_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    can_login: Mapped[bool] = mapped_column(Boolean, default=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    privileges: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    roles: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccountChange(Base):
    __tablename__ = "account_changes"
    __table_args__ = (Index("ix_account_changes_instance_id_id", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    session_id: Mapped[int | None] = mapped_column(BigInteger)
    account_key: Mapped[str] = mapped_column(AccountKeyType)
    username: Mapped[str] = mapped_column(NameType)
    change_type: Mapped[str] = mapped_column(String(16))
    # {"field": {"before": …, "after": …}}; privileges as {"privileges": {"added": …, "removed": …}}
    diff: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DatabaseSize(Base):
    """One database's size on one business day; a re-run the same day overwrites it."""

    __tablename__ = "database_sizes"
    __table_args__ = (Index("ix_database_sizes_instance_date", "instance_id", "collected_date"),)

    instance_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    database_name: Mapped[str] = mapped_column(NameType, primary_key=True)
    collected_date: Mapped[date] = mapped_column(Date, primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # The engine's split where it reports one (MySQL: table statistics, which lag the files).
    data_bytes: Mapped[int | None] = mapped_column(BigInteger)
    index_bytes: Mapped[int | None] = mapped_column(BigInteger)
    free_bytes: Mapped[int | None] = mapped_column(BigInteger)
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TableSize(Base):
    """One of the largest tables of a database at the latest collection, with the size it had at
    the collection before (kept on the row, so the table holds one snapshot, not a history)."""

    __tablename__ = "table_sizes"
    __table_args__ = (
        UniqueConstraint("instance_id", "database_name", "table_name", name="uq_table_sizes_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    database_name: Mapped[str] = mapped_column(NameType)
    table_name: Mapped[str] = mapped_column(NameType)
    engine: Mapped[str | None] = mapped_column(String(64))
    row_estimate: Mapped[int | None] = mapped_column(BigInteger)
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    data_bytes: Mapped[int | None] = mapped_column(BigInteger)
    index_bytes: Mapped[int | None] = mapped_column(BigInteger)
    collected_date: Mapped[date] = mapped_column(Date)
    previous_total_bytes: Mapped[int | None] = mapped_column(BigInteger)
    previous_date: Mapped[date | None] = mapped_column(Date)
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InstanceSize(Base):
    """An instance's total over its databases on one business day."""

    __tablename__ = "instance_sizes"

    instance_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collected_date: Mapped[date] = mapped_column(Date, primary_key=True)
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    database_count: Mapped[int] = mapped_column(Integer)
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DatabaseInventory(Base):
    """Every database an instance has had: when first and last seen, and when it went."""

    __tablename__ = "database_inventory"
    __table_args__ = (
        UniqueConstraint("instance_id", "database_name", name="uq_database_inventory_instance_name"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    database_name: Mapped[str] = mapped_column(NameType)
    first_seen_date: Mapped[date] = mapped_column(Date)
    last_seen_date: Mapped[date] = mapped_column(Date)
    last_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    is_gone: Mapped[bool] = mapped_column(Boolean, default=False)
    gone_date: Mapped[date | None] = mapped_column(Date)


class SizeAggregation(Base):
    """Average, maximum, minimum and sample count of a database's (or an instance's) size over a period."""

    __tablename__ = "size_aggregations"
    __table_args__ = (
        UniqueConstraint(
            "instance_id", "scope", "database_name", "period", "period_start", name="uq_size_aggregations_key"
        ),
        Index("ix_size_aggregations_period", "period", "period_start"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(16))  # "database" or "instance"
    database_name: Mapped[str] = mapped_column(NameType, default="")  # "" for the instance
    period: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    avg_bytes: Mapped[int] = mapped_column(BigInteger)
    max_bytes: Mapped[int] = mapped_column(BigInteger)
    min_bytes: Mapped[int] = mapped_column(BigInteger)
    sample_count: Mapped[int] = mapped_column(Integer)
    previous_avg_bytes: Mapped[int | None] = mapped_column(BigInteger)
    change_bytes: Mapped[int | None] = mapped_column(BigInteger)
    change_percent: Mapped[float | None] = mapped_column(Float)
    calculated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncSession(Base):
    """One run of a fleet task over its instances."""

    __tablename__ = "sync_sessions"
    __table_args__ = (Index("ix_sync_sessions_task_id", "task", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    job_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=SessionStatus.RUNNING.value)
    total: Mapped[int] = mapped_column(Integer, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SyncSessionInstance(Base):
    """One instance's part of a session: status, counts, error, details."""

    __tablename__ = "sync_session_instances"
    __table_args__ = (
        Index("ix_sync_session_instances_session_id", "session_id"),
        Index("ix_sync_session_instances_instance_id", "instance_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sync_sessions.id", ondelete="CASCADE"))
    # No foreign key: the history outlives a deleted instance, by name.
    instance_id: Mapped[int] = mapped_column(Integer)
    instance_name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(
        String(16), default="pending"
    )  # pending, running, success, failed, cancelled
    counts: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
