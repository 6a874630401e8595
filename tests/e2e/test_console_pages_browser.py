"""The run log's tools, the job page and the API reference in a real Chromium.

Against a real ``whalefall serve`` (a server of this module's own, with the
server, browser and ``visit`` fixtures of ``test_console_browser.py``): the
log's search, level filter, line numbers, copy, download, re-run and the
confirmation before cancel; the job page as an admin and as a viewer; copying a
job into a real new one; the API reference rendered with nothing fetched from
outside 127.0.0.1.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e import test_console_browser as base
from tests.proc import wait_until

pytestmark = pytest.mark.process

server, browser, visit = base.server, base.browser, base.visit

LOG_CODE = """import logging

def execute_task():
    logger.setLevel(logging.DEBUG)
    print("plain output needle")
    logger.debug("debug detail")
    logger.info("info needle")
    logger.warning("warning about disk")
    logger.error("error needle")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("while copying")
    logger.info("done")
    return "ok"
"""
TICKER_CODE = (
    "import time\n\ndef execute_task():\n    for i in range(240):\n"
    "        print(f'tick {i}', flush=True)\n        time.sleep(0.25)\n"
)


def finished_run(api, job_id: str) -> dict:
    """Run ``job_id`` now and wait for the run to end; the run as the API gives it."""
    run_id = api.ok("POST", f"/jobs/{job_id}/run")["run_id"]
    return wait_until(
        lambda: (
            (run := api.ok("GET", f"/runs/{run_id}")) and run["status"] not in ("queued", "running") and run
        ),
        30,
        what=f"run {run_id} of {job_id} to finish",
    )


@pytest.fixture
def log_job(server):
    api = server["api"]
    api.ok(
        "POST",
        "/jobs",
        {
            "id": "e2e_logs",
            "name": "日志任务",
            "trigger_type": "interval",
            "interval_days": 1,
            "code": LOG_CODE,
        },
    )
    yield "e2e_logs"
    api.ok("DELETE", "/jobs/e2e_logs")


def test_the_run_log_is_numbered_coloured_filtered_searched_copied_and_downloaded(visit, server, log_job):
    from playwright.sync_api import expect

    api = server["api"]
    run = finished_run(api, log_job)
    assert run["status"] == "success", run
    text = api.ok("GET", f"/runs/{run['id']}")["log"]

    v = visit(permissions=["clipboard-read", "clipboard-write"])
    page = v.page
    v.sign_in("admin")
    v.go(f"/scheduler/runs/{run['id']}")
    log = page.locator("#log")
    lines = log.locator(".wf-line")
    expect(lines).to_have_count(len(text.splitlines()))
    expect(lines.first).to_have_attribute("data-n", "1")
    expect(lines.last).to_have_attribute("data-n", str(len(text.splitlines())))
    assert log.text_content() == text  # the numbers are drawn, not part of the text

    # One colour per level; the traceback's lines belong to the ERROR record they came with.
    error_line = log.locator(".wf-line", has_text="error needle")
    expect(error_line).to_have_attribute("data-level", "ERROR")
    expect(log.locator(".wf-line", has_text="ValueError: boom")).to_have_attribute("data-level", "ERROR")
    expect(log.locator(".wf-line", has_text="warning about disk")).to_have_attribute("data-level", "WARNING")
    expect(log.locator(".wf-line", has_text="debug detail")).to_have_attribute("data-level", "DEBUG")
    expect(log.locator(".wf-line", has_text="plain output needle")).to_have_attribute("data-level", "INFO")
    colours = {
        level: log.locator(f'.wf-line[data-level="{level}"]').first.evaluate("n => getComputedStyle(n).color")
        for level in ("DEBUG", "INFO", "WARNING", "ERROR")
    }
    assert len(set(colours.values())) == 4, colours

    # Search: every match marked and counted, ↓ and ↑ step through them (and wrap).
    page.fill("#log-search", "NEEDLE")
    expect(page.locator("#log-count")).to_have_text("1 / 3")
    expect(log.locator("mark.wf-match")).to_have_count(3)
    expect(log.locator("mark.wf-current")).to_have_count(1)
    page.click("#log-next")
    expect(page.locator("#log-count")).to_have_text("2 / 3")
    expect(log.locator("mark.wf-current")).to_have_text("needle")
    expect(log.locator(".wf-line", has=page.locator("mark.wf-current"))).to_contain_text("info needle")
    page.click("#log-prev")
    page.click("#log-prev")
    expect(page.locator("#log-count")).to_have_text("3 / 3")
    expect(log.locator(".wf-line", has=page.locator("mark.wf-current"))).to_contain_text("error needle")
    page.locator("#log-search").press("Enter")
    expect(page.locator("#log-count")).to_have_text("1 / 3")
    v.shot("20-run-log-search", full_page=False)

    # The level filter: INFO and DEBUG off leaves the warnings and errors, and the search counts only those.
    page.click("label[for=lvl-INFO]")
    page.click("label[for=lvl-DEBUG]")
    expect(log.locator(".wf-line", has_text="info needle")).to_be_hidden()
    expect(log.locator(".wf-line", has_text="debug detail")).to_be_hidden()
    expect(error_line).to_be_visible()
    expect(page.locator("#log-count")).to_have_text("1 / 1")
    page.fill("#log-search", "no such words")
    expect(page.locator("#log-count")).to_have_text("无匹配")
    expect(page.locator("#log-next")).to_be_disabled()

    # Copy takes the lines shown.
    page.click("#log-copy")
    expect(v.toast()).to_have_text("已复制")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "error needle" in copied and "warning about disk" in copied and "ValueError: boom" in copied
    assert "info needle" not in copied and "debug detail" not in copied and "plain output" not in copied
    kept = copied.splitlines()
    assert kept == [line for line in text.splitlines() if line in kept]  # whole lines, in order

    # Download saves the whole log, named after the job and the run.
    with page.expect_download() as caught:
        page.click("#log-download")
    download = caught.value
    assert download.suggested_filename == f"e2e_logs-run-{run['id']}.log"
    assert Path(download.path()).read_text(encoding="utf-8") == text

    # Run again: a new run of the same job, and its page.
    page.click("#rerun")
    expect(page).not_to_have_url(re.compile(rf"/scheduler/runs/{run['id']}$"))
    expect(page).to_have_url(re.compile(r"/scheduler/runs/\d+$"))
    new_id = int(page.url.rsplit("/", 1)[1])
    assert new_id > run["id"]
    expect(v.toast()).to_contain_text(str(new_id))
    expect(page.locator('#run [data-f="status"]')).to_have_text("成功")
    expect(page.locator("#log")).to_contain_text("error needle")
    assert api.ok("GET", f"/runs/{new_id}")["job_id"] == log_job


def test_a_running_run_shows_its_elapsed_time_and_cancelling_asks_first(visit, server):
    from playwright.sync_api import expect

    api = server["api"]
    api.ok(
        "POST",
        "/jobs",
        {
            "id": "e2e_long",
            "name": "Long one",
            "trigger_type": "interval",
            "interval_days": 1,
            "code": TICKER_CODE,
        },
    )
    try:
        run_id = api.ok("POST", "/jobs/e2e_long/run")["run_id"]
        v = visit()
        page = v.page
        v.sign_in("admin")
        v.go(f"/scheduler/runs/{run_id}")
        expect(page.locator('#run [data-f="status"]')).to_have_text("执行中")
        elapsed = page.locator("#elapsed")
        expect(elapsed).to_have_text(re.compile(r"^已运行 \d+ s$"))
        first = elapsed.text_content()
        expect(elapsed).not_to_have_text(first)  # it counts on its own, second by second
        expect(page.locator("#rerun")).to_be_hidden()

        # Cancel asks; saying no leaves the run running.
        page.click("#cancel-run")
        dialog = page.locator("#wf-confirm")
        expect(dialog).to_be_visible()
        expect(dialog.locator('[data-f="question"]')).to_contain_text(f"#{run_id}")
        expect(dialog.locator('[data-f="question"]')).to_contain_text("Long one")
        dialog.locator(".modal-footer [data-bs-dismiss]").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("#log")).to_contain_text("tick 8")  # still followed, still running
        run = api.ok("GET", f"/runs/{run_id}")
        assert run["status"] == "running" and not run["cancel_requested"], run

        page.click("#cancel-run")
        dialog.locator('[data-f="ok"]').click()
        expect(page.locator('#run [data-f="status"]')).to_have_text("已取消")
        expect(elapsed).to_be_hidden()
        expect(page.locator("#cancel-run")).to_be_hidden()
        expect(page.locator("#rerun")).to_be_visible()
    finally:
        api.ok("DELETE", "/jobs/e2e_long")
