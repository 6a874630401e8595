"""A code job's version history on its page: the list, what a change did as a coloured unified
diff, and an admin's restore after a confirmation (which is itself a new version).

Same server, browser and ``visit`` helper as ``test_console_browser.py`` (a server of this
module's own).
"""

from __future__ import annotations

import pytest

from tests.e2e import test_console_browser as base

pytestmark = pytest.mark.process

server, browser, visit = base.server, base.browser, base.visit

V1 = "def execute_task():\n    return 1\n"
V2 = "def execute_task():\n    return 2\n"
NOTE = "<b>bold</b> move to two"


def test_an_admin_edits_with_a_note_reads_the_diff_and_restores_after_confirming(visit, server):
    from playwright.sync_api import expect

    api = server["api"]
    api.ok(
        "POST",
        "/jobs",
        {
            "id": "versioned",
            "name": "Versioned",
            "trigger_type": "cron",
            "cron_expression": "0 2 * * *",
            "code": V1,
        },
    )

    v = visit(viewport={"width": 1366, "height": 900})
    page = v.page
    v.sign_in("admin", landing="/scheduler/jobs/versioned")
    # The change is made in the job dialog, with a note about it.
    page.click("#job-actions [data-action=edit]")
    expect(page.locator("#job-dialog")).to_be_visible()
    base.type_code(page, ["def execute_task():", "return 2"])
    page.fill("#f-version_note", NOTE)
    page.click("#job-save")
    expect(page.locator("#job-dialog")).to_be_hidden()
    rows = page.locator("#version-list [data-version]")
    expect(rows).to_have_count(2)
    newest = page.locator('#version-list [data-version="2"]')
    expect(newest.locator('[data-f="current"]')).to_be_visible()
    expect(newest.locator('[data-f="note"]')).to_have_text(NOTE)  # markup shown as text
    expect(newest.locator("[data-version-action=restore]")).to_have_count(0)

    newest.locator("[data-version-action=diff]").click()
    diff = page.locator("#version-diff-text")
    expect(diff.locator(".wf-diff-del")).to_have_text("-    return 1")
    expect(diff.locator(".wf-diff-add")).to_have_text("+    return 2")
    expect(diff.locator(".wf-diff-hunk")).to_have_count(1)
    assert page.locator("#version-diff b").count() == 0
    v.shot("job-versions")

    page.locator('#version-list [data-version="1"] [data-version-action=restore]').click()
    expect(page.locator('#wf-confirm [data-f="question"]')).to_contain_text("版本 1")
    expect(page.locator("#wf-confirm .modal-footer [data-bs-dismiss]")).to_be_focused()
    page.click('#wf-confirm [data-f="ok"]')
    expect(v.toast()).to_contain_text("版本 1")
    expect(rows).to_have_count(3)
    restored = page.locator('#version-list [data-version="3"]')
    expect(restored.locator('[data-f="current"]')).to_be_visible()
    expect(restored.locator('[data-f="restored_from"]')).to_have_text("恢复自版本 1")
    assert api.ok("GET", "/jobs/versioned")["code"] == V1


def test_a_viewer_reads_the_history_but_has_no_restore(visit, server):
    from playwright.sync_api import expect

    server["api"].ok(
        "POST",
        "/jobs",
        {
            "id": "read_only",
            "name": "Read only",
            "trigger_type": "cron",
            "cron_expression": "0 2 * * *",
            "code": V1,
        },
    )
    server["api"].ok("PUT", "/jobs/read_only", {"code": V2})
    v = visit()
    v.sign_in("viewer", landing="/scheduler/jobs/read_only")
    expect(v.page.locator("#version-list [data-version]")).to_have_count(2)
    expect(v.page.locator("[data-version-action=diff]")).to_have_count(1)
    expect(v.page.locator("[data-version-action=restore]")).to_have_count(0)
