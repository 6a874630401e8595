"""Group and bulk actions, and importing jobs, in a real Chromium against a real ``whalefall serve``.

On the jobs page filtered on a category, the group's pause pauses every job but the one another
group's job depends on, and says why it skipped it; two cards picked and deleted in one go (one
confirmation listing both) delete the one nothing depends on; a YAML file is uploaded, its report
shown before anything changes, then applied; the job dialog's dependency picker lists the jobs.
"""

from __future__ import annotations

import pytest
import yaml

from tests.e2e import test_console_browser as base

pytestmark = pytest.mark.process

server, browser, visit = base.server, base.browser, base.visit


def make_job(api, job_id: str, category: str, **fields) -> None:
    body = {"id": job_id, "name": f"名称 {job_id}", "function": "heartbeat", "trigger_type": "cron"}
    api.ok("POST", "/jobs", {**body, "cron_expression": "0 3 1 1 *", "category": category, **fields})


def confirm(page, expect, text: str):
    box = page.locator("#wf-confirm")
    expect(box.locator('[data-f="question"]')).to_contain_text(text)
    # Focus moves to Cancel once the dialog has opened: Bootstrap ignores a hide while it opens.
    expect(box.locator(".modal-footer [data-bs-dismiss]")).to_be_focused()
    box.locator('[data-f="ok"]').click()
    expect(box).to_be_hidden()
    return box


def test_group_pause_bulk_delete_and_an_import_checked_before_it_is_applied(visit, server):
    from playwright.sync_api import expect

    api = server["api"]
    make_job(api, "grp_up", "grp")
    make_job(api, "grp_other", "grp")
    make_job(api, "grp_down", "elsewhere", depends_on=["grp_up"])
    v = visit(viewport={"width": 1366, "height": 900})
    page = v.page
    v.sign_in("admin", landing="/scheduler/?category=grp")

    group_bar = page.locator("#group-bar")
    expect(group_bar.locator('[data-f="group"]')).to_have_text("grp")
    group_bar.locator('[data-group-action="pause"]').click()
    confirm(page, expect, "grp")
    expect(v.toast("info")).to_contain_text("1 个任务已处理，1 个跳过")
    expect(v.toast("danger")).to_contain_text("grp_down")
    expect(v.card("grp_other")).to_have_attribute("data-state", "paused")
    assert api.ok("GET", "/jobs/grp_up")["state"] == "active"

    # Both cards picked, deleted after one confirmation that lists them.
    for job_id in ("grp_up", "grp_other"):
        v.card(job_id).locator('[data-f="pick"]').check()
    bulk = page.locator("#bulk-bar")
    expect(bulk.locator('[data-f="count"]')).to_have_text("已选 2 个任务")
    bulk.locator('[data-bulk-action="delete"]').click()
    items = page.locator('#wf-confirm [data-f="items"] li')
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("grp_")
    confirm(page, expect, "2")
    expect(v.card("grp_other")).to_have_count(0)
    expect(v.card("grp_up")).to_have_count(1)  # grp_down still depends on it
    expect(v.toast("danger")).to_contain_text("grp_down")

    # An import: the report first, nothing changed until applied.
    exported = yaml.safe_load(api.request("GET", "/scheduler/api/export/jobs").text)
    entries = [e for e in exported["jobs"] if e["id"] == "grp_up"]
    entries[0]["name"] = "改过的名称"
    entries.append(
        {
            "id": "grp_new",
            "name": "新任务",
            "function": "heartbeat",
            "trigger_type": "interval",
            "interval_minutes": 5,
            "category": "grp",
        }
    )
    page.click("#import-jobs")
    dialog = page.locator("#import-dialog")
    expect(dialog).to_be_visible()
    page.set_input_files(
        "#import-file",
        files=[
            {
                "name": "jobs.yaml",
                "mimeType": "application/yaml",
                "buffer": yaml.safe_dump({"jobs": entries}, allow_unicode=True).encode(),
            }
        ],
    )
    expect(dialog.locator('[data-f="created"]')).to_have_text("grp_new")
    expect(dialog.locator('[data-f="changed"]')).to_contain_text("grp_up (name)")
    assert api.ok("GET", "/jobs/grp_up")["name"] == "名称 grp_up"
    dialog.locator('[data-f="apply"]').click()
    expect(dialog).to_be_hidden()
    expect(v.card("grp_new")).to_have_count(1)
    assert api.ok("GET", "/jobs/grp_up")["name"] == "改过的名称"

    # The dependency picker lists the jobs (not itself) by name and id.
    v.card("grp_new").locator("[data-action=edit]").click()
    picker = page.locator("#f-depends_on")
    expect(picker.locator('option[value="grp_up"]')).to_have_text("改过的名称 (grp_up)")
    expect(picker.locator('option[value="grp_new"]')).to_have_count(0)
    page.select_option("#f-depends_on", ["grp_up"])
    page.click("#job-save")
    expect(page.locator("#job-dialog")).to_be_hidden()
    assert api.ok("GET", "/jobs/grp_new")["depends_on"] == ["grp_up"]

    # Pausing a job others depend on asks first, naming them, then pauses anyway.
    v.card("grp_up").locator("[data-action=pause]").click()
    confirm(page, expect, "grp_down")
    expect(v.card("grp_up")).to_have_attribute("data-state", "paused")
