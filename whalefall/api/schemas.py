"""One pydantic model per request body and query string. The OpenAPI document is built from these.

A job's body is the domain's own spec (``whalefall.domain.jobspec``); what is
here belongs to HTTP alone: query strings, previews, checks.
"""

from __future__ import annotations

from pydantic import Field

from whalefall.domain.base import Strict
from whalefall.domain.jobspec import TriggerFields


class CronPreview(TriggerFields):
    count: int = Field(5, ge=1, le=50)
    lang: str | None = Field(None, max_length=35, description="zh, en (or a regional tag like en-US)")


class CodeCheck(Strict):
    code: str


class VersionRestore(Strict):
    note: str | None = Field(None, max_length=500, description="why; kept with the new version")
