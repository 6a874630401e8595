"""Every console page, walked in a real browser in both languages: no word of the other language.

After the page scripts ran, the visible text of each page is read. In English no Han character may
appear; in Chinese no English phrase (two or more English words in a row). What the user typed is
taken out first: what a page marks as data (``translate="no"``), and the data made here, which
carries one marker word, ``wfdata``, in every name, id and host.
Identifiers and technical words that are the same in both languages (API, ID, JSON, cron …) pass.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from tests.e2e import test_console_browser as base
from tests.e2e.test_console_pages_browser import finished_run

pytestmark = pytest.mark.process

server, browser, visit = base.server, base.browser, base.visit

HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
ENGLISH_PHRASE = re.compile(r"\b[A-Za-z][a-z]+(?:[ ,'’-]+[A-Za-z][a-z]+)+\b")
USER_DATA = re.compile(r"\S*wfdata\S*")
# Names that are the same in both languages.
SAME_IN_BOTH = {"Whalefall", "Asia/Shanghai", "Python", "Apache ECharts"}
# The language switch names the other language on purpose.
SWITCH = {"zh": "English", "en": "中文"}


@pytest.fixture(scope="module")
def data(server):
    api = server["api"]
    api.ok(
        "POST",
        "/jobs",
        {
            "id": "wfdata_job",
            "name": "wfdata job",
            "function": "heartbeat",
            "trigger_type": "cron",
            "cron_expression": "*/20 * 8-18 * * mon-fri",
            "category": "wfdata",
        },
    )
    run = finished_run(api, "wfdata_job")
    api.ok(
        "POST",
        "/instances",
        {"name": "wfdata-db", "db_type": "mysql", "host": "wfdata.invalid", "username": "wfdata"},
    )
    instance = api.ok("GET", "/instances")["instances"][0]
    # An alert channel nobody listens on (port 9): its test fails, with a reason, in the history.
    channel = api.ok(
        "POST",
        "/alert-channels",
        {"name": "wfdata-hook", "url": "json://127.0.0.1:9/wfdata", "description": "wfdata channel"},
    )
    api.ok("POST", f"/alert-channels/{channel['id']}/test")
    # Maintenance windows: a recurring one, and a one-off one open now (the jobs page's banner).
    api.ok(
        "POST",
        "/maintenance-windows",
        {"name": "wfdata-freeze", "cron": "0 2 * * sun", "duration_minutes": 90},
    )
    now = datetime.now(base.TZ)
    api.ok(
        "POST",
        "/maintenance-windows",
        {
            "name": "wfdata-upgrade",
            "starts_at": (now - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S"),
            "ends_at": (now + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S"),
            "scope": "category",
            "scope_values": ["wfdata"],
        },
    )
    return {"run": run["id"], "instance": instance["id"]}


def pages(data) -> list[str]:
    return [
        "/scheduler/overview",
        "/scheduler/",
        "/scheduler/?q=nothing-matches",
        "/scheduler/jobs/wfdata_job",
        "/scheduler/jobs/heartbeat",
        "/scheduler/runs",
        f"/scheduler/runs/{data['run']}",
        "/scheduler/instances",
        f"/scheduler/instances/{data['instance']}",
        "/scheduler/capacity",
        "/scheduler/admin/users",
        "/scheduler/admin/tokens",
        "/scheduler/admin/audit",
        "/scheduler/admin/alerts",
        "/scheduler/alerts/deliveries",
        "/scheduler/alerts/windows",
        "/scheduler/no-such-page",
        "/scheduler/runs/999999",
    ]


def page_text(page) -> str:
    """The page's visible text without what is marked as data (``translate="no"``: ids, details, code)."""
    return page.evaluate(
        """() => {
            const body = document.body.cloneNode(true);
            body.querySelectorAll('[translate="no"], script, style').forEach((el) => el.remove());
            document.documentElement.appendChild(body);  // innerText needs the copy laid out
            body.hidden = false;
            const text = body.innerText;
            body.remove();
            return text;
        }"""
    )


def foreign_words(text: str, lang: str) -> list[str]:
    text = USER_DATA.sub(" ", text).replace(SWITCH[lang], " ")
    for same in SAME_IN_BOTH:
        text = text.replace(same, " ")
    if lang == "en":
        return HAN.findall(text)
    return ENGLISH_PHRASE.findall(text)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_console_page_speaks_one_language(visit, data, lang):
    from playwright.sync_api import expect

    v = visit(viewport={"width": 1366, "height": 900})
    v.sign_in("admin")
    expect(v.page.locator("#job-grid")).to_be_visible()
    v.go(f"/scheduler/?lang={lang}")
    found: dict[str, list[str]] = {}
    for path in pages(data):
        v.go(path)
        v.page.wait_for_load_state("networkidle")
        text = page_text(v.page)
        words = foreign_words(text, lang)
        if words:
            found[path] = sorted(set(words))
    # The sign-in page too, signed out.
    signed_out = visit(viewport={"width": 1366, "height": 900})
    signed_out.go(f"/auth/login?lang={lang}")
    words = foreign_words(page_text(signed_out.page), lang)
    if words:
        found["/auth/login"] = sorted(set(words))
    v.errors.clear()  # the 404 pages are expected
    assert not found, f"{lang} pages show words of the other language: {found}"
