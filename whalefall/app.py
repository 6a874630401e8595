"""The application factory: wires config, database, auth, API and console.

Nothing starts at import time and ``create_app`` never starts a scheduler:
that is the ``serve`` and ``scheduler`` commands' job, so a WSGI server with
many workers never runs one scheduler each.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, redirect, url_for

from whalefall import defaults
from whalefall.runtime import Runtime


def create_app(overrides: dict[str, Any] | None = None, runtime: Runtime | None = None) -> Flask:
    runtime = runtime or Runtime.from_env(overrides)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=runtime.secret_key,
        MAX_CONTENT_LENGTH=defaults.MAX_BODY_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=runtime.settings.session_cookie_secure,
        SESSION_COOKIE_NAME="whalefall_session",
        JSON_AS_ASCII=False,
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["whalefall"] = runtime

    from whalefall import api, auth, console
    from whalefall.web import converters, errors, headers

    converters.init_app(app)  # before any blueprint: rules bind their converters when added
    headers.init_app(
        app,
        trusted_proxies=runtime.settings.trusted_proxies,
        secure_cookie=runtime.settings.session_cookie_secure,
    )
    errors.init_app(app)
    auth.init_app(app)
    api.init_app(app)
    console.init_app(app)

    @app.get("/")
    def index():
        return redirect(url_for("console.index"))

    return app


def runtime_of(app: Flask) -> Runtime:
    return app.extensions["whalefall"]
