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

        # A search keeps counting as the followed log grows.
        page.fill("#log-search", "tick")
        count = page.locator("#log-count")
        expect(count).to_have_text(re.compile(r"^1 / \d+$"))
        seen = count.text_content()
        expect(count).not_to_have_text(seen)
        expect(count).to_have_text(re.compile(r"^1 / \d+$"))
        expect(page.locator("#log mark.wf-match").last).to_be_attached()

        # Cancel asks; saying no leaves the run running.
        page.click("#cancel-run")
        dialog = page.locator("#wf-confirm")
        expect(dialog).to_be_visible()
        expect(dialog.locator('[data-f="question"]')).to_contain_text(f"#{run_id}")
        expect(dialog.locator('[data-f="question"]')).to_contain_text("Long one")
        expect(dialog.locator(".modal-footer [data-bs-dismiss]")).to_be_focused()  # opened
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


PAGE_CODE = """def execute_task(params, context):
    logger.info("copying %s", params["table"])
    if context["run_id"] % 2 == 0:
        raise RuntimeError("even runs fail")
    return params["table"]
"""


@pytest.fixture
def job_graph(server):
    """e2e_page (code, cron, after e2e_up) with three finished runs, and e2e_down after it."""
    api = server["api"]
    api.ok(
        "POST",
        "/jobs",
        {
            "id": "e2e_up",
            "name": "上游",
            "trigger_type": "interval",
            "interval_days": 1,
            "function": "heartbeat",
        },
    )
    api.ok(
        "POST",
        "/jobs",
        {
            "id": "e2e_page",
            "name": "订单归档",
            "description": "每天凌晨归档订单",
            "category": "e2e",
            "trigger_type": "cron",
            "cron_expression": "30 4 * * *",
            "code": PAGE_CODE,
            "params": {"table": "orders"},
            "depends_on": ["e2e_up"],
            "timeout_seconds": 120,
            "max_retries": 0,
        },
    )
    api.ok(
        "POST",
        "/jobs",
        {
            "id": "e2e_down",
            "name": "下游",
            "trigger_type": "dependency",
            "depends_on": ["e2e_page"],
            "function": "heartbeat",
        },
    )
    runs = [finished_run(api, "e2e_page") for _ in range(3)]
    yield runs
    for job_id in ("e2e_down", "e2e_page_copy2", "e2e_page_copy", "e2e_page", "e2e_up"):
        api.request("DELETE", f"/scheduler/api/jobs/{job_id}")


def history_of(api, job_id: str) -> list[dict]:
    """The job's last 50 runs, oldest first (as the chart draws them)."""
    return list(reversed(api.ok("GET", f"/runs?job_id={job_id}&per_page=50")["runs"]))


def code_mirror(page, option: str):
    return page.locator("#job .CodeMirror").evaluate(f"n => n.CodeMirror.{option}")


