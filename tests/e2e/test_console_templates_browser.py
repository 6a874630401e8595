"""New job from a template in a real Chromium, against a real ``whalefall serve``.

The form is drawn from the template's JSON Schema: the server's refusals land under the named
parameter fields, and the job, once made, shows the template it came from. Same server,
browser and ``visit`` helper as ``test_console_browser.py`` (a server of this module's own).
"""

from __future__ import annotations

import pytest

from tests.e2e import test_console_browser as base

pytestmark = pytest.mark.process

server, browser, visit = base.server, base.browser, base.visit


def test_a_log_cleanup_job_is_made_from_its_template_form_and_shows_its_template(visit, server, tmp_path):
    from playwright.sync_api import expect

    v = visit(viewport={"width": 1366, "height": 900})
    page = v.page
    v.sign_in("admin", landing="/scheduler/templates")
    form = page.locator("#template-form")
    expect(form).to_be_hidden()

    # database_backup: an instance picker, a number for the retention, required fields marked.
    page.locator('[data-template-id="database_backup"] [data-action="use"]').click()
    expect(form.locator('select[name="params.instance_id"]')).to_be_visible()
    expect(form.locator('input[name="params.keep_days"]')).to_have_attribute("type", "number")
    expect(form.locator('label[for="p-directory"]')).to_have_text("目录 *")

    page.locator('[data-template-id="log_cleanup"] [data-action="use"]').click()
    expect(form.locator('[data-f="title"]')).to_contain_text("日志清理")
    expect(form.locator('select[name="params.instance_id"]')).to_have_count(0)
    page.fill("#t-id", "e2e_cleanup")
    page.fill("#t-name", "E2E cleanup")
    page.fill('[name="params.directory"]', "/")
    page.fill('[name="params.days_to_keep"]', "14")
    page.check('[name="params.dry_run"]')
    form.locator('button[type="submit"]').click()
    # The server names the parameter: its reason lands under the field, in the page's language.
    directory = form.locator('[name="params.directory"]')
    expect(directory).to_have_class(r"form-control is-invalid")
    expect(
        directory.locator("xpath=following-sibling::div[contains(@class,'invalid-feedback')]")
    ).to_contain_text("系统目录")

    page.fill('[name="params.directory"]', str(tmp_path / "applogs"))
    form.locator('button[type="submit"]').click()
    page.wait_for_url("**/scheduler/jobs/e2e_cleanup")
    expect(page.locator('#definition [data-f="template"]')).to_contain_text("日志清理")
    v.shot("template-job")

    job = server["api"].ok("GET", "/jobs/e2e_cleanup")
    assert job["template"] == "log_cleanup"
    assert job["params"] == {
        "directory": str(tmp_path / "applogs"),
        "pattern": "*.log",
        "days_to_keep": 14,
        "recursive": False,
        "dry_run": True,
    }
