"""The alert pages in a real Chromium, against a real ``whalefall serve``.

A webhook channel is added through the dialog, pointing at an HTTP receiver on
127.0.0.1 (a real port: the server is another process); a test alert is sent
and seen arriving, then again while the receiver answers 500, and the failure
and its reason show in the row; the channel is edited (its URL kept) and
deleted; both deliveries are on the history page, told apart by the status filter.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e import test_console_browser as base

pytestmark = pytest.mark.process

server, browser, visit = base.server, base.browser, base.visit

CHANNELS = "/scheduler/admin/alerts"
HISTORY = "/scheduler/alerts/deliveries"
MARKUP = "<img src=x onerror=alert(1)>夜班"


def test_a_webhook_channel_is_added_tested_sent_and_failed_edited_and_deleted(visit, server, http_receiver):
    from playwright.sync_api import expect

    v = visit()
    page = v.page
    v.sign_in("admin")
    expect(page.locator("#job-grid")).to_be_visible()
    # In the admin menu.
    page.click("text=管理")
    page.click("#nav-alert-channels")
    expect(page.locator("h1")).to_have_text("告警渠道")
    expect(page.locator("#channels-empty")).to_be_visible()

    # Add: a URL Apprise cannot use is refused under the URL field.
    page.click("#new-channel")
    expect(page.locator("#c-name")).to_be_focused()
    expect(page.locator("#c-url-help")).to_contain_text("json://")
    page.fill("#c-name", "e2e-hook")
    page.fill("#c-url", "nosuchscheme://x")
    page.click("#channel-form button[type=submit]")
    expect(page.locator("#c-url")).to_have_class(base.INVALID)
    expect(page.locator("#c-url + .invalid-feedback")).to_contain_text("nosuchscheme")
    expect(page.locator("#c-name")).not_to_have_class(base.INVALID)
    hook = f"json://127.0.0.1:{http_receiver.port}/hook"
    page.fill("#c-url", hook)
    page.fill("#c-description", "值班群")
    page.click("#channel-form button[type=submit]")
    row = page.locator('#channels tr[data-name="e2e-hook"]')
    expect(row).to_be_visible()
    expect(v.toast()).to_contain_text("e2e-hook")
    expect(row.locator('[data-f="kind"]')).to_have_text("Webhook")
    expect(row.locator('[data-f="url"]')).to_contain_text(f"127.0.0.1:{http_receiver.port}/hook")
    expect(row.locator('[data-f="description"]')).to_have_text("值班群")
    expect(row.locator('[data-f="enabled"]')).to_have_text("启用")

    # Send a test: it arrives, and the row says 已发送.
    row.locator("[data-action=test]").click()
    expect(row.locator('[data-f="test_status"]')).to_have_text("已发送")
    expect(v.toast()).to_contain_text("e2e-hook")
    request = http_receiver.wait_for(1)[0]
    assert request.method == "POST" and request.path.rstrip("/") == "/hook"
    assert request.json()["channel"] == "e2e-hook"

    # The receiver answers 500: the row says 失败, with the reason, and so does a red toast.
    http_receiver.status = 500
    row.locator("[data-action=test]").click()
    expect(row.locator('[data-f="test_status"]')).to_have_text("失败")
    expect(row.locator('[data-f="test_error"]')).to_contain_text("500")
    expect(v.toast("danger")).to_contain_text("500")
    http_receiver.wait_for(2)
    v.shot("alerts-channels-test-failed")

    # Edit: the URL field starts empty and, left empty, keeps the stored URL.
    row.locator("[data-action=edit]").click()
    expect(page.locator("#c-name")).to_have_value("e2e-hook")
    expect(page.locator("#c-url")).to_have_value("")
    expect(page.locator('[data-f="url_keep"]')).to_be_visible()
    expect(page.locator("#c-description")).to_have_value("值班群")
    expect(page.locator("#c-enabled")).to_be_checked()
    v.shot("alerts-channel-dialog", full_page=False)
    page.fill("#c-description", MARKUP)
    page.uncheck("#c-enabled")
    page.click("#channel-form button[type=submit]")
    expect(row.locator('[data-f="description"]')).to_have_text(MARKUP)  # shown as typed, nothing runs
    expect(row.locator("img")).to_have_count(0)
    expect(row.locator('[data-f="enabled"]')).to_have_text("停用")
    expect(row.locator('[data-f="url"]')).to_contain_text(f"127.0.0.1:{http_receiver.port}/hook")
    stored = server["api"].ok("GET", "/alert-channels")["channels"]
    assert [(c["name"], c["enabled"], c["description"]) for c in stored] == [("e2e-hook", False, MARKUP)]

    # Both deliveries on the history page, told apart by the status filter.
    page.click("#nav-alert-history")
    expect(page.locator("h1")).to_have_text("告警记录")
    deliveries = page.locator("#deliveries tbody tr")
    expect(deliveries).to_have_count(2)
    expect(deliveries.first.locator('[data-f="status"]')).to_have_text("失败")
    expect(deliveries.first.locator('[data-f="channel"]')).to_have_text("e2e-hook")
    expect(deliveries.first.locator('[data-f="event"]')).to_have_text("测试")
    page.select_option("#d-status", "failed")
    page.click("#delivery-filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(deliveries).to_have_count(1)
    expect(deliveries.first.locator('[data-f="error"]')).to_contain_text("500")
    v.shot("alerts-history-failed")
    page.select_option("#d-status", "sent")
    page.click("#delivery-filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"status=sent"))
    expect(deliveries).to_have_count(1)
    expect(deliveries.first.locator('[data-f="status"]')).to_have_text("已发送")
    expect(deliveries.first.locator('[data-f="error"]')).to_have_count(0)

    # Delete, after a confirmation naming the channel.
    v.go(CHANNELS)
    row.locator("[data-action=delete]").click()
    confirm = page.locator("#wf-confirm")
    expect(confirm.locator('[data-f="question"]')).to_contain_text("e2e-hook")
    confirm.locator('[data-f="ok"]').click()
    expect(row).to_have_count(0)
    expect(page.locator("#channels-empty")).to_be_visible()
    assert server["api"].ok("GET", "/alert-channels")["channels"] == []


def test_the_history_is_a_stack_of_cards_on_a_phone_for_a_viewer(visit, server, http_receiver):
    from playwright.sync_api import expect

    api = server["api"]
    channel = api.ok(
        "POST", "/alert-channels", {"name": "phone-hook", "url": f"json://127.0.0.1:{http_receiver.port}/p"}
    )
    api.ok("POST", f"/alert-channels/{channel['id']}/test")
    v = visit(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = v.page
    v.sign_in("viewer")
    expect(page.locator("#job-grid")).to_be_visible()
    v.go(HISTORY + "?channel=phone-hook")
    row = page.locator("#deliveries tbody tr").first
    expect(row.locator('[data-f="status"]')).to_have_text("已发送")
    expect(page.locator("#deliveries thead")).to_be_hidden()
    expect(row.locator(".wf-cell-label").first).to_be_visible()
    assert row.evaluate("r => getComputedStyle(r).display") == "block"
    v.shot("alerts-phone-history")
    v.go(CHANNELS)
    expect(page.locator("body")).to_contain_text("admin")
    v.errors.clear()  # the 403 page is expected
    api.ok("DELETE", f"/alert-channels/{channel['id']}")
