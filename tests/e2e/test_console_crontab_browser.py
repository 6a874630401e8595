"""A crontab typed into the console's job editor means what cron means, in a real Chromium.

Same server, browser and ``visit`` helper as ``test_console_browser.py`` (a server of this
module's own). The expected run times come from cronsim, an independent cron implementation.
"""

from __future__ import annotations

from datetime import datetime
from itertools import islice

import cronsim
import pytest

from tests.e2e import test_console_browser as base

pytestmark = pytest.mark.process

server, browser, visit = base.server, base.browser, base.visit


def cron_times(expression: str, count: int) -> list[str]:
    now = datetime.now(base.TZ).replace(microsecond=0)
    return [t.strftime("%Y-%m-%d %H:%M:%S") for t in islice(cronsim.CronSim(expression, now), count)]


def test_a_typed_crontab_on_the_1st_and_mondays_previews_and_saves_as_cron_means_it(visit):
    from playwright.sync_api import expect

    v = visit(viewport={"width": 1366, "height": 900})
    page = v.page
    v.sign_in("admin")
    expected = cron_times("0 2 1 * 1", 5)

    page.click("#new-job")
    expect(page.locator("#job-dialog")).to_be_visible()
    expect(page.locator("#f-id")).to_be_focused()  # the dialog is shown: typing lands where aimed
    page.fill("#f-id", "e2e_either")
    page.fill("#f-name", "E2E 1st and Mondays")
    page.select_option("#f-function", "heartbeat")  # a built-in task: the kind the dialog opens on
    page.fill("#f-cron_expression", "0 2 1 * 1")
    expect(page.locator("#f-cron_day")).to_have_value("1")
    expect(page.locator("#f-cron_day_of_week")).to_have_value("1")
    expect(page.locator("#preview-description")).to_have_text("每月 1 日和每周一 02:00 执行")
    expect(page.locator("#preview-times li")).to_have_text(expected)
    page.click("#job-save")
    expect(v.toast()).to_contain_text("e2e_either")
    expect(page.locator("#job-dialog")).to_be_hidden()

    card = v.card("e2e_either")
    expect(card.locator('[data-f="trigger"]')).to_have_text("0 2 1 * 1")
    expect(card.locator('[data-f="trigger_description"]')).to_have_text("每月 1 日和每周一 02:00 执行")
    expect(card.locator('[data-f="next_run_time"]')).to_have_text(expected[0])

    # Editing keeps the crontab as written, so saving again keeps its meaning.
    card.locator("[data-action=edit]").click()
    expect(page.locator("#f-cron_expression")).to_have_value("0 2 1 * 1")
    expect(page.locator("#preview-description")).to_have_text("每月 1 日和每周一 02:00 执行")
    # Changing a field sends the fields, which need both days: the box says so in seven fields.
    page.fill("#f-cron_hour", "3")
    expect(page.locator("#f-cron_expression")).to_have_value("0 0 3 1 * mon *")
    expect(page.locator("#preview-description")).to_have_text("在 03:00，每月的 1 号，仅在周一执行")
    page.keyboard.press("Escape")
    expect(page.locator("#job-dialog")).to_be_hidden()
