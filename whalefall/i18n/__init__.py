"""The language layer: which language a request speaks, and the words for it.

One function picks the language: ``?lang=``, then the ``lang`` cookie, then the
``WHALEFALL_LANGUAGE`` setting, then Simplified Chinese. Regional tags fold to
their language (``en-US`` → ``en``, ``zh-Hans-CN`` → ``zh``); anything unknown
is ignored rather than guessed.
"""

from __future__ import annotations

from flask import Response, current_app, has_request_context, request

from whalefall.i18n.catalogue import DEFAULT, languages

COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600


def normalize(value: object) -> str | None:
    """``"en-US"`` → ``"en"``; None for a language without a catalogue."""
    if not isinstance(value, str):
        return None
    base = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return base if base in languages() else None


def _configured() -> str:
    runtime = current_app.extensions.get("whalefall")
    return normalize(getattr(getattr(runtime, "settings", None), "language", None)) or DEFAULT


def current_language() -> str:
    """The language of this request (the default outside one)."""
    if not has_request_context():
        return DEFAULT
    return normalize(request.args.get("lang")) or normalize(request.cookies.get(COOKIE)) or _configured()


def remember_language(response: Response) -> Response:
    """Keep ``?lang=`` in a cookie so the next page speaks the same language."""
    asked = normalize(request.args.get("lang"))
    if asked and request.cookies.get(COOKIE) != asked:
        response.set_cookie(
            COOKIE,
            asked,
            max_age=COOKIE_MAX_AGE,
            samesite="Lax",
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        )
    return response
