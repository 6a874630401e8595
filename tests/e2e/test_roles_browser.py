"""Issue 13 items 10 and 12 in a real Chromium: what the console offers for code jobs and instances.

An operator's job cards offer no action on a code job, only a note saying why — also after the
cards refresh from the API; an admin editing an instance with a stored password is asked for it
again once the host changes, and the server's refusal lands under the password field. Same
server, browser and ``visit`` helper as ``test_console_browser.py`` (a server of this module's own).
"""

from __future__ import annotations

import pytest

from tests.e2e import test_console_browser as base

pytestmark = pytest.mark.process

server, browser, visit = base.server, base.browser, base.visit
OPERATOR_PASSWORD = "operator-password-1"
CODE = "def execute_task():\n    return 1\n"


@pytest.fixture(scope="module")
def operator(server) -> str:
    server["api"].ok(
        "POST", "/users", {"username": "operator", "password": OPERATOR_PASSWORD, "role": "operator"}
    )
    return "operator"


def test_an_operator_gets_a_note_instead_of_actions_on_a_code_job_even_after_a_refresh(
    visit, server, operator
):
    from playwright.sync_api import expect

    api = server["api"]
    api.ok(
        "POST",
        "/jobs",
        {
            "id": "e2e_code_job",
            "name": "Code job",
            "trigger_type": "interval",
            "interval_seconds": 3600,
            "code": CODE,
        },
    )
    try:
        v = visit(viewport={"width": 1366, "height": 900})
        page = v.page
        page.clock.install()
        v.sign_in(operator, OPERATOR_PASSWORD)
        code, plain = v.card("e2e_code_job"), v.card("heartbeat")
        expect(code).to_be_visible()

        def check() -> None:
            expect(code.locator('[data-f="admin_only"]')).to_be_visible()
            assert "只有管理员" in (code.locator('[data-f="admin_only"]').get_attribute("title") or "")
            assert code.locator("button[data-action]:visible").count() == 0
            expect(plain.locator('[data-action="run"]')).to_be_visible()
            expect(plain.locator('[data-f="admin_only"]')).to_be_hidden()

        check()
        # The cards are refilled by jobs.js from GET /api/jobs: the rule holds there too.
        api.ok("POST", "/jobs/e2e_code_job/pause")
        page.clock.run_for(31_000)
        expect(code.locator('[data-f="state"]')).to_have_text("已暂停")
        check()
        v.shot("roles-operator-code-job")

        v.go("/scheduler/jobs/e2e_code_job")
        expect(page.locator('[data-f="admin_only"]')).to_be_visible()
        assert page.locator("#job-actions").count() == 0
    finally:
        api.ok("DELETE", "/jobs/e2e_code_job")


def test_an_admin_moving_an_instance_is_asked_for_its_password_again(visit, server):
    from playwright.sync_api import expect

    api = server["api"]
    instance = api.ok(
        "POST",
        "/instances",
        {
            "name": "e2e-moved",
            "db_type": "postgresql",
            "host": "127.0.0.1",
            "username": "u",
            "password": "Old-pw-1",
        },
    )
    try:
        v = visit(viewport={"width": 1366, "height": 900})
        page = v.page
        v.sign_in("admin")
        v.go("/scheduler/instances")
        row = page.locator('#instances tr[data-name="e2e-moved"]')
        row.locator('button[data-action="edit"]').click()
        expect(page.locator("#instance-dialog")).to_be_visible()
        expect(page.locator("#i-password-help")).to_be_visible()
        expect(page.locator("#i-password-again")).to_be_hidden()

        page.fill("#i-host", "127.0.0.2")
        expect(page.locator("#i-password-again")).to_be_visible()
        expect(page.locator("#i-password-help")).to_be_hidden()
        page.click("#instance-form button[type=submit]")
        expect(page.locator("#i-password")).to_have_class(base.INVALID)
        expect(page.locator("#i-password").locator("xpath=..").locator(".invalid-feedback")).to_contain_text(
            "重新输入密码"
        )
        assert api.ok("GET", f"/instances/{instance['id']}")["host"] == "127.0.0.1"

        # Back to the stored host: the password may stay empty again.
        page.fill("#i-host", "127.0.0.1")
        expect(page.locator("#i-password-again")).to_be_hidden()
        page.fill("#i-host", "127.0.0.2")
        page.fill("#i-password", "New-pw-2")
        page.click("#instance-form button[type=submit]")
        expect(row).to_contain_text("127.0.0.2")
        v.shot("roles-instance-moved")
    finally:
        api.ok("DELETE", f"/instances/{instance['id']}")
