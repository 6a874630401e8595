"""Alerts: channels (Apprise URLs, encrypted), what was sent where, and each job's alert state."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from whalefall.models.base import Base, JobIdType, JSONValue, LongText, UTCDateTime, utcnow


class AlertEvent(StrEnum):
    FAILURE = "failure"
    TIMEOUT = "timeout"
    MISSED = "missed"
    INTERRUPTED = "interrupted"
    SKIPPED_UPSTREAM = "skipped_upstream"
    RECOVERY = "recovery"
    PARTIAL = "partial"
    LONG_RUNNING = "long_running"
    CAPACITY = "capacity"  # an instance's disk is forecast to fill within capacity_alert_days
    SCHEDULER_DOWN = "scheduler_down"
    SCHEDULER_BACK = "scheduler_back"
    TEST = "test"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    SENDING = "sending"  # claimed by a sender
    SENT = "sent"
    FAILED = "failed"  # every attempt failed
    THROTTLED = "throttled"  # held back by the job's alert window; counted in the next one sent
    SILENCED = "silenced"  # inside a maintenance window


class AlertChannel(Base):
    """A named Apprise URL. The URL holds tokens, so it is stored encrypted and shown masked."""

    __tablename__ = "alert_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # email, dingtalk, wecom, feishu, slack, webhook, other
    url_encrypted: Mapped[str] = mapped_column(Text)
    url_masked: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(String(500), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertDelivery(Base):
    """One alert for one channel: its text, its attempts and how it ended.

    ``dedupe_key`` (event, run or job, channel) is unique, so a scan that sees a
    run twice — after a takeover, say — never alerts twice.
    """

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        Index("ix_alert_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_alert_deliveries_job_id_id", "job_id", "id"),
        Index("ix_alert_deliveries_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    event: Mapped[str] = mapped_column(String(24))
    job_id: Mapped[str | None] = mapped_column(JobIdType)
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    lang: Mapped[str] = mapped_column(String(8), default="zh")
    title: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(LongText, default="")  # plain text (email, webhooks, the history)
    body_markdown: Mapped[str] = mapped_column(LongText, default="")  # for the chat robots
    facts: Mapped[str] = mapped_column(LongText, default="{}")  # the webhook's fields, as JSON
    held_back: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AlertJobState(Base):
    """Per job: consecutive failures, whether a failure alert is out (so recovery follows), the throttle."""

    __tablename__ = "alert_job_state"

    job_id: Mapped[str] = mapped_column(JobIdType, primary_key=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failure_alerted: Mapped[bool] = mapped_column(Boolean, default=False)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    held_back: Mapped[int] = mapped_column(Integer, default=0)
    last_run_id: Mapped[int | None] = mapped_column(BigInteger)  # the newest run the scan has judged


class MaintenanceWindow(Base):
    """A time when alerts are silenced (and, if asked, scheduled runs held): one-off or recurring."""

    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # one-off
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # one-off
    cron: Mapped[str | None] = mapped_column(String(120))  # recurring: when each window opens
    duration_seconds: Mapped[int | None] = mapped_column(Integer)  # recurring: how long it stays open
    timezone: Mapped[str] = mapped_column(String(64), default="")
    scope: Mapped[str] = mapped_column(String(16), default="all")  # all, category, jobs
    scope_values: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    hold_runs: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # ended early (or deleted from use)
