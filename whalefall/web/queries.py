"""Query strings, one pydantic model each, shared by the API and the console pages.

The console's filters are the API's filters: a page parses ``request.args``
with the same model the API does, so both accept and refuse the same values.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from flask import request
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from whalefall.domain.base import MAX_INT, refuse_nul
from whalefall.domain.jobspec import JobId
from whalefall.models import AlertEvent, DeliveryStatus

M = TypeVar("M", bound=BaseModel)


def query(model: type[M], **fixed: object) -> M:
    """This request's query string as ``model`` (``fixed`` values override the request's)."""
    return model.model_validate({**request.args.to_dict(), **fixed})


class Query(BaseModel):
    """Query strings: unknown parameters (cache busters) are ignored, known ones checked.

    An empty value is no value: a filter form sends ``status=`` for "any status". No value
    holds a NUL, and no number is past what the database's columns hold.
    """

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return refuse_nul(value)


# The last page anyone may ask for: past it ``(page - 1) * per_page`` is no offset a database takes.
MAX_PAGE = 1_000_000


class Pagination(Query):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(20, ge=1, le=200)


class JobListQuery(Pagination):
    q: str | None = Field(None, max_length=200)
    category: str | None = Field(None, max_length=64)
    state: Literal["active", "paused"] | None = None


RUN_STATUSES = Literal[
    "queued", "running", "success", "failed", "timeout", "cancelled", "skipped", "missed", "interrupted"
]


class RunListQuery(Pagination):
    job_id: JobId | None = None
    status: RUN_STATUSES | None = None
    since: str | None = Field(None, description="ISO 8601; runs created at or after")
    until: str | None = Field(None, description="ISO 8601; runs created before")


class VersionDiffQuery(Query):
    """Which two versions of a job's source to compare: ``from`` (default: the one before ``to``)
    and ``to`` (default: the current one)."""

    from_: int | None = Field(None, alias="from", ge=1, le=MAX_INT)
    to: int | None = Field(None, ge=1, le=MAX_INT)


class RunLogQuery(Query):
    offset: int | None = Field(None, ge=0, le=MAX_INT)


class AuditQuery(Pagination):
    actor: str | None = Field(None, max_length=64)
    action: str | None = Field(None, max_length=64, description="e.g. job.create, auth.login_failed")
    target_id: str | None = Field(None, max_length=128)


class DeliveryQuery(Pagination):
    """The alert delivery history's filters (the API's and the console's history page)."""

    event: AlertEvent | None = None
    job_id: str | None = Field(None, max_length=64)
    channel: str | None = Field(None, max_length=64)
    status: DeliveryStatus | None = None
    since: str | None = Field(None, description="ISO 8601; deliveries created at or after")


class ForceQuery(Query):
    """``?force=1``: the same as ``"force": true`` in the body (pause despite dependent jobs)."""

    force: bool = False


class ImportQuery(Query):
    """``?dry_run=1``: report what an import would create, change and leave, and keep nothing."""

    dry_run: bool = False
