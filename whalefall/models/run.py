"""One execution of a job, from being claimed to its end."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from whalefall.models.base import Base, JobIdType, LongText, UTCDateTime, utcnow


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    MISSED = "missed"
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        return self not in (RunStatus.QUEUED, RunStatus.RUNNING)


ACTIVE_STATUSES = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)
RETRYABLE_STATUSES = (RunStatus.FAILED.value, RunStatus.TIMEOUT.value, RunStatus.INTERRUPTED.value)


class TriggerSource(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    RETRY = "retry"
    DEPENDENCY = "dependency"
    CATCH_UP = "catch_up"


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        # A scheduled time is claimed once: a second insert (a double fire, a
        # takeover) fails and is harmless. NULL for manual runs and retries.
        UniqueConstraint("job_id", "scheduled_time", name="uq_runs_job_id_scheduled_time"),
        Index("ix_runs_job_id_id", "job_id", "id"),
        Index("ix_runs_status_id", "status", "id"),
        Index("ix_runs_created_at_status", "created_at", "status"),
        # The alert dispatcher follows runs as they finish, and looks again at recent failures.
        Index("ix_runs_finished_at", "finished_at"),
        Index("ix_runs_status_finished_at", "status", "finished_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    job_id: Mapped[str] = mapped_column(JobIdType)
    job_name: Mapped[str] = mapped_column(String(200), default="")
    trigger_source: Mapped[str] = mapped_column(String(16))
    scheduled_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    retry_of: Mapped[int | None] = mapped_column(BigInteger)
    return_value: Mapped[str | None] = mapped_column(LongText)
    error_message: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(LongText)
    log: Mapped[str] = mapped_column(LongText, default="")
    # How many characters were dropped from the front of ``log`` (it keeps the tail).
    log_start: Mapped[int] = mapped_column(BigInteger, default=0)
    node: Mapped[str | None] = mapped_column(String(128))
    pid: Mapped[int | None] = mapped_column(Integer)
    triggered_by: Mapped[str | None] = mapped_column(String(64))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # A fleet run that succeeded for some instances and failed for others: shown 部分成功, alerted ``partial``.
    partial: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The lease epoch under which a scheduled time was claimed (None for manual, retry, … runs).
    epoch: Mapped[int | None] = mapped_column(BigInteger)
    # Fire times folded into this run by ``coalesce`` (not counting its own), and the first of them.
    coalesced: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    coalesced_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The version of a code or shell job's source this run executed (``job_versions.number``).
    code_version: Mapped[int | None] = mapped_column(Integer)
