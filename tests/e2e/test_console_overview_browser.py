"""The overview page in a real Chromium, against a real ``whalefall serve``.

Sign-in lands on it; the success-rate chart holds the last 7 days of the server's zone; a failure
made through the API shows under recent failures, after a refresh from the API, with a link that
opens the run; the cards stack at phone width.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from tests.e2e import test_console_browser as base
from tests.e2e.test_console_pages_browser import finished_run

pytestmark = pytest.mark.process

server, browser, visit = base.server, base.browser, base.visit

CHART = "echarts.getInstanceByDom(document.getElementById('ov-chart'))"
FAILING = "def execute_task():\n    raise RuntimeError('overview needle <b>bold</b>')\n"


def test_sign_in_lands_on_the_overview_with_seven_days_charted(visit):
    from playwright.sync_api import expect

    v = visit(viewport={"width": 1366, "height": 900})
    page = v.page
    v.sign_in("viewer", landing=None)
    expect(page).to_have_url(re.compile(r"/scheduler/overview$"))
    expect(page.locator("#nav-overview")).to_have_attribute("aria-current", "page")
    expect(page.locator("#ov-health")).to_have_attribute("data-status", "healthy")
    expect(page.locator('#ov-health [data-f="badge"]')).to_have_text("正常")
    # The seven local days, oldest first, ending today in the server's zone.
    today = datetime.now(base.TZ).date()
    days = [(today - timedelta(days=6 - i)).isoformat() for i in range(7)]
    page.wait_for_function(f"() => window.echarts && {CHART}")
    assert page.evaluate(f"() => {CHART}.getOption().xAxis[0].data") == days
    assert len(page.evaluate(f"() => {CHART}.getOption().series[0].data")) == 7
    # The next runs list the seeded jobs, each a link to its page.
    expect(page.locator("#ov-next li").first).to_be_visible()
    expect(page.locator("#ov-deliveries-all")).to_have_attribute("href", "/scheduler/alerts/deliveries")
    v.shot("overview")


def test_a_failure_made_through_the_api_shows_with_a_link_to_its_run(visit, server):
    from playwright.sync_api import expect

    api = server["api"]
    api.ok(
        "POST",
        "/jobs",
        {
            "id": "e2e_ov_fail",
            "name": "会失败",
            "trigger_type": "interval",
            "interval_days": 1,
            "code": FAILING,
        },
    )
    try:
        v = visit(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        page = v.page
        v.sign_in("admin", landing=None)
        expect(page.locator("#overview")).to_be_visible()
        run = finished_run(api, "e2e_ov_fail")
        assert run["status"] == "failed", run
        item = page.locator(f'#ov-failures li[data-run-id="{run["id"]}"]')
        expect(item).to_have_count(0)  # the page was drawn before the run failed
        page.evaluate("() => WF.overview.now()")  # what the 30 s timer does
        expect(item).to_be_visible()
        expect(item.locator('[data-f="job_id"]')).to_have_text("e2e_ov_fail")
        expect(item.locator('[data-f="status"]')).to_have_text("失败")
        expect(item.locator('[data-f="error"]')).to_contain_text("overview needle <b>bold</b>")
        expect(item.locator("b")).to_have_count(0)  # text, never markup
        # Phone width: the cards stack, one above the other.
        boxes = [page.locator(f"#{id}").bounding_box() for id in ("ov-health", "ov-failures")]
        assert boxes[0]["y"] < boxes[1]["y"] and abs(boxes[0]["x"] - boxes[1]["x"]) < 30
        item.locator('[data-f="link"]').click()
        expect(page).to_have_url(re.compile(rf"/scheduler/runs/{run['id']}$"))
        expect(page.locator("h1")).to_contain_text(str(run["id"]))
        # And after a reload it is rendered by the server too.
        v.go("/scheduler/overview?lang=en")
        expect(page.locator(f'#ov-failures li[data-run-id="{run["id"]}"] [data-f="status"]')).to_have_text(
            "failed"
        )
    finally:
        api.ok("DELETE", "/jobs/e2e_ov_fail")
