"""The words of the pages outside the console (sign-in, error pages), in zh-CN (default) and English.

The language is :func:`whalefall.current_language`'s.
"""

from __future__ import annotations

from whalefall.i18n import catalogue, current_language


def strings(language: str | None = None) -> dict[str, str]:
    return catalogue.table("page", language or current_language())
