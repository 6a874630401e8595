"""The one catalogue: a gettext PO file per language, read with Babel.

``whalefall/translations/<lang>/LC_MESSAGES/messages.po``. A message id is a
key with named ``{fields}`` (``job_created`` → 「任务 {id} 已创建」); its
``msgctxt`` says whose words they are:

- ``api``: what the server says (API messages, errors, error pages' texts);
- ``page``: the pages outside the console (sign-in, error pages);
- ``console``: the console's words, shared with its scripts as one JSON table;
- ``task``: the built-in tasks' descriptions;
- ``reason``: the product's reasons on a run, stored in English, shown in the reader's
  language (:mod:`whalefall.i18n.reasons`).

Adding a language is adding a file: the languages are the folders present.
A word missing in one language falls back to the default language's, then to
its key, so a half-translated file never breaks a page.
"""

from __future__ import annotations

import functools
from importlib import resources

from babel.messages.pofile import read_po

DEFAULT = "zh"
_ROOT = resources.files("whalefall") / "translations"


@functools.cache
def languages() -> tuple[str, ...]:
    """Every language with a catalogue, the default first."""
    found = sorted(p.name for p in _ROOT.iterdir() if p.joinpath("LC_MESSAGES", "messages.po").is_file())
    return tuple(sorted(found, key=lambda name: name != DEFAULT))


@functools.cache
def _messages(lang: str) -> dict[tuple[str, str], str]:
    with _ROOT.joinpath(lang, "LC_MESSAGES", "messages.po").open("rb") as f:
        catalog = read_po(f, locale=lang)
    return {
        (message.context or "", str(message.id)): str(message.string)
        for message in catalog
        if message.id and message.string and not message.fuzzy
    }


def text(context: str, key: str, lang: str) -> str:
    """The words for ``key`` in ``lang`` (unformatted)."""
    for candidate in (lang, DEFAULT):
        if candidate in languages():
            found = _messages(candidate).get((context, key))
            if found is not None:
                return found
    return key


@functools.cache
def table(context: str, lang: str) -> dict[str, str]:
    """Every word of ``context`` in ``lang``, the default language's where ``lang`` has none."""
    merged = {k: v for (ctx, k), v in _messages(DEFAULT).items() if ctx == context}
    if lang != DEFAULT and lang in languages():
        merged.update({k: v for (ctx, k), v in _messages(lang).items() if ctx == context})
    return merged


def keys(context: str) -> set[str]:
    return {k for (ctx, k) in _messages(DEFAULT) if ctx == context}
