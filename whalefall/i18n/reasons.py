"""The product's own reasons on a run (skipped, missed, cancelled, interrupted, timed out), in the reader's words.

A reason is written once, in English, as the run's ``error_message``: what the log, a script and
``grep`` see, whatever the reader's language. Its words are the catalogue's (context ``reason``),
and :func:`say` gives them back in the reader's language: a stored text that one of the English
templates made is recognised (the template read as a pattern, its ``{fields}`` as groups) and said
again in ``lang``. Any other text, a task's own exception say, is shown as it was written.
"""

from __future__ import annotations

import functools
import re

from whalefall.i18n import catalogue

WRITTEN_IN = "en"
_FIELD = re.compile(r"\{(\w+)\}")


def english(key: str, /, **params: object) -> str:
    """The reason ``key`` as it is stored: its English words with its fields filled in."""
    return catalogue.text("reason", key, WRITTEN_IN).format(**params)


@functools.cache
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Each reason's English template as a pattern, the longest first (a more precise one wins)."""
    templates = {key: catalogue.text("reason", key, WRITTEN_IN) for key in catalogue.keys("reason")}
    found = []
    for key, template in sorted(templates.items(), key=lambda item: -len(item[1])):
        parts = _FIELD.split(template)  # text, field, text, field, …, text
        pattern = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
        )
        found.append((key, re.compile(pattern, re.DOTALL)))
    return tuple(found)


def say(message: str | None, lang: str) -> str | None:
    """``message`` in ``lang`` when the product wrote it from a reason template; else unchanged."""
    if not message or lang == WRITTEN_IN:
        return message
    for key, pattern in _patterns():
        match = pattern.fullmatch(message)
        if match is not None:
            params = match.groupdict()
            if "status" in params:  # a run's status, in the reader's word for it
                params["status"] = catalogue.text("console", f"status_{params['status']}", lang)
            return catalogue.text("reason", key, lang).format(**params)
    return message
