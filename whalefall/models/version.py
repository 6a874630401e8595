"""A kept version of a code or shell job's source (SPEC §7)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from whalefall.models.base import Base, JobIdType, JSONValue, LongText, UTCDateTime, utcnow


class JobVersion(Base):
    """The source of a code or shell job as one change left it; numbered 1, 2, … per job.

    The newest row is the job's current source (``jobs.code_version``); the older ones are
    what earlier changes replaced. Rows are never changed, only added (and removed with the job).
    """

    __tablename__ = "job_versions"
    __table_args__ = (UniqueConstraint("job_id", "number", name="uq_job_versions_job_id_number"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    job_id: Mapped[str] = mapped_column(JobIdType)
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    # As on ``jobs``: Python source, or a shell job's script; the shell job's argv/env/working_dir.
    code: Mapped[str | None] = mapped_column(LongText)
    shell: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    note: Mapped[str] = mapped_column(Text, default="")
    # The version this one restored, when it was made by a restore.
    restored_from: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
