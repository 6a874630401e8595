"""The one catalogue: PO files read with Babel, one function that picks the language."""

from __future__ import annotations

import re
import shutil

import pytest
from babel.messages.pofile import read_po

from whalefall.i18n import catalogue, normalize

FIELDS = re.compile(r"\{(\w+)")


def entries(lang: str) -> dict[tuple[str, str], str]:
    return catalogue._messages(lang)


def test_every_language_has_every_word_with_the_same_fields():
    default = entries(catalogue.DEFAULT)
    assert len(default) > 300
    for lang in catalogue.languages():
        theirs = entries(lang)
        assert theirs.keys() == default.keys(), lang
        for key, text in default.items():
            assert set(FIELDS.findall(theirs[key])) == set(FIELDS.findall(text)), (lang, key)


def test_the_files_are_gettext_catalogues_babel_reads_without_fuzzy_or_empty_entries():
    for lang in catalogue.languages():
        path = catalogue._ROOT.joinpath(lang, "LC_MESSAGES", "messages.po")
        with path.open("rb") as f:
            cat = read_po(f, locale=lang)
        assert str(cat.locale) == lang
        assert not [m.id for m in cat if m.id and (m.fuzzy or not m.string)], lang


@pytest.mark.parametrize(
    ("asked", "picked"),
    [("en", "en"), ("en-US", "en"), ("EN_gb", "en"), ("zh", "zh"), ("zh-CN", "zh"), ("zh-Hans-CN", "zh")],
)
def test_regional_tags_fold_to_their_language(asked, picked):
    assert normalize(asked) == picked


@pytest.mark.parametrize("asked", ["fr", "", "xx-YY", None, 3])
def test_a_language_without_a_catalogue_is_not_guessed(asked):
    assert normalize(asked) is None


def test_the_api_and_the_console_agree_on_en_us(client, login, bearer):
    api = client.get("/scheduler/api/jobs/nope?lang=en-US", headers=bearer("viewer")).json
    assert api["message"] == "job 'nope' does not exist"
    login(client, "viewer")
    page = client.get("/scheduler/?lang=en-US").get_data(as_text=True)
    assert 'lang="en"' in page and catalogue.table("console", "en")["nav_runs"] in page


def test_a_third_language_is_a_file(tmp_path, monkeypatch):
    root = tmp_path / "translations"
    shutil.copytree(catalogue._ROOT, root)
    french = root / "fr" / "LC_MESSAGES" / "messages.po"
    french.parent.mkdir(parents=True)
    text = (root / "en" / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    text = text.replace('msgstr "job {id} created"', 'msgstr "tâche {id} créée"').replace(
        "Language: en", "Language: fr"
    )
    french.write_text(text, encoding="utf-8")
    monkeypatch.setattr(catalogue, "_ROOT", root)
    for cached in (catalogue.languages, catalogue._messages, catalogue.table):
        cached.cache_clear()
    try:
        assert "fr" in catalogue.languages() and normalize("fr-CA") == "fr"
        assert catalogue.text("api", "job_created", "fr").format(id="x") == "tâche x créée"
    finally:
        for cached in (catalogue.languages, catalogue._messages, catalogue.table):
            cached.cache_clear()
