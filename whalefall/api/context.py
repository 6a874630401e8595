"""Small helpers the API views share: the runtime, the language, the actor."""

from __future__ import annotations

from flask import current_app, request

from whalefall.runtime import Runtime


def runtime() -> Runtime:
    return current_app.extensions["whalefall"]


def lang() -> str:
    value = request.args.get("lang") or request.cookies.get("lang") or runtime().settings.language
    return "en" if value.lower().startswith("en") else "zh"
