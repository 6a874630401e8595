"""Who is making this request: a bearer token, or the signed session cookie.

The cookie holds the user id, when they signed in, and a marker derived from
the password hash, the role and the active flag. Changing the password or
the role, or disabling the user, changes the marker and so ends every
session signed in before. (A rehash after an argon2 parameter upgrade does
too, which is rare and harmless.) A session also ends after
``SESSION_MAX_AGE_SECONDS`` however active it was: the cookie is signed but
not stored server-side, so it must not live forever.
"""

from __future__ import annotations

import hashlib

from flask import current_app, g, request, session

from whalefall import clock
from whalefall.models import User
from whalefall.services import tokens
from whalefall.services import users as user_service

SESSION_USER_KEY = "uid"
SESSION_MARKER_KEY = "mark"
SESSION_SINCE_KEY = "since"
SESSION_MAX_AGE_SECONDS = 7 * 24 * 3600


def marker(user: User) -> str:
    text = f"{user.id}|{user.password_hash}|{user.role}|{int(bool(user.is_active))}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def sign_in(user: User) -> None:
    """Start a fresh session for ``user`` (a new CSRF token comes with it)."""
    session.clear()
    session[SESSION_USER_KEY] = user.id
    session[SESSION_MARKER_KEY] = marker(user)
    session[SESSION_SINCE_KEY] = int(clock.now().timestamp())
    g.user = user
    g.auth_method = "session"


def sign_out() -> None:
    session.clear()
    g.user = None
    g.auth_method = None


def load_current_user() -> None:
    """Set ``g.user`` (a User or None), ``g.auth_method`` ("bearer",
    "session" or None) and ``g.auth_error`` (why a bearer token failed)."""
    g.user = None
    g.auth_method = None
    g.auth_error = None
    db = current_app.extensions["whalefall"].db

    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        # A bearer header decides alone: a bad token is not rescued by a cookie.
        g.auth_method = "bearer"
        g.user = tokens.authenticate(db, credentials.strip())
        if g.user is None:
            g.auth_error = "invalid or revoked API token"
        return

    user_id = session.get(SESSION_USER_KEY)
    if user_id is None:
        return
    user = user_service.get(db, user_id) if isinstance(user_id, int) else None
    since = session.get(SESSION_SINCE_KEY)
    fresh = isinstance(since, int) and clock.now().timestamp() - since < SESSION_MAX_AGE_SECONDS
    if user is None or not user.is_active or not fresh or session.get(SESSION_MARKER_KEY) != marker(user):
        session.clear()
        return
    g.user = user
    g.auth_method = "session"
