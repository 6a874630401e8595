"""A job's definition: what runs, when, and under which policies."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from whalefall.models.base import Base, JobIdType, JSONValue, LongText, UTCDateTime, utcnow


class JobKind(StrEnum):
    BUILTIN = "builtin"
    CODE = "code"
    SHELL = "shell"


class JobState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(JobIdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(64), default="", index=True)
    kind: Mapped[str] = mapped_column(String(16))
    func_name: Mapped[str | None] = mapped_column(String(128))
    params: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    # Python source of a code job, or the /bin/sh script of a shell job in "script" mode.
    code: Mapped[str | None] = mapped_column(LongText)
    # A shell job's command: {"mode": "argv"|"script", "argv": [...] (argv mode),
    # "working_dir": str|None, "env": {NAME: value}}; null for other kinds.
    shell: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    trigger_type: Mapped[str] = mapped_column(String(16))
    trigger_params: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    timezone: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=JobState.ACTIVE.value, index=True)
    misfire_grace_time: Mapped[int] = mapped_column(Integer)
    coalesce: Mapped[bool] = mapped_column(Boolean)
    max_instances: Mapped[int] = mapped_column(Integer)
    timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    max_retries: Mapped[int] = mapped_column(Integer)
    retry_delay_seconds: Mapped[int] = mapped_column(Integer)
    depends_on: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    notify: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    # Registered instances (by name) a code or shell job gets credentials for at run time.
    uses_instances: Mapped[list[str] | None] = mapped_column(JSONValue, default=list)
    # The template (SPEC §7) the job was made from; its task is ``func_name``. None otherwise.
    template: Mapped[str | None] = mapped_column(String(64))
    # Kept current by the services and the active scheduler, so lists and
    # "next executions" are answered by one indexed query.
    next_run_time: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when the job cannot be scheduled or run as stored (say its built-in
    # function was renamed): the job is kept and shown, never silently dropped.
    broken_reason: Mapped[str | None] = mapped_column(Text)
    # Bumped from job_changes on every change; the scheduler follows it.
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    # The number of the code or shell job's current source in ``job_versions`` (None for built-ins).
    code_version: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(String(64))
    updated_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
