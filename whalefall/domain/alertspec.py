"""An alert channel as the API and the CLI give it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from whalefall.domain.jobspec import Strict

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
