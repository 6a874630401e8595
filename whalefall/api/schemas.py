"""One pydantic model per request body and query string. The OpenAPI document is built from these.

A job's body is the domain's own spec (``whalefall.domain.jobspec``); what is
here belongs to HTTP alone: query strings, previews, checks.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from whalefall.domain.base import Strict
from whalefall.domain.jobspec import JobId, TriggerFields


class CronPreview(TriggerFields):
    count: int = Field(5, ge=1, le=50)
    lang: str | None = Field(None, max_length=35, description="zh, en (or a regional tag like en-US)")


class CodeCheck(Strict):
    code: str


class VersionRestore(Strict):
    note: str | None = Field(None, max_length=500, description="why; kept with the new version")


class GroupAction(Strict):
    force: bool = Field(False, description="pause even jobs that active jobs depend on")


class BulkAction(GroupAction):
    ids: list[JobId] = Field(min_length=1, max_length=500, description="the jobs to act on")


class ForceFlag(Strict):
    force: bool = Field(False, description="pause even when active jobs depend on this one")


class ImportBody(Strict):
    """An import as JSON; as YAML (``Content-Type: application/yaml``) the same, or a bare list."""

    jobs: list[dict[str, Any]] = Field(
        max_length=10_000, description="jobs as `GET /export/jobs` writes them (create or update by id)"
    )
    dry_run: bool = Field(False, description="report what it would create and change; keep nothing")
