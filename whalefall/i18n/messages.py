"""The API's own messages in the caller's language (``?lang=``, the ``lang`` cookie, or the setting).

Field-level details keep the field's name and the rule that failed; the
sentence around them follows the language, Simplified Chinese by default.
"""

from __future__ import annotations

from whalefall.i18n import catalogue, current_language


def say(key: str, lang: str | None = None, **params: object) -> str:
    """The server's message ``key`` with its fields filled in, in ``lang`` or the request's language."""
    return catalogue.text("api", key, lang or current_language()).format(**params)
