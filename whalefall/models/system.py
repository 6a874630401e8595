"""The scheduler's own bookkeeping: nodes, the leader lease, change feed, state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from whalefall.models.base import Base, JobIdType, UTCDateTime, utcnow


class Node(Base):
    """A running whalefall process; it renews ``heartbeat_at`` while alive."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(128))
    pid: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Lease(Base):
    """Held by the one active scheduler; renewed by conditional UPDATE."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acquired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The fencing token: +1 at every acquisition. A claim succeeds only with the current one.
    epoch: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class JobChange(Base):
    """Append-only feed of job changes; the scheduler polls ``id > last seen``."""

    __tablename__ = "job_changes"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    job_id: Mapped[str] = mapped_column(JobIdType)
    action: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class SeededDefault(Base):
    """A default job that was created once; deleting the job keeps this row."""

    __tablename__ = "seeded_defaults"

    job_id: Mapped[str] = mapped_column(JobIdType, primary_key=True)
    seeded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StateEntry(Base):
    """Small named values: the last heartbeat, the scheduler's last error."""

    __tablename__ = "system_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
