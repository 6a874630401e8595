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
from tests.e2e import test_console_fleet_browser as fleet
from tests.proc import wait_until

pytestmark = pytest.mark.process

server, browser, visit = base.server, base.browser, base.visit
mariadb = fleet.mariadb
PHONE = {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True}
APS_TEXT = re.compile(r"^(cron|interval|date)\[")

# Every word of the visible text of a table's cells, with its width set on one line (in its own
# font) and the width of its cell's content box. A Latin word (an id, a host, a user name) is one
# word, each CJK character another (CJK text may wrap between any two characters); a cell's label
# (.wf-cell-label) and a header cell count as one word each, as they must stay on one line.
# `kept` marks the words that must not wrap at all (labels, headers, ids, hosts, user names:
# .wf-keep cells), with the number of lines each takes.
MEASURE = """(table) => {
  const CJK = "\\u2e80-\\u9fff\\uac00-\\ud7af\\uf900-\\ufaff\\uff00-\\uffef\\u3000-\\u303f";
  const out = [];
  for (const cell of table.querySelectorAll("th, td")) {
    if (!cell.getClientRects().length) continue;  // hidden
    const style = getComputedStyle(cell);
    const content = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (!parent.getClientRects().length) continue;
      const whole = cell.tagName === "TH" || parent.closest(".wf-cell-label");
      const kept = Boolean(whole || cell.classList.contains("wf-keep"));
      const pattern = whole ? /\\S(?:.*\\S)?/g : new RegExp("[^\\\\s" + CJK + "]+|\\\\S", "g");
      for (const match of node.data.matchAll(pattern)) {
        const probe = document.createElement("span");
        probe.style.cssText = "position:absolute;visibility:hidden;white-space:nowrap;left:0;top:0";
        probe.textContent = match[0];
        parent.appendChild(probe);
        const natural = probe.getBoundingClientRect().width;
        probe.remove();
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
        out.push({ word: match[0], natural: natural, cell: content, kept: kept, lines: tops.size });
      }
    }
  }
  return out;
}"""


def assert_readable_at_phone_width(page, table: str) -> None:
    """No cell of the table is narrower than its longest word, no id, host, user name or label
    wraps, and the table's buttons are inside the viewport."""
    words = page.locator(table).evaluate(MEASURE)
    assert words, f"{table} shows no text"
    squeezed = [w for w in words if w["natural"] > w["cell"] + 0.5]
    assert not squeezed, f"{table}: cells narrower than their longest word: {squeezed[:8]}"
    broken = [w for w in words if w["kept"] and w["lines"] > 1]
    assert not broken, f"{table}: ids, hosts, names or labels broken over lines: {broken[:8]}"
    width = page.evaluate("innerWidth")
    for button in page.locator(f"{table} button:visible, {table} a.btn:visible").all():
        box = button.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (
            f"{table}: {button.text_content()!r} is outside the {width}px viewport: {box}"
        )
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "the page scrolls sideways"


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


def test_a_toast_on_the_page_moves_into_a_dialog_that_opens(visit):
    from playwright.sync_api import expect

    v = visit(**PHONE)
    page = v.page
    start = datetime.now()
    page.clock.install(time=start)
    v.sign_in("admin")
    expect(v.card("heartbeat")).to_be_visible()
    page.wait_for_load_state("networkidle")  # the grid's first refresh is in: the card stays
    # Time stands still from here on: no toast hides itself before the dialog has opened.
    page.clock.pause_at(start + timedelta(minutes=10))
    v.card("heartbeat").locator("[data-action=run]").click()
    expect(page.locator("#wf-toasts .toast[data-kind=success]")).to_be_visible()
    page.click("#new-job")
    expect(page.locator("#f-id")).to_be_focused()  # the dialog is open (shown.bs.modal)
    toast = page.locator("#job-dialog .modal-body .toast[data-kind=success]")
    expect(toast).to_be_visible()
    footer = page.locator("#job-dialog .modal-footer").bounding_box()
    box = toast.bounding_box()
    assert box["y"] + box["height"] <= footer["y"], f"the toast {box} is over or below the footer {footer}"
    page.locator("#job-save").click(trial=True, timeout=2000)
    page.keyboard.press("Escape")
    expect(page.locator("#job-dialog")).to_be_hidden()
    expect(page.locator("#wf-toasts .toast[data-kind=success]")).to_be_attached()


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
        "e2e_year": ({"trigger_type": "cron", "cron_year": "2030", "cron_minute": "30"}, "0 30 * * * * 2030"),
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
        # The editor reads a job's fields as APScheduler does: "*" before the last one given.
        v.card("e2e_year").locator("[data-action=edit]").click()
        expect(page.locator("#f-cron_expression")).to_have_value("0 30 * * * * 2030")
        expect(page.locator("#f-cron_hour")).to_have_value("*")
        page.keyboard.press("Escape")
        expect(page.locator("#job-dialog")).to_be_hidden()
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
            "run_date": in_zone(5),
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


# --- item 8 ----------------------------------------------------------------------------------


