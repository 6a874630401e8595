"""Signing in and who may do what.

``init_app`` registers the ``auth`` blueprint (``/auth/login``,
``/auth/logout``, ``/auth/csrf``), Flask-WTF's CSRF support (checked by the
guards, not on every request: ``WTF_CSRF_CHECK_DEFAULT`` is off), and a
``before_request`` that puts the current user on ``flask.g``. The guards the
API and the console use live in :mod:`whalefall.auth.guard`.
"""

from __future__ import annotations

from flask import Flask, request
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.exc import SQLAlchemyError

from whalefall.auth.guard import (
    api_auth_check,
    current_actor,
    current_user,
    defer_user_error,
    page_auth_check,
    page_login_required,
    require,
)
from whalefall.auth.sessions import load_current_user
from whalefall.web.errors import database_unavailable

csrf = CSRFProtect()

__all__ = [
    "api_auth_check",
    "csrf",
    "current_actor",
    "current_user",
    "init_app",
    "page_auth_check",
    "page_login_required",
    "require",
]


def init_app(app: Flask) -> None:
    from whalefall.auth.views import bp
    from whalefall.i18n import current_language

    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    csrf.init_app(app)
    app.register_blueprint(bp)

    @app.before_request
    def _load_user() -> None:
        if request.endpoint == "static":
            return
        try:
            load_current_user()
        except SQLAlchemyError as exc:
            if not database_unavailable(exc):
                raise
            # Whoever asks for the user gets the 503; a view that needs none (health) still answers.
            defer_user_error(exc)

    @app.context_processor
    def _auth_context() -> dict:
        return {"current_user": current_user, "ui_lang": current_language}
