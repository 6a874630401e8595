"""An alert channel as the API and the CLI give it."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, StringConstraints

from whalefall.domain.base import Strict

ChannelName = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[\w.\-]{1,64}$")]


class ChannelPatch(Strict):
    """Fields of a channel; on update only those given change. ``url`` is write-only (it holds tokens)."""

    name: ChannelName | None = Field(None, description="1-64 letters, digits, _ . -")
    url: str | None = Field(None, min_length=1, max_length=2000, description="an Apprise URL (write-only)")
    description: str | None = Field(None, max_length=500)
    enabled: bool | None = None


class ChannelCreate(ChannelPatch):
    name: ChannelName = Field(description="1-64 letters, digits, _ . -")
    url: str = Field(min_length=1, max_length=2000, description="an Apprise URL (write-only)")


EventName = Literal[
    "failure",
    "timeout",
    "missed",
    "interrupted",
    "skipped_upstream",
    "recovery",
    "partial",
    "long_running",
    "capacity",
]
# Every event alerts by default but ``long_running``, which needs its threshold set.
DEFAULT_EVENTS: list[EventName] = [e for e in get_args(EventName) if e != "long_running"]


class NotifyPolicy(Strict):
    """A job's ``notify``: what it changes from the global policy (a field left out follows it)."""

    enabled: bool = Field(True, description="false: this job sends no alerts")
    channels: list[ChannelName] | None = Field(None, max_length=20, description="channel names; * for all")
    events: list[EventName] | None = Field(None, description="the events that alert")
    threshold: int | None = Field(None, ge=1, le=100, description="alert after this many failures in a row")
    long_running_seconds: int | None = Field(
        None, ge=1, le=30 * 86400, description="alert a run still going after"
    )


class GlobalPolicy(Strict):
    """The alert policy every job follows unless its ``notify`` says otherwise."""

    channels: list[str] = Field(default_factory=lambda: ["*"], max_length=50)
    events: list[EventName] = Field(default_factory=lambda: list(DEFAULT_EVENTS))
    threshold: int = Field(1, ge=1, le=100)
    throttle_seconds: int = Field(600, ge=0, le=7 * 86400, description="at most one alert per job per window")
    long_running_seconds: int | None = Field(None, ge=1, le=30 * 86400)


class WindowPatch(Strict):
    """A maintenance window: one-off (``starts_at`` … ``ends_at``) or recurring (``cron`` + ``duration_minutes``)."""

    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=500)
    starts_at: str | None = Field(None, description="one-off: ISO 8601, in `timezone` without an offset")
    ends_at: str | None = Field(None, description="one-off: ISO 8601")
    cron: str | None = Field(
        None, max_length=120, description="recurring: a crontab expression for each opening"
    )
    duration_minutes: int | None = Field(
        None, ge=1, le=7 * 24 * 60, description="recurring: how long it stays open"
    )
    timezone: str | None = Field(None, max_length=64)
    scope: Literal["all", "category", "jobs"] | None = None
    scope_values: list[str] | None = Field(None, max_length=200, description="categories or job ids")
    hold_runs: bool | None = Field(None, description="also hold scheduled runs (recorded skipped)")


class WindowCreate(WindowPatch):
    name: str = Field(min_length=1, max_length=100)
