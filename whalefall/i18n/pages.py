"""The words of the pages outside the console (sign-in, error pages), in zh-CN (default) and English.

They are the catalogue's ``page`` words, in :func:`whalefall.i18n.current_language`'s language.
"""

from __future__ import annotations

from whalefall.i18n import catalogue, current_language


def strings(language: str | None = None) -> dict[str, str]:
    return catalogue.table("page", language or current_language())