def test_the_runs_instances_audit_and_users_tables_are_cards_at_phone_width(visit, server):
    from playwright.sync_api import expect

    api = server["api"]
    api.ok(
        "POST",
        "/jobs",
        {
            "id": "e2e_phone_table",
            "name": "nightly_capacity_rollup",
            "code": "def execute_task():\n    raise RuntimeError('deliberately_failing_for_the_phone_layout')\n",
            "trigger_type": "interval",
            "interval_days": 1,
        },
    )
    instance = api.ok(
        "POST",
        "/instances",
        {
            "name": "orders-primary-eu-west",
            "db_type": "mysql",
            "host": "db-orders-01.eu-west.internal",
            "port": 3306,
            "username": "whalefall_monitor",
            "password": "x",
            "tags": ["prod", "orders"],
        },
    )
    try:
        run_id = api.ok("POST", "/jobs/e2e_phone_table/run")["run_id"]
        wait_until(
            lambda: api.ok("GET", f"/runs/{run_id}")["status"] not in ("queued", "running"),
            30,
            what="the run to finish",
        )
        v = visit(**PHONE)
        page = v.page
        v.sign_in("admin")
        pages = [
            ("/scheduler/runs", "#run-rows", ".wf-runs", "32-phone-runs"),
            ("/scheduler/instances", "#instances tbody tr", "#instances", "33-phone-instances"),
            ("/scheduler/admin/audit", "#audit tbody tr", "#audit", "34-phone-audit"),
            ("/scheduler/admin/users", "#users tbody tr", "#users", "35-phone-users"),
        ]
        for path, rows, table, shot in pages:
            v.go(path)
            expect(page.locator(rows).first).to_be_visible()
            assert_readable_at_phone_width(page, table)
            v.shot(shot)
        # The run list the script refreshes keeps the layout.
        v.go("/scheduler/runs")
        page.clock.install()
        page.reload()
        expect(page.locator("#run-rows tr").first).to_be_visible()
        page.evaluate("document.querySelector('#run-rows tr').remove()")
        page.clock.run_for(31_000)
        expect(page.locator(f'#run-rows tr[data-run-id="{run_id}"]')).to_be_visible()
        assert_readable_at_phone_width(page, ".wf-runs")
        # Still a table at desktop width.
        page.set_viewport_size({"width": 1366, "height": 900})
        assert page.locator(".wf-runs thead").is_visible()
    finally:
        api.ok("DELETE", "/jobs/e2e_phone_table")
        api.ok("DELETE", f"/instances/{instance['id']}")


def test_the_accounts_table_is_cards_at_phone_width(visit, server, mariadb):
    from playwright.sync_api import expect

    api, url = server["api"], mariadb
    instance = api.ok(
        "POST",
        "/instances",
        {
            "name": "e2e-phone-mariadb",
            "db_type": "mysql",
            "host": url.host or "127.0.0.1",
            "port": url.port or 3306,
            "username": url.username or "root",
            "password": url.password or "",
        },
    )
    try:
        fleet.run_task(api, "e2e_phone_sync", "sync_accounts")
        v = visit(**PHONE)
        page = v.page
        v.sign_in("admin")
        v.go(f"/scheduler/instances/{instance['id']}")
        expect(page.locator("#accounts tbody tr").first).to_be_visible()
        assert_readable_at_phone_width(page, "#accounts")
        v.shot("36-phone-accounts")
    finally:
        api.ok("DELETE", "/jobs/e2e_phone_sync")
        api.ok("DELETE", f"/instances/{instance['id']}")


def test_the_field_moved_to_during_a_dialogs_fade_in_keeps_the_focus(visit):
    """A user (or a test) typing into one field, then the next, while the dialog still fades in:
    the dialog's own "shown" handler (which focuses its first field) must not take the focus back."""
    v = visit(viewport={"width": 1366, "height": 900})
    from playwright.sync_api import expect

    v.sign_in("admin", landing="/scheduler/instances")
    expect(v.page.locator("#new-instance")).to_be_visible()
    v.page.wait_for_load_state("networkidle")  # the page's scripts have bound the button
    focused = v.page.evaluate(
        """() => new Promise((resolve) => {
            const dialog = document.getElementById("instance-dialog");
            dialog.addEventListener("shown.bs.modal", () => setTimeout(() => resolve({
                active: document.activeElement.id,
                opening: dialog.classList.contains("show"),
            })), { once: true });
            setTimeout(() => resolve({ active: "the dialog did not open in 10 s" }), 10000);
            document.getElementById("new-instance").click();
            // Once it shows, still fading in: the first field, then the second.
            const typeAway = () => {
                if (getComputedStyle(dialog).display === "none") return setTimeout(typeAway, 5);
                document.getElementById("i-name").focus();
                document.getElementById("i-host").focus();
            };
            typeAway();
        })"""
    )
    assert focused == {"active": "i-host", "opening": True}


def test_escape_pressed_while_a_dialog_fades_in_closes_it_once_open(visit):
    from playwright.sync_api import expect

    v = visit(viewport={"width": 1366, "height": 900})
    v.sign_in("admin")
    expect(v.page.locator("#new-job")).to_be_visible()
    v.page.wait_for_load_state("networkidle")
    v.page.evaluate(
        """() => {
            const dialog = document.getElementById("job-dialog");
            // Right after it starts to open (Bootstrap ignores its own Escape until it has).
            dialog.addEventListener("show.bs.modal", () => setTimeout(() => dialog.dispatchEvent(
                new KeyboardEvent("keydown", { key: "Escape", bubbles: true }))), { once: true });
            dialog.addEventListener("hidden.bs.modal", () => { window.wfClosed = true; }, { once: true });
            document.getElementById("new-job").click();
        }"""
    )
    wait_until(
        lambda: v.page.evaluate("() => window.wfClosed === true"), 5, what="the dialog to open, then close"
    )
    expect(v.page.locator("#job-dialog")).to_be_hidden()