def test_the_job_page_shows_the_whole_definition_its_neighbours_and_its_runs(visit, server, job_graph):
    from playwright.sync_api import expect

    runs = job_graph
    v = visit(viewport={"width": 1366, "height": 900})
    page = v.page
    v.sign_in("admin")
    v.card("e2e_page").locator('[data-f="name"]').click()  # the card's name leads to the job's page
    expect(page).to_have_url(re.compile(r"/scheduler/jobs/e2e_page$"))
    job = page.locator("#job")
    expect(job.locator("h1")).to_have_text("订单归档")
    expect(job.locator('[data-f="state"]')).to_have_text("启用")
    expect(job.locator('[data-f="description"]')).to_have_text("每天凌晨归档订单")
    expect(job.locator('[data-f="kind"]')).to_have_text("代码")
    expect(job.locator('[data-f="trigger_description"]')).to_have_text("每天 04:30 执行")
    expect(page.locator("#next-runs li")).to_have_count(5)
    expect(page.locator("#next-runs li").first).to_have_text(base.next_daily(4, 30))
    expect(job.locator('[data-f="timezone"]')).to_have_text("Asia/Shanghai")
    expect(job.locator('[data-f="timeout_seconds"]')).to_have_text("120")
    expect(job.locator('[data-f="max_retries"]')).to_have_text("0")
    expect(job.locator('[data-f="coalesce"]')).to_have_text("是")
    expect(job.locator('[data-f="created"]')).to_contain_text("admin")
    expect(job.locator('[data-f="version"]')).to_have_text(
        str(server["api"].ok("GET", "/jobs/e2e_page")["version"])
    )
    expect(page.locator("#job-params")).to_contain_text('"table": "orders"')
    expect(page.locator("#job .CodeMirror")).to_contain_text('raise RuntimeError("even runs fail")')
    assert code_mirror(page, "getOption('readOnly')") is True
    for action in ("run", "pause", "edit", "copy", "delete"):
        expect(page.locator(f'#job-actions [data-action="{action}"]')).to_be_visible()

    # The runs (those of an earlier job of this id too: runs outlive their job): a row and a bar
    # each, and the success rate of the finished ones.
    history = history_of(server["api"], "e2e_page")
    assert [run["id"] for run in runs] == [run["id"] for run in history][-3:]
    ok, n = sum(1 for run in history if run["status"] == "success"), len(history)
    expect(page.locator("#job-runs tbody tr")).to_have_count(n)
    expect(page.locator("#success-rate")).to_have_text(f"{round(100 * ok / n)}%（{ok} / {n} 次已结束的运行）")
    bars = page.locator("#duration-chart").evaluate(
        "n => echarts.getInstanceByDom(n).getOption().series[0].data.map(d => d.value)"
    )
    assert bars == pytest.approx([run["duration_seconds"] for run in history])
    expect(page.locator("#duration-chart canvas")).to_have_count(1)
    v.shot("21-job-page")

    # Upstream and downstream are links to their pages.
    expect(page.locator('#upstream a[data-job-id="e2e_up"]')).to_have_text("上游")
    page.click('#downstream a[data-job-id="e2e_down"]')
    expect(page).to_have_url(re.compile(r"/scheduler/jobs/e2e_down$"))
    expect(page.locator('#upstream a[data-job-id="e2e_page"]')).to_have_text("订单归档")
    expect(page.locator("#next-runs-none")).to_be_visible()  # a dependency job has no planned time
    expect(page.locator("#downstream")).to_have_text("—")
    expect(page.locator("#job-runs tbody td", has_text="依赖").first).to_be_visible()  # it ran after e2e_page
    v.go("/scheduler/jobs/e2e_up")
    expect(page.locator("#job-runs-none")).to_be_visible()
    expect(page.locator("#success-rate")).to_have_text("还没有已结束的运行")
    expect(page.locator('#downstream a[data-job-id="e2e_page"]')).to_have_text("订单归档")


def test_a_viewer_reads_a_jobs_code_and_params_but_cannot_change_it(visit, server, job_graph):
    from playwright.sync_api import expect

    v = visit()
    page = v.page
    v.sign_in("viewer")
    # What the API gives a viewer: the job's code and params are part of its detail.
    detail = page.request.get(server["base"] + "/scheduler/api/jobs/e2e_page").json()["data"]
    assert detail["code"] == PAGE_CODE and detail["params"] == {"table": "orders"}

    v.card("e2e_page").locator('[data-f="name"]').click()
    expect(page).to_have_url(re.compile(r"/scheduler/jobs/e2e_page$"))
    expect(page.locator("#job .CodeMirror")).to_contain_text('logger.info("copying %s", params["table"])')
    expect(page.locator("#job-params")).to_contain_text('"table": "orders"')
    assert code_mirror(page, "getOption('readOnly')") is True
    page.locator("#job .CodeMirror").click()
    page.keyboard.type("x = 1")
    assert code_mirror(page, "getValue()") == PAGE_CODE  # read-only: typing changes nothing
    assert page.locator("#job-actions").count() == 0 and page.locator("[data-action]").count() == 0
    assert page.locator("#job-dialog").count() == 0
    expect(page.locator("#job-runs tbody tr")).to_have_count(len(history_of(server["api"], "e2e_page")))
    v.shot("22-job-page-viewer")


