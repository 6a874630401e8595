"""A shell job made in the console's dialog, run from its card, its output read in the run's log.

Same server, browser and ``visit`` helper as ``test_console_browser.py`` (a server of this
module's own). The run goes through the real sandbox.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e import test_console_browser as base

pytestmark = pytest.mark.process

server, browser, visit = base.server, base.browser, base.visit


def type_script(page, lines: list[str]) -> None:
    """Replace the shell editor's text by typing it."""
    page.locator("#job-dialog [data-shell-panel=script] .CodeMirror").click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    for index, line in enumerate(lines):
        if index:
            page.keyboard.press("Enter")
        page.keyboard.type(line)


def test_a_shell_job_made_in_the_dialog_runs_and_its_output_reaches_the_log(visit):
    from playwright.sync_api import expect

    v = visit(viewport={"width": 1366, "height": 900})
    page = v.page
    v.sign_in("admin")
    expect(page.locator("#job-grid")).to_be_visible()

    page.click("#new-job")
    expect(page.locator("#job-dialog")).to_be_visible()
    page.fill("#f-id", "e2e_shell")
    page.fill("#f-name", "E2E Shell")
    page.click("label[for=kind-shell]")
    expect(page.locator("[data-kind-panel=shell]")).to_be_visible()
    expect(page.locator("#f-params")).to_be_hidden()
    # The script is highlighted as shell: a comment and a string get CodeMirror's classes.
    type_script(page, ["# greet", 'echo "hello $GREETING from $WHALEFALL_JOB_ID"', "echo to-stderr >&2"])
    editor = page.locator("#job-dialog [data-shell-panel=script] .CodeMirror")
    expect(editor.locator(".cm-comment")).to_have_text("# greet")
    expect(editor.locator(".cm-string").first).to_be_visible()

    # argv mode has its own box; back to the script.
    page.click("label[for=shell-mode-argv]")
    expect(page.locator("#f-command")).to_be_visible()
    expect(editor).to_be_hidden()
    page.click("label[for=shell-mode-script]")
    expect(editor).to_be_visible()

    # A relative working directory is refused under its field, in words.
    page.fill("#f-working_dir", "tmp")
    page.click("#env-add")
    page.locator(".wf-env-row [data-env=name]").last.fill("GREETING")
    page.locator(".wf-env-row [data-env=value]").last.fill("shell world")
    page.click("#job-save")
    expect(page.locator("#f-working_dir")).to_have_class(base.INVALID)
    expect(page.locator("#f-working_dir + .invalid-feedback")).to_contain_text("绝对路径")
    page.fill("#f-working_dir", "/tmp")
    page.click("#job-save")
    expect(v.toast()).to_contain_text("e2e_shell")
    expect(page.locator("#job-dialog")).to_be_hidden()

    card = v.card("e2e_shell")
    expect(card.locator('[data-f="kind"]')).to_have_text("Shell 命令")
    card.locator("[data-action=run]").click()
    expect(v.toast()).to_contain_text("e2e_shell")
    v.toast().get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/scheduler/runs/\d+$"))
    expect(page.locator('#run [data-f="status"]')).to_have_text("成功")
    expect(page.locator("#log")).to_contain_text("hello shell world from e2e_shell")
    expect(page.locator("#log")).to_contain_text("to-stderr")
    v.shot("shell-run")

    # The job's page shows the script, its working directory and environment; the dialog
    # opens on it again with the same values.
    v.go("/scheduler/jobs/e2e_shell")
    expect(page.locator("#job [data-f=kind]")).to_have_text("Shell 命令")
    expect(page.locator("#job-shell .CodeMirror")).to_contain_text("hello $GREETING")
    expect(page.locator("#job-shell [data-f=working_dir]")).to_have_text("/tmp")
    expect(page.locator("#job-shell [data-f=env]")).to_have_text("GREETING=shell world")
    page.click("#job-actions [data-action=edit]")
    expect(page.locator("#f-working_dir")).to_have_value("/tmp")
    expect(page.locator(".wf-env-row [data-env=name]")).to_have_value("GREETING")
    expect(page.locator("#kind-shell")).to_be_checked()


def test_a_code_job_picks_the_instances_it_uses_in_the_dialog_and_keeps_them(visit, server):
    from playwright.sync_api import expect

    api = server["api"]
    api.ok(
        "POST",
        "/instances",
        {
            "name": "orders-primary",
            "db_type": "mysql",
            "host": "127.0.0.1",
            "port": 3306,
            "username": "u",
            "password": "p",
        },
    )
    v = visit(viewport={"width": 1366, "height": 900})
    page = v.page
    v.sign_in("admin")
    page.click("#new-job")
    expect(page.locator("#job-dialog")).to_be_visible()
    expect(page.locator("#f-uses_instances")).to_be_hidden()  # a built-in job declares none
    page.fill("#f-id", "e2e_uses")
    page.fill("#f-name", "E2E uses")
    page.click("label[for=kind-code]")
    picker = page.locator("#f-uses_instances")
    expect(picker).to_be_visible()
    expect(picker.locator("option")).to_have_text(["orders-primary"])
    picker.select_option(["orders-primary"])
    page.click("#job-save")
    expect(page.locator("#job-dialog")).to_be_hidden()
    assert api.ok("GET", "/jobs/e2e_uses")["uses_instances"] == ["orders-primary"]
    v.close()
