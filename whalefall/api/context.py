"""Small helpers the API views share: the runtime."""

from __future__ import annotations

from flask import current_app

from whalefall.runtime import Runtime


def runtime() -> Runtime:
    return current_app.extensions["whalefall"]