def test_copying_a_job_from_its_page_and_from_its_card_makes_real_new_jobs(visit, server, job_graph):
    from playwright.sync_api import expect

    api = server["api"]
    v = visit(viewport={"width": 1366, "height": 900})
    page = v.page
    v.sign_in("admin")
    v.go("/scheduler/jobs/e2e_page")
    page.click('#job-actions [data-action="copy"]')
    expect(page.locator("#job-dialog")).to_be_visible()
    expect(page.locator("#job-dialog-title")).to_have_text("复制任务")
    expect(page.locator("#f-id")).to_have_value("e2e_page_copy")
    expect(page.locator("#f-id")).to_be_editable()
    expect(page.locator("#f-name")).to_have_value("订单归档 (副本)")
    expect(page.locator("#f-cron_hour")).to_have_value("4")
    expect(page.locator("#f-cron_minute")).to_have_value("30")
    expect(page.locator("#preview-description")).to_have_text("每天 04:30 执行")
    expect(page.locator("#f-code + .CodeMirror")).to_contain_text("even runs fail")
    expect(page.locator("#f-params")).to_have_value(
        re.compile(r'"table": "orders"')
    )  # a code job's params too
    page.click("#job-save")
    expect(page).to_have_url(re.compile(r"/scheduler/jobs/e2e_page_copy$"))
    expect(page.locator("#job h1")).to_have_text("订单归档 (副本)")

    original, copy = api.ok("GET", "/jobs/e2e_page"), api.ok("GET", "/jobs/e2e_page_copy")
    same = (
        "kind",
        "code",
        "params",
        "trigger",
        "trigger_type",
        "depends_on",
        "timeout_seconds",
        "max_retries",
        "retry_delay_seconds",
        "misfire_grace_time",
        "max_instances",
        "coalesce",
        "category",
        "description",
    )
    assert {k: copy[k] for k in same} == {k: original[k] for k in same}
    assert copy["state"] == "active" and copy["next_run_time"] == original["next_run_time"]

    # From the card: e2e_page_copy is taken now, so the next free id.
    v.go("/scheduler/")
    v.card("e2e_page").locator('[data-action="copy"]').click()
    expect(page.locator("#f-id")).to_have_value("e2e_page_copy2")
    page.click("#job-save")
    expect(page.locator("#job-dialog")).to_be_hidden()
    expect(v.card("e2e_page_copy2").locator('[data-f="name"]')).to_have_text("订单归档 (副本)")
    assert api.ok("GET", "/jobs/e2e_page_copy2")["code"] == PAGE_CODE
    # The copy runs, as a real job does.
    assert finished_run(api, "e2e_page_copy2")["status"] in ("success", "failed")

    # Its page pauses it (the page comes back with the API's word as a toast) and deletes it.
    v.go("/scheduler/jobs/e2e_page_copy2")
    expect(page.locator("#job-runs tbody tr")).to_have_count(1)
    page.click('#job-actions [data-action="pause"]')
    expect(page.locator('#job [data-f="state"]')).to_have_text("已暂停")
    expect(v.toast()).to_contain_text("e2e_page_copy2")
    expect(page.locator("#next-runs-none")).to_be_visible()
    assert api.ok("GET", "/jobs/e2e_page_copy2")["state"] == "paused"
    page.click('#job-actions [data-action="delete"]')
    expect(page.locator('#wf-confirm [data-f="question"]')).to_contain_text("e2e_page_copy2")
    page.click('#wf-confirm [data-f="ok"]')
    expect(page).to_have_url(re.compile(r"/scheduler/$"))
    expect(v.toast()).to_contain_text("e2e_page_copy2")
    expect(v.card("e2e_page_copy2")).to_have_count(0)
    assert api.request("GET", "/scheduler/api/jobs/e2e_page_copy2").status == 404


def test_the_api_reference_renders_every_endpoint_without_leaving_the_host(visit, server):
    from playwright.sync_api import expect

    v = visit(viewport={"width": 1366, "height": 900})
    page = v.page
    requested: list[str] = []
    v.context.on("request", lambda request: requested.append(request.url))
    v.sign_in("admin")
    page.click("#nav-api")
    expect(page).to_have_url(re.compile(r"/scheduler/api-docs$"))
    expect(page.locator("#nav-api")).to_have_attribute("aria-current", "page")
    expect(page.locator("#api-docs .info .title")).to_contain_text("Whalefall scheduler API")
    paths = page.locator("#api-docs .opblock-summary-path")
    expect(paths.filter(has_text=re.compile(r"^/scheduler/api/jobs/\{job_id\}$")).first).to_be_visible()
    spec = server["api"].request("GET", "/scheduler/api/openapi.json").body  # one block per operation
    operations = sum(len(methods) for methods in spec["paths"].values())
    expect(page.locator("#api-docs .opblock")).to_have_count(operations)
    page.locator("#api-docs .opblock-summary-path", has_text="/scheduler/api/health").first.click()
    expect(page.locator("#api-docs .opblock.is-open")).to_have_count(1)
    v.shot("23-api-docs", full_page=False)
    outside = [url for url in requested if not url.startswith((server["base"] + "/", "data:", "blob:"))]
    assert requested and outside == [], outside
