"""Who may do what: the checks the API and the console put in front of views.

JSON views use :func:`require` (or call :func:`api_auth_check` from a
blueprint's ``before_request``); HTML pages use :func:`page_login_required`.
Both enforce CSRF on state-changing requests authenticated by the session
cookie; bearer-token requests need no CSRF token (a browser cannot attach the
header cross-site).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from flask import current_app, g, redirect, render_template, request
from flask_wtf.csrf import validate_csrf
from wtforms import ValidationError

from whalefall.auth.sessions import load_current_user
from whalefall.i18n import pages
from whalefall.i18n.messages import say
from whalefall.models import Role, User
from whalefall.services.audit import Actor
from whalefall.web.envelope import error

F = TypeVar("F", bound=Callable[..., Any])

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_PATH = "/auth/login"


def current_user() -> User | None:
    """The signed-in user of this request (by token or session), or None.

    Raises the database's error when the user could not be read (``defer_user_error``): a
    request is never taken for an anonymous one because the database was away.
    """
    deferred = g.get("user_error")
    if deferred is not None:
        raise deferred
    if "user" not in g:
        load_current_user()
    return g.user


def defer_user_error(exc: Exception) -> None:
    """The user of this request could not be read: raise ``exc`` to whoever asks for it."""
    g.pop("user", None)
    g.user_error = exc


def current_actor() -> Actor:
    """The audit actor of this request: the user's name and role, and the client address."""
    user = current_user()
    if user is None:
        return Actor("anonymous", "", request.remote_addr)
    return Actor(user.username, user.role, request.remote_addr)


def submitted_csrf_token() -> str | None:
    """The CSRF token sent with this request: the ``X-CSRFToken`` (or
    ``X-CSRF-Token``) header, else the ``csrf_token`` form field."""
    for header in current_app.config.get("WTF_CSRF_HEADERS", ["X-CSRFToken", "X-CSRF-Token"]):
        if request.headers.get(header):
            return request.headers[header]
    return request.form.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")) or None


def csrf_problem() -> str | None:
    """Why this request's CSRF token is not valid for its session, or None."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return None
    try:
        validate_csrf(submitted_csrf_token())
    except ValidationError as exc:
        return str(exc.args[0]) if exc.args else "The CSRF token is invalid."
    return None


def csrf_error() -> str | None:
    """Why this request fails the CSRF check, or None when it passes or needs none.

    Only state-changing requests signed in by the session cookie are checked.
    """
    if request.method not in UNSAFE_METHODS or g.get("auth_method") != "session":
        return None
    return csrf_problem()


def api_auth_check(role: Role = Role.VIEWER):
    """None when this request may go on to a JSON view needing ``role``, else
    the error response: 401 not signed in, 400 CSRF failure, 403 role too low."""
    user = current_user()
    if user is None:
        errors = {"authorization": g.auth_error} if g.get("auth_error") else None
        return error(401, say("not_signed_in"), errors)
    problem = csrf_error()
    if problem:
        return error(400, f"CSRF check failed: {problem}", {"csrf_token": problem})
    if not Role(user.role).allows(role):
        return error(403, say("forbidden", role=role.value, yours=user.role), needed_role=role.value)
    return None


def require(role: Role = Role.VIEWER) -> Callable[[F], F]:
    """Decorate a JSON view: it runs only for a signed-in user with at least ``role``."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            denied = api_auth_check(role)
            if denied is not None:
                return denied
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


def login_url(next_path: str | None = None) -> str:
    if not next_path:
        return LOGIN_PATH
    return f"{LOGIN_PATH}?next={quote(next_path, safe='/')}"


def page_auth_check(role: Role = Role.VIEWER):
    """None when this page request may go on, else the response: a redirect
    to the sign-in page, a 400 page for a CSRF failure, or a 403 page."""
    user = current_user()
    if user is None:
        path = request.full_path if request.query_string else request.path
        return redirect(login_url(path))
    s = pages.strings()
    problem = csrf_error()
    if problem:
        return render_template("auth/message.html", s=s, title=s["bad_request_title"], message=s["csrf"]), 400
    if not Role(user.role).allows(role):
        message = s["forbidden"].format(role=role.value)
        return render_template("auth/message.html", s=s, title=s["forbidden_title"], message=message), 403
    return None


def page_login_required(role: Role = Role.VIEWER) -> Callable[[F], F]:
    """Decorate an HTML page: anonymous visitors go to the sign-in page and come back after."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            denied = page_auth_check(role)
            if denied is not None:
                return denied
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate
