"""``http_check`` (template): request a URL and fail the run unless the answer is as expected.

Expected: the status code, and optionally a body that contains a text (or matches a regular
expression). The result gives the status, the time taken and the size of the body read.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from whalefall.domain.base import Strict
from whalefall.errors import TaskFailed
from whalefall.tasks.registry import TaskContext

MAX_BODY = 1024 * 1024  # bytes of the body read and matched
USER_AGENT = "whalefall-http-check"


class Params(Strict):
    url: str = Field(max_length=4096, description="http:// or https:// URL")
    method: Literal["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"] = "GET"
    expected_status: int = Field(200, ge=100, le=599, description="the status code that means healthy")
    timeout_seconds: int = Field(10, ge=1, le=300)
    body_match_mode: Literal["substring", "regex"] = "substring"
    body_match: str | None = Field(None, max_length=10_000, description="text the body must contain")
    request_body: str | None = Field(None, max_length=100_000, description="body sent with the request")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value, re.IGNORECASE) or any(c.isspace() for c in value):
            raise PydanticCustomError("http_url", "must be an http:// or https:// URL")
        return value

    @field_validator("body_match")
    @classmethod
    def _regex_compiles(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value and info.data.get("body_match_mode") == "regex":
            try:
                re.compile(value)
            except re.error as exc:
                raise PydanticCustomError(
                    "regex", "not a regular expression: {error}", {"error": str(exc)}
                ) from None
        return value


def fetch(url: str, method: str, timeout: int, body: str | None) -> tuple[int, bytes]:
    """(status, the first MAX_BODY bytes of the body); an HTTP error status is an answer too."""
    data = body.encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(MAX_BODY)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read(MAX_BODY)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TaskFailed(f"{method} {url}: no answer ({reason})") from None


def run(
    ctx: TaskContext,
    url: str,
    method: str = "GET",
    expected_status: int = 200,
    timeout_seconds: int = 10,
    body_match: str | None = None,
    body_match_mode: str = "substring",
    request_body: str | None = None,
) -> dict[str, Any]:
    started = time.monotonic()
    status, body = fetch(url, method, timeout_seconds, request_body)
    elapsed_ms = round((time.monotonic() - started) * 1000, 1)
    result: dict[str, Any] = {
        "url": url,
        "method": method,
        "status": status,
        "elapsed_ms": elapsed_ms,
        "body_bytes": len(body),
    }
    ctx.logger.info("%s %s → %d in %.1f ms", method, url, status, elapsed_ms)
    if status != expected_status:
        raise TaskFailed(f"{method} {url} answered {status}, expected {expected_status}")
    if body_match:
        text = body.decode("utf-8", "replace")
        found = re.search(body_match, text) if body_match_mode == "regex" else body_match in text
        result["body_matched"] = bool(found)
        if not found:
            raise TaskFailed(f"{method} {url}: the body does not match {body_match!r} ({body_match_mode})")
    return result
