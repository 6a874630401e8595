"""One pydantic model per request body and query string. The OpenAPI document is built from these.

A job's body is the domain's own spec (``whalefall.domain.jobspec``); what is
here belongs to HTTP alone: query strings, previews, checks.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from whalefall.domain.jobspec import JobId, Strict, TriggerFields


class CronPreview(TriggerFields):
    count: int = Field(5, ge=1, le=50)
    lang: Literal["zh", "en"] | None = None


class CodeCheck(Strict):
    code: str


class Query(BaseModel):
    """Query strings: unknown parameters (cache busters) are ignored, known ones checked."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class Pagination(Query):
    page: int = Field(1, ge=1)
    per_page: int = Field(20, ge=1, le=200)


class JobListQuery(Pagination):
    q: str | None = Field(None, max_length=200)
    category: str | None = Field(None, max_length=64)
    state: Literal["active", "paused"] | None = None
    lang: Literal["zh", "en"] | None = None


RUN_STATUSES = Literal[
    "queued", "running", "success", "failed", "timeout", "cancelled", "skipped", "missed", "interrupted"
]


class RunListQuery(Pagination):
    job_id: JobId | None = None
    status: RUN_STATUSES | None = None
    since: str | None = Field(None, description="ISO 8601; runs created at or after")
    until: str | None = Field(None, description="ISO 8601; runs created before")


class RunLogQuery(Query):
    offset: int | None = Field(None, ge=0)
