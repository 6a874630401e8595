"""The users page's password reset in a real Chromium: the policy's refusal under the field, and the
checkbox that also revokes the user's API tokens.

Same server, browser and ``visit`` helper as ``test_console_browser.py`` (a server of this module's own).
"""

from __future__ import annotations

import pytest

from tests.e2e import test_console_browser as base
from tests.proc import Api

pytestmark = pytest.mark.process

server, browser, visit = base.server, base.browser, base.visit


def open_reset_dialog(page, username: str):
    page.locator(f'#users tr[data-username="{username}"] button[data-action="password"]').click()
    dialog = page.locator("#password-dialog")
    dialog.wait_for(state="visible")
    return dialog


def test_a_reset_with_the_checkbox_ticked_revokes_the_users_tokens(visit, server):
    from playwright.sync_api import expect

    kept = server["api"].ok("POST", "/tokens", {"username": "viewer", "label": "kept"})["token"]
    v = visit(viewport={"width": 1366, "height": 900})
    page = v.page
    v.sign_in("admin", landing="/scheduler/admin/users")

    # 1. Without the checkbox: the password changes, the token keeps working.
    dialog = open_reset_dialog(page, "viewer")
    expect(dialog.locator("#p-revoke-tokens")).not_to_be_checked()
    page.fill("#p-password", "first-new-passphrase-1")
    page.click("#password-form button[type=submit]")
    expect(v.toast()).to_be_visible()
    port = int(server["base"].rsplit(":", 1)[1])
    assert Api(port, kept).request("GET", "/scheduler/api/jobs").status == 200

    # 2. A common password is refused under the field, in the page's language.
    dialog = open_reset_dialog(page, "viewer")
    page.fill("#p-password", "Password123")
    page.click("#password-form button[type=submit]")
    expect(dialog.locator("#p-password + .invalid-feedback")).to_contain_text("常见")

    # 3. With the checkbox: every token of the viewer stops working.
    page.fill("#p-password", "second-new-passphrase-2")
    page.check("#p-revoke-tokens")
    page.click("#password-form button[type=submit]")
    expect(dialog).to_be_hidden()
    assert Api(port, kept).request("GET", "/scheduler/api/jobs").status == 401
    # The admin's own session and token are untouched.
    assert server["api"].request("GET", "/scheduler/api/jobs").status == 200
