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


JOB = {"id": "nightly", "name": "Nightly", "function": "heartbeat", "trigger_type": "cron", "cron_hour": "2"}


@pytest.mark.parametrize(
    ("body", "lang", "message", "field"),
    [
        ({**JOB, "cron_hour": "25"}, "zh", "「时」字段：25 超出范围 0–23", "cron_hour"),
        ({**JOB, "cron_hour": "25"}, "en", "hour: 25 is out of range 0-23", "cron_hour"),
        (
            {**JOB, "cron_hour": None, "trigger_type": "cron", "cron_expression": "0 25 * * *"},
            "zh",
            "「时」字段：25 超出范围 0–23",
            "cron_expression",
        ),
        (
            {**JOB, "cron_day_of_week": "8"},
            "zh",
            "「星期」字段：8 超出范围 0–7（0 和 7 都是周日）",
            "cron_day_of_week",
        ),
        ({**JOB, "timeout_seconds": 0}, "zh", "「超时（秒）」：不能小于 1", "timeout_seconds"),
        ({**JOB, "timeout_seconds": 0}, "en", "timeout (s): must be at least 1", "timeout_seconds"),
        ({**JOB, "id": "bad id!"}, "zh", "「ID」：格式不对", "id"),
        ({**JOB, "name": "  "}, "zh", "「名称」：不能为空", "name"),
        ({**JOB, "nonsense": 1}, "zh", "nonsense：未知字段", "nonsense"),
        ({**JOB, "max_retries": "x"}, "en", "retries: expected a whole number", "max_retries"),
        (
            {**JOB, "trigger_type": "hourly"},
            "zh",
            "「触发方式」：应为 'cron', 'interval', 'date', 'dependency' 之一",
            "trigger_type",
        ),
    ],
)
def test_validation_messages_name_the_field_in_the_users_words(client, bearer, body, lang, message, field):
    answer = client.post(f"/scheduler/api/jobs?lang={lang}", json=body, headers=bearer("operator"))
    assert answer.status_code == 400
    assert answer.json["message"] == message
    assert field in answer.json["errors"]  # scripts still get the field's own name


def test_default_jobs_speak_the_users_language_until_a_user_renames_them(client, bearer, runtime):
    from whalefall.services import defaults

    defaults.seed(runtime)
    viewer, operator = bearer("viewer"), bearer("operator")
    en = client.get("/scheduler/api/jobs/sync_accounts?lang=en", headers=viewer).json["data"]
    assert en["name"] == "Account sync" and en["description"].startswith("Every day at 01:00")
    assert en["category"] == "sync" and en["category_label"] == "sync"
    zh = client.get("/scheduler/api/jobs/sync_accounts", headers=viewer).json["data"]
    assert zh["name"] == "账户同步" and zh["category_label"] == "同步"
    client.put("/scheduler/api/jobs/sync_accounts", json={"name": "我们的同步"}, headers=operator)
    renamed = client.get("/scheduler/api/jobs/sync_accounts?lang=en", headers=viewer).json["data"]
    assert renamed["name"] == "我们的同步" and renamed["description"].startswith("Every day")
