"""The web console under ``/scheduler/``: server-rendered pages, with small scripts on top.

Pages read through the same services the API uses and render on the server;
every change a page offers is a call to the REST API from the page's script
(``static/js/``), so there is one copy of every state change. Modules:
``jobs`` (the cards and one job), ``runs`` (history and one run), ``admin`` (users,
tokens, audit log), ``fleet`` (instances, accounts, capacity), ``overview`` (the landing page),
``alerts`` (alert channels and the global policy, the delivery history, maintenance windows),
``api_docs`` (the API reference), ``templates`` (new job from a template). Every word comes
from the catalogue (``whalefall.i18n``), in both languages.

Every HTML response carries a Content-Security-Policy without
``'unsafe-inline'`` for scripts: no inline script or event handler runs, so
text that slipped into the markup unescaped could still run nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, current_app, render_template, request
from flask.typing import ResponseReturnValue

from whalefall import clock
from whalefall.auth.guard import current_user
from whalefall.i18n import catalogue, current_language, remember_language
from whalefall.models import Role, RunStatus
from whalefall.runtime import Runtime
from whalefall.services import health
from whalefall.services import jobs as job_service

bp = Blueprint("console", __name__, url_prefix="/scheduler")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def runtime() -> Runtime:
    return current_app.extensions["whalefall"]


def language() -> str:
    return current_language()


def render(template: str, **context: Any) -> ResponseReturnValue:
    """Render a console page with what every page needs, remembering ``?lang=``."""
    lang = language()
    user = current_user()
    role = Role(user.role) if user else Role.VIEWER
    response = current_app.make_response(
        render_template(
            template,
            t=catalogue.table("console", lang),
            lang=lang,
            user=user,
            can_operate=role.allows(Role.OPERATOR),
            is_admin=role == Role.ADMIN,
            timezone=runtime().settings.timezone,
            run_statuses=[s.value for s in RunStatus],
            sandbox=health.sandbox_state(runtime()) if user else None,
            **context,
        )
    )
    return remember_language(response)


def local_time(value: str | datetime | None) -> str:
    """An ISO 8601 time (as the API gives it) as ``YYYY-MM-DD HH:MM:SS`` in the global zone."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        when = value
    return clock.local_text(when, runtime().settings.timezone) or ""


def duration(seconds: float | None) -> str:
    if not isinstance(seconds, int | float):
        return ""
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + " s" if seconds < 60 else _long(seconds)


def _long(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def word(context: str, key: str | None) -> str:
    """A recorded value (an audit action, a target type) in the page's language; unknown ones as they are."""
    if not key:
        return ""
    return catalogue.text(context, key, language()) if key in catalogue.keys(context) else key


def page_url(**changes: Any) -> str:
    """This page's URL with some query parameters changed (None removes one)."""
    args = {k: v for k, v in request.args.items() if k != "lang"}
    args.update(changes)
    query = urlencode({k: v for k, v in args.items() if v not in (None, "")})
    return request.path + ("?" + query if query else "")


def _security_headers(response):
    if response.mimetype == "text/html":
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


def init_app(app: Flask) -> None:
    from whalefall.console import (  # noqa: F401  (register routes)
        admin,
        alerts,
        api_docs,
        fleet,
        fleet_reports,
        jobs,
        overview,
        runs,
        templates,
    )

    app.register_blueprint(bp)
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(duration, "duration")
    app.add_template_filter(fleet.size_text, "size")
    app.add_template_global(page_url, "page_url")
    app.add_template_global(job_service.category_label, "category_label")
    app.add_template_global(word, "word")
    # On every HTML page, the sign-in page included.
    app.after_request(_security_headers)
