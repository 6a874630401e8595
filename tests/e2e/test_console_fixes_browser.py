"""The console's defects of issue 7 (items 7 and 8), each pinned in a real Chromium.

Same server, browser and ``visit`` helper as ``test_console_browser.py`` (a server
of this module's own); the tokens test starts a second server that has no token yet.
Phone-width screenshots land in ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from tests.e2e import test_console_browser as base
from tests.proc import wait_until

pytestmark = pytest.mark.process

server, browser, visit = base.server, base.browser, base.visit
PHONE = {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True}
APS_TEXT = re.compile(r"^(cron|interval|date)\[")


def in_zone(seconds: int) -> str:
    return (datetime.now(base.TZ) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def a_task(api) -> str:
    return api.ok("GET", "/tasks")["tasks"][0]["name"]


# --- item 7 ----------------------------------------------------------------------------------


def test_the_capacity_database_list_says_all_databases_in_words(visit):
    from playwright.sync_api import expect

    v = visit()
    v.sign_in("admin")
    v.go("/scheduler/capacity")
    expect(v.page.locator("#c-database option").first).to_have_text("整个实例（全部数据库）")
    expect(v.page.locator("#chart-caption")).not_to_have_text("loading")
    v.go("/scheduler/capacity?lang=en")
    expect(v.page.locator("#c-database option").first).to_have_text("The whole instance (all databases)")


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_a_toast_never_covers_the_dialog_footer(visit, server, size):
    from playwright.sync_api import expect

    v = visit(**PHONE) if size == "phone" else visit(viewport={"width": 1366, "height": 768})
    page = v.page
    v.sign_in("admin")
    page.click("#new-job")
    expect(page.locator("#f-id")).to_be_focused()
    page.fill("#f-id", "not an id!")
    page.fill("#f-name", "x")
    page.select_option("#f-function", a_task(server["api"]))
    page.click("#job-save")
    toast = v.toast("danger")
    expect(toast).to_have_class(re.compile(r"\bshow\b"))
    expect(toast).not_to_have_class(re.compile(r"\bshowing\b"))  # faded in
    expect(page.locator("#job-dialog")).to_be_visible()
    v.shot(f"30-toast-over-dialog-{size}", full_page=False)
    header = page.locator("#job-dialog .modal-header").bounding_box()
    footer = page.locator("#job-dialog .modal-footer").bounding_box()
    box = toast.bounding_box()
    # In view, between the dialog's header and its footer.
    assert header["y"] + header["height"] <= box["y"], f"the toast {box} covers the header {header}"
    assert box["y"] + box["height"] <= footer["y"], f"the toast {box} is over or below the footer {footer}"
    # Nothing lies on top of the buttons: a trial click hit-tests them.
    page.locator("#job-save").click(trial=True, timeout=2000)
    page.locator("#job-dialog .modal-footer [data-bs-dismiss]").click(trial=True, timeout=2000)


def test_the_tokens_page_drops_no_tokens_yet_once_a_token_is_created(visit, browser, tmp_path):
    from playwright.sync_api import expect

    with base.serving(tmp_path, token=False) as bare:
        v = base.Visit(browser, bare["base"])
        try:
            page = v.page
            v.sign_in("admin")
            v.go("/scheduler/admin/tokens")
            expect(page.get_by_text("还没有令牌")).to_be_visible()
            page.fill("#k-label", "first-bot")
            page.click("#token-form button[type=submit]")
            expect(page.locator("#new-token")).to_be_visible()
            expect(page.locator("#tokens tbody tr")).to_have_count(1)
            expect(page.get_by_text("还没有令牌")).to_be_hidden()
        finally:
            v.close()


def test_the_function_list_asks_for_a_choice_and_names_the_field_when_none_was_made(visit, server):
    from playwright.sync_api import expect

    api = server["api"]
    task = a_task(api)
    v = visit()
    page = v.page
    v.sign_in("admin")
    page.click("#new-job")
    expect(page.locator("#f-id")).to_be_focused()
    expect(page.locator("#f-function")).to_have_value("")
    expect(page.locator("#f-function option").first).to_have_text("请选择任务")
    expect(page.locator("#f-function-help")).to_have_text("")
    page.fill("#f-id", "e2e_no_choice")
    page.fill("#f-name", "no choice")
    page.click("#job-save")
    expect(page.locator("#f-function")).to_have_class(base.INVALID)
    expect(page.locator("#f-function + .invalid-feedback")).to_contain_text("函数")
    expect(page.locator("#f-function")).to_be_focused()
    expect(page.locator("#job-dialog")).to_be_visible()
    assert api.request("GET", "/scheduler/api/jobs/e2e_no_choice").status == 404

    page.select_option("#f-function", task)
    expect(page.locator("#f-function")).not_to_have_class(base.INVALID)
    page.click("#job-save")
    expect(page.locator("#job-dialog")).to_be_hidden()
    expect(v.card("e2e_no_choice").locator('[data-f="kind"]')).to_have_text(task)
    # Editing keeps the job's own function.
    v.card("e2e_no_choice").locator("[data-action=edit]").click()
    expect(page.locator("#f-function")).to_have_value(task)
    page.keyboard.press("Escape")
    api.ok("DELETE", "/jobs/e2e_no_choice")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_brand_and_the_menu_button_share_one_line_at_phone_width(visit, lang):
    from playwright.sync_api import expect

    v = visit(**PHONE)
    page = v.page
    v.sign_in("admin")
    v.go(f"/scheduler/?lang={lang}")
    brand, toggler = page.locator(".navbar-brand"), page.locator(".navbar-toggler")
    expect(toggler).to_be_visible()
    lines = brand.evaluate("""(el) => {
        const s = getComputedStyle(el);
        const inner = el.clientHeight - parseFloat(s.paddingTop) - parseFloat(s.paddingBottom);
        return Math.round(inner / parseFloat(s.lineHeight));
    }""")
    assert lines == 1, f"the brand takes {lines} lines"
    b, t = brand.bounding_box(), toggler.bounding_box()
    assert t["y"] < b["y"] + b["height"] and b["y"] < t["y"] + t["height"], (b, t)
    assert t["x"] + t["width"] <= 375 and b["x"] + b["width"] <= t["x"], (b, t)
    v.shot(f"31-phone-brand-{lang}", full_page=False)


def test_a_job_state_says_active_or_paused_and_runs_keep_running(visit, server):
    from playwright.sync_api import expect

    v = visit()
    page = v.page
    v.sign_in("admin")
    card = v.card("heartbeat")
    expect(card.locator('[data-f="state"]')).to_have_text("启用")
    expect(page.locator("#f-state option[value=active]")).to_have_text("启用")
    card.locator("[data-action=pause]").click()
    expect(card.locator('[data-f="state"]')).to_have_text("已暂停")
    card.locator("[data-action=resume]").click()
    expect(card.locator('[data-f="state"]')).to_have_text("启用")
    v.go("/scheduler/?lang=en")
    expect(card.locator('[data-f="state"]')).to_have_text("Active")
    v.go("/scheduler/runs?lang=zh")
    expect(page.locator("#r-status option[value=running]")).to_have_text("执行中")


def test_the_cards_show_the_crontab_text_and_the_interval_and_date_in_words(visit, server):
    from playwright.sync_api import expect

    api = server["api"]
    code = "def execute_task():\n    return 1\n"
    jobs = {
        "e2e_daily": ({"trigger_type": "cron", "cron_expression": "0 2 * * *"}, "0 2 * * *"),
        "e2e_fields": ({"trigger_type": "cron", "cron_day_of_week": "1", "cron_hour": "3"}, "0 3 * * mon"),
        "e2e_seconds": ({"trigger_type": "cron", "cron_expression": "*/20 * * * * *"}, "*/20 * * * * *"),
        "e2e_every": (
            {"trigger_type": "interval", "interval_hours": 1, "interval_minutes": 30},
            "间隔 1 小时 30 分钟",
        ),
        "e2e_once": ({"trigger_type": "date", "run_date": "2099-12-01 10:00:00"}, "一次 2099-12-01 10:00:00"),
    }
    for job_id, (trigger, _) in jobs.items():
        api.ok("POST", "/jobs", {"id": job_id, "name": job_id, "code": code, **trigger})
    try:
        v = visit()
        page = v.page
        v.sign_in("admin")
        for job_id, (_, text) in jobs.items():
            expect(v.card(job_id).locator('[data-f="trigger"]')).to_have_text(text)
        expect(v.card("e2e_daily").locator('[data-f="trigger_description"]')).to_have_text("每天 02:00 执行")
        # The cards the script refreshes read the same.
        v.card("e2e_daily").locator("[data-action=pause]").click()
        expect(v.card("e2e_daily").locator('[data-f="state"]')).to_have_text("已暂停")
        page.evaluate(
            "document.querySelector('.wf-job[data-job-id=e2e_fields] [data-f=trigger]').textContent = ''"
        )
        page.fill("#f-q", "e2e_")
        expect(page.locator(".wf-job")).to_have_count(len(jobs))
        for job_id, (_, text) in jobs.items():
            expect(v.card(job_id).locator('[data-f="trigger"]')).to_have_text(text)
        for trigger in page.locator('[data-f="trigger"]').all_text_contents():
            assert not APS_TEXT.match(trigger), trigger
        v.go("/scheduler/?lang=en&q=e2e_")
        expect(v.card("e2e_every").locator('[data-f="trigger"]')).to_have_text("every 1 hour 30 minutes")
        expect(v.card("e2e_once").locator('[data-f="trigger"]')).to_have_text("once at 2099-12-01 10:00:00")
        expect(v.card("e2e_daily").locator('[data-f="trigger"]')).to_have_text("0 2 * * *")
    finally:
        for job_id in jobs:
            api.ok("DELETE", f"/jobs/{job_id}")


def test_a_one_off_job_that_has_fired_is_completed(visit, server):
    from playwright.sync_api import expect

    api = server["api"]
    api.ok(
        "POST",
        "/jobs",
        {
            "id": "e2e_one_off",
            "name": "one-off",
            "code": "def execute_task():\n    return 1\n",
            "trigger_type": "date",
            "run_date": in_zone(2),
        },
    )
    try:
        wait_until(
            lambda: (
                api.ok("GET", "/runs?job_id=e2e_one_off")["runs"]
                and api.ok("GET", "/jobs/e2e_one_off")["next_run_time"] is None
            ),
            30,
            what="the one-off job to fire",
        )
        v = visit()
        page = v.page
        v.sign_in("admin")
        card = v.card("e2e_one_off")
        expect(card.locator('[data-f="state"]')).to_have_text("已完成")
        expect(card.locator('[data-f="next_run_time"]')).to_have_text("—")
        page.fill("#f-q", "e2e_one_off")  # the refreshed card says the same
        expect(page.locator(".wf-job")).to_have_count(1)
        expect(card.locator('[data-f="state"]')).to_have_text("已完成")
        expect(v.card("heartbeat")).to_have_count(0)
        v.go("/scheduler/?lang=en")
        expect(card.locator('[data-f="state"]')).to_have_text("Completed")
        expect(v.card("heartbeat").locator('[data-f="state"]')).to_have_text("Active")
    finally:
        api.ok("DELETE", "/jobs/e2e_one_off")
