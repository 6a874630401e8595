"""The sign-in form, sign-out, and the CSRF token for scripts in the console.

Imported only by ``whalefall.auth.init_app``, never by ``whalefall.auth``
itself, so ``whalefall.api`` may import the guards without a cycle.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request
from flask_wtf.csrf import generate_csrf

from whalefall.auth.guard import LOGIN_PATH, csrf_problem, current_user
from whalefall.auth.sessions import sign_in, sign_out
from whalefall.errors import InvalidCredentials, TooManyAttempts
from whalefall.i18n import current_language, pages, remember_language
from whalefall.services import users as user_service
from whalefall.web.envelope import error, ok

bp = Blueprint("auth", __name__, url_prefix="/auth")

DEFAULT_NEXT = "/scheduler/overview"  # the console's landing page


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else the console's home.

    Refuses absolute URLs, scheme-relative ``//host`` and the ``/\\host`` and
    control-character forms that browsers also read as another host.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return DEFAULT_NEXT
    if "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return DEFAULT_NEXT
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return DEFAULT_NEXT
    return target


def _runtime():
    return current_app.extensions["whalefall"]


def _wants_json() -> bool:
    if request.is_json or request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return True
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def _form(status: int = 200, message: str | None = None, username: str = "", next_path: str = ""):
    s = pages.strings()
    body = render_template(
        "auth/login.html",
        s=s,
        lang=current_language(),
        message=message,
        username=username,
        next=next_path,
    )
    return body, status


@bp.after_request
def _remember_language(response):
    return remember_language(response)


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_path = request.values.get("next", "")
    if request.method == "GET":
        return _form(next_path=next_path)

    s = pages.strings()
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if csrf_problem():
        return _form(400, s["csrf"], username, next_path)
    if not username or not password:
        return _form(200, s["missing"], username, next_path)
    try:
        user = user_service.authenticate(_runtime().db, username, password, request.remote_addr)
    except TooManyAttempts as exc:
        body, status = _form(429, s["throttled"], username, next_path)
        return body, status, {"Retry-After": str(exc.retry_after)}
    except InvalidCredentials:
        return _form(200, s["invalid"], username, next_path)
    sign_in(user)
    return redirect(safe_next(next_path))


@bp.post("/logout")
def logout():
    problem = csrf_problem()
    if problem:
        if _wants_json():
            return error(400, f"CSRF check failed: {problem}", {"csrf_token": problem})
        s = pages.strings()
        return render_template("auth/message.html", s=s, title=s["bad_request_title"], message=s["csrf"]), 400
    user = current_user()
    if user is not None and g.auth_method == "session":
        user_service.log_out(_runtime().db, user, request.remote_addr)
    sign_out()
    if _wants_json():
        return ok(None, "signed out")
    return redirect(LOGIN_PATH)


@bp.get("/csrf")
def csrf():
    """The CSRF token of this session, for scripts that have no page to read it from."""
    return ok({"csrf_token": generate_csrf()})
