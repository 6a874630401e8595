"""Alert settings and maintenance windows in a real Chromium, against a real ``whalefall serve``.

A job's alert section is filled in the dialog (a bad threshold refused under its field) and read
back from the API, kept by an edit and by a copy; the global policy is saved from the channels
page; a recurring window and a one-off window open now are created through the dialog, the
banner on the jobs page names the open one, it is ended early after a confirmation and the
banner goes; the recurring one is deleted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.e2e import test_console_browser as base

pytestmark = pytest.mark.process

server, browser, visit = base.server, base.browser, base.visit

CHANNELS = "/scheduler/admin/alerts"
WINDOWS = "/scheduler/alerts/windows"


def make_job(api, job_id: str) -> None:
    body = {"id": job_id, "name": job_id, "function": "heartbeat", "trigger_type": "cron"}
    api.ok("POST", "/jobs", {**body, "cron_expression": "0 3 1 1 *", "category": "e2e"})


def local_input(when: datetime) -> str:
    return when.astimezone(base.TZ).strftime("%Y-%m-%dT%H:%M:%S")


def test_a_jobs_alert_settings_are_set_in_the_dialog_read_back_kept_and_copied(visit, server):
    from playwright.sync_api import expect

    api = server["api"]
    api.ok("POST", "/alert-channels", {"name": "e2e-ops", "url": "json://127.0.0.1:9/ops"})
    make_job(api, "e2e_notify")
    v = visit(viewport={"width": 1366, "height": 900})
    page = v.page
    v.sign_in("admin")
    card = v.card("e2e_notify")
    expect(card).to_be_visible()
    page.wait_for_load_state("networkidle")  # the page's scripts handle the card's buttons
    card.locator("[data-action=edit]").click()
    section = page.locator("#notify-section")
    expect(section).to_be_visible()
    expect(page.locator("#f-notify-enabled")).to_be_checked()
    expect(page.locator('#f-notify-channels option[value="e2e-ops"]')).to_have_count(1)

    page.select_option("#f-notify-channels", ["e2e-ops"])
    page.check("#f-notify-event-failure")
    page.check("#f-notify-event-long_running")
    page.fill("#f-notify-threshold", "0")
    page.fill("#f-notify-long-running", "900")
    page.click("#job-save")
    expect(page.locator("#f-notify-threshold")).to_have_class(base.INVALID)
    expect(page.locator("#f-notify-threshold + .invalid-feedback")).not_to_be_empty()
    page.fill("#f-notify-threshold", "3")
    page.click("#job-save")
    expect(v.toast()).to_contain_text("e2e_notify")
    expect(page.locator("#job-dialog")).to_be_hidden()
    wanted = {
        "channels": ["e2e-ops"],
        "events": ["failure", "long_running"],
        "threshold": 3,
        "long_running_seconds": 900,
    }
    assert api.ok("GET", "/jobs/e2e_notify")["notify"] == wanted

    # Editing something else keeps the alert settings, shown as they were.
    card.locator("[data-action=edit]").click()
    expect(page.locator("#f-notify-threshold")).to_have_value("3")
    expect(page.locator("#f-notify-event-long_running")).to_be_checked()
    expect(page.locator("#f-notify-event-timeout")).not_to_be_checked()
    expect(page.locator('#f-notify-channels option[value="e2e-ops"]')).to_have_js_property("selected", True)
    page.fill("#f-description", "changed")
    page.click("#job-save")
    expect(page.locator("#job-dialog")).to_be_hidden()
    job = api.ok("GET", "/jobs/e2e_notify")
    assert job["description"] == "changed" and job["notify"] == wanted

    # A copy keeps them too.
    card.locator("[data-action=copy]").click()
    expect(page.locator("#f-id")).to_have_value("e2e_notify_copy")
    expect(page.locator("#f-notify-long-running")).to_have_value("900")
    page.click("#job-save")
    expect(page.locator("#job-dialog")).to_be_hidden()
    assert api.ok("GET", "/jobs/e2e_notify_copy")["notify"] == wanted

    # Off, and everything else back to the global policy's: only enabled is sent.
    card.locator("[data-action=edit]").click()
    expect(page.locator("#f-notify-threshold")).to_have_value("3")
    page.uncheck("#f-notify-enabled")
    page.select_option("#f-notify-channels", [])
    page.uncheck("#f-notify-event-failure")
    page.uncheck("#f-notify-event-long_running")
    page.fill("#f-notify-threshold", "")
    page.fill("#f-notify-long-running", "")
    page.click("#job-save")
    expect(page.locator("#job-dialog")).to_be_hidden()
    assert api.ok("GET", "/jobs/e2e_notify")["notify"] == {"enabled": False}


def test_the_global_policy_is_saved_from_the_channels_page(visit, server):
    from playwright.sync_api import expect

    api = server["api"]
    api.ok("POST", "/alert-channels", {"name": "e2e-policy", "url": "json://127.0.0.1:9/policy"})
    v = visit(viewport={"width": 1366, "height": 900})
    page = v.page
    v.sign_in("admin")
    v.go(CHANNELS)
    expect(page.locator("#p-channels-all")).to_be_checked()
    expect(page.locator("#p-channels")).to_be_disabled()
    expect(page.locator("#p-throttle")).to_have_value("10")
    page.check("#p-channels-chosen")
    page.select_option("#p-channels", ["e2e-policy"])
    page.uncheck("#p-event-partial")
    page.check("#p-event-long_running")
    page.fill("#p-threshold", "")
    page.click("#policy-save")
    expect(page.locator("#p-threshold")).to_have_class(base.INVALID)
    page.fill("#p-threshold", "2")
    page.fill("#p-throttle", "15")
    page.fill("#p-long-running", "3600")
    page.click("#policy-save")
    expect(v.toast()).to_be_visible()
    expect(page.locator("#p-threshold")).not_to_have_class(base.INVALID)
    policy = api.ok("GET", "/alert-policy")
    assert policy["channels"] == ["e2e-policy"] and policy["threshold"] == 2
    assert policy["throttle_seconds"] == 900 and policy["long_running_seconds"] == 3600
    assert "partial" not in policy["events"] and "long_running" in policy["events"]
    page.reload()
    expect(page.locator("#p-channels-chosen")).to_be_checked()
    expect(page.locator("#p-throttle")).to_have_value("15")
    api.ok("PUT", "/alert-policy", {})  # back to the defaults for the other tests


def test_windows_are_created_shown_on_the_jobs_page_ended_early_and_deleted(visit, server):
    from playwright.sync_api import expect

    api = server["api"]
    make_job(api, "e2e_window_job")
    v = visit(viewport={"width": 1366, "height": 900})
    page = v.page
    v.sign_in("admin")
    expect(page.locator("#job-grid")).to_be_visible()
    expect(page.locator("#window-banner .alert")).to_have_count(0)
    page.click("#nav-windows")
    expect(page.locator("h1")).to_have_text("维护窗口")

    # Recurring: the expression is described; a missing duration is refused under its field.
    page.click("#new-window")
    expect(page.locator("#w-name")).to_be_focused()
    page.fill("#w-name", "e2e-nightly")
    page.click("label[for=w-kind-recurring]")
    page.fill("#w-cron", "0 3 * * *")
    expect(page.locator("#w-cron-description")).to_contain_text("03:00")
    page.click("#window-form button[type=submit]")
    expect(page.locator("#w-duration_minutes")).to_have_class(base.INVALID)
    page.fill("#w-duration_minutes", "60")
    page.click("#window-form button[type=submit]")
    nightly = page.locator('#windows tr[data-name="e2e-nightly"]')
    expect(nightly).to_be_visible()
    expect(nightly.locator('[data-f="cron"]')).to_have_text("0 3 * * *")
    expect(nightly.locator('[data-f="duration"]')).to_have_text("每次 60 分钟")

    # Once, open now, for one job chosen in the picker, holding its runs.
    now = datetime.now(base.TZ)
    page.click("#new-window")
    page.fill("#w-name", "e2e-upgrade")
    page.fill("#w-starts_at", local_input(now - timedelta(minutes=5)))
    page.fill("#w-ends_at", local_input(now + timedelta(hours=2)))
    page.select_option("#w-scope", "jobs")
    page.select_option("#w-scope-jobs", ["e2e_window_job"])
    page.check("#w-hold_runs")
    page.click("#window-form button[type=submit]")
    upgrade = page.locator('#windows tr[data-name="e2e-upgrade"]')
    expect(upgrade.locator('[data-f="state"]')).to_have_attribute("data-state", "open")
    expect(upgrade.locator('[data-f="scope_values"]')).to_have_text("e2e_window_job")
    expect(upgrade.locator('[data-f="hold_runs"]')).to_have_text("是")
    v.shot("alerts-windows")

    # The jobs page says it is open, until when, and that runs are held.
    v.go("/scheduler/")
    banner = page.locator("#window-banner .alert")
    expect(banner).to_have_count(1)
    expect(banner.locator('[data-f="name"]')).to_have_text("e2e-upgrade")
    expect(banner.locator('[data-f="until"]')).to_contain_text(
        (now + timedelta(hours=2)).strftime("%Y-%m-%d")
    )
    expect(banner.locator('[data-f="held"]')).to_have_text("计划运行暂停")
    v.shot("alerts-windows-banner")

    # End it early, after a confirmation: the banner goes.
    v.go(WINDOWS)
    upgrade.locator("[data-action=end]").click()
    expect(page.locator("#wf-confirm [data-f=question]")).to_contain_text("e2e-upgrade")
    page.click("#wf-confirm [data-f=ok]")
    expect(upgrade.locator('[data-f="state"]')).to_have_attribute("data-state", "ended")
    expect(upgrade.locator("[data-action=end]")).to_have_count(0)
    v.go("/scheduler/")
    expect(page.locator("#job-grid")).to_be_visible()
    expect(page.locator("#window-banner .alert")).to_have_count(0)

    # Delete the recurring one, after a confirmation.
    v.go(WINDOWS)
    nightly.locator("[data-action=delete]").click()
    expect(page.locator("#wf-confirm [data-f=question]")).to_contain_text("e2e-nightly")
    page.click("#wf-confirm [data-f=ok]")
    expect(nightly).to_have_count(0)
    assert [w["name"] for w in api.ok("GET", "/maintenance-windows")["windows"]] == ["e2e-upgrade"]


def test_the_banner_is_redrawn_with_the_cards(visit, server):
    from playwright.sync_api import expect

    api = server["api"]
    v = visit(viewport={"width": 1366, "height": 900})
    page = v.page
    v.sign_in("viewer")
    expect(page.locator("#job-grid")).to_be_visible()
    banner = page.locator('#window-banner .alert:has([data-f="name"]:text-is("e2e-refresh"))')
    expect(banner).to_have_count(0)
    now = datetime.now(base.TZ)
    window = api.ok(
        "POST",
        "/maintenance-windows",
        {
            "name": "e2e-refresh",
            "starts_at": (now - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S"),
            "ends_at": (now + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S"),
        },
    )
    page.fill("#f-q", "heartbeat")  # a filter redraws the cards, and the banner with them
    expect(banner).to_have_count(1)
    expect(banner.locator('[data-f="held"]')).to_have_text("任务照常运行，告警静默")
    api.ok("POST", f"/maintenance-windows/{window['id']}/end")
    page.fill("#f-q", "")
    expect(banner).to_have_count(0)
