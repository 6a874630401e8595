"""Who is making this request: a bearer token, or the signed session cookie.

The cookie holds the user id, when they signed in, and the user's session
generation at that moment. Every request compares it with the user's row:
signing out, a new password, a new role, or disabling the user counts the
generation up (``services.users``) and so ends every session signed in
before, in every browser, at its next request. Signing out is therefore
"sign out everywhere": the product keeps no list of sessions, and a copied
cookie must die with the one signed out. A session also ends after
``SESSION_MAX_AGE_SECONDS`` however active it was.
"""

from __future__ import annotations

from flask import current_app, g, request, session

from whalefall import clock
from whalefall.models import User
from whalefall.services import tokens
from whalefall.services import users as user_service

SESSION_USER_KEY = "uid"
SESSION_GENERATION_KEY = "gen"
SESSION_SINCE_KEY = "since"
SESSION_MAX_AGE_SECONDS = 7 * 24 * 3600


def sign_in(user: User) -> None:
    """Start a fresh session for ``user`` (a new CSRF token comes with it)."""
    session.clear()
    session[SESSION_USER_KEY] = user.id
    session[SESSION_GENERATION_KEY] = user.session_generation
    session[SESSION_SINCE_KEY] = int(clock.now().timestamp())
    g.user = user
    g.auth_method = "session"


def sign_out() -> None:
    """Forget this browser's session (``services.users.log_out`` ends it everywhere)."""
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
    current = session.get(SESSION_GENERATION_KEY) == user.session_generation if user else False
    if user is None or not user.is_active or not fresh or not current:
        session.clear()
        return
    g.user = user
    g.auth_method = "session"
