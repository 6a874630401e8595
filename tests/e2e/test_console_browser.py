"""The console in a real headless Chromium, against a real ``whalefall serve`` process.

Debian's ``chromium`` driven by Playwright (never ``playwright install``): found
through ``WHALEFALL_CHROMIUM`` or ``PATH``; without it these tests skip with the
reason (fail under ``WHALEFALL_REQUIRE_SERVICES=1``). One server and one browser
serve the whole module; each test has its own browser context (its own cookies).
Screenshots of the main pages land in ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import unavailable
from tests.proc import SECRET_KEY, Api, Processes, environment, free_port, wait_until

pytestmark = pytest.mark.process

TZ = ZoneInfo("Asia/Shanghai")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORDS = {"admin": "admin-password-1", "viewer": "viewer-password-1"}
XSS = "<img src=x onerror=alert(1)>"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 15_000
EXPECTED_4XX = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")
INVALID = re.compile(r"\bis-invalid\b")


def chromium_path() -> str:
    path = os.environ.get("WHALEFALL_CHROMIUM") or shutil.which("chromium")
    if not path or not os.access(path, os.X_OK):
        unavailable("Chromium is not installed (set WHALEFALL_CHROMIUM or put `chromium` on PATH)")
    return path


def next_daily(hour: int, minute: int) -> str:
    """The next HH:MM:00 in the server's zone, as the API writes it."""
    now = datetime.now(TZ)
    due = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if due <= now:
        due += timedelta(days=1)
    return due.strftime("%Y-%m-%d %H:%M:%S")


# --- the server and the browser ----------------------------------------------------------------


@contextmanager
def serving(base: Path, *, token: bool = True) -> Iterator[dict[str, Any]]:
    """A migrated install with an admin and a viewer (and, with ``token``, an admin's API token),
    served by `whalefall serve`; without a token ``api`` is None."""
    chromium = chromium_path()
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[dev]')")
    env = environment(base / "data")
    secret = _install(base / "data", token=token)
    procs = Processes(base / "logs")
    port = free_port()
    proc = procs.start("serve", "serve", "--port", str(port), env=env)
    probe = Api(port)
    try:
        wait_until(
            lambda: not proc.alive() or probe.health_status() == 200, 20, what="serve to answer /health"
        )
        assert proc.alive(), proc.describe()
        yield {
            "base": f"http://127.0.0.1:{port}",
            "api": Api(port, secret) if secret else None,
            "chromium": chromium,
            "procs": procs,
        }
    finally:
        procs.close()
        print(procs.report())


def _install(data_dir: Path, *, token: bool) -> str | None:
    """What `whalefall db upgrade`, `user create` and `token create` do, in this process: the CLI
    has tests of its own, and four interpreters started per browser module cost seconds each."""
    from whalefall.migrate import upgrade
    from whalefall.models import Role
    from whalefall.runtime import Runtime
    from whalefall.services import tokens, users
    from whalefall.services.audit import Actor

    runtime = Runtime.from_env({"data_dir": data_dir, "secret_key": SECRET_KEY})
    try:
        upgrade(runtime.db.engine)
        for name, password in PASSWORDS.items():
            users.create(runtime.db, name, password, Role(name), Actor.cli())
        return tokens.create(runtime.db, "admin", "e2e", Actor.cli())[1] if token else None
    finally:
        runtime.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """A migrated install with an admin, a viewer and a token, served by `whalefall serve`."""
    with serving(tmp_path_factory.mktemp("console")) as served:
        yield served


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=server["chromium"], args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Visit:
    """One browser context: its page, and every dialog, page error and console error it saw."""

    def __init__(self, browser, base: str, **context: Any):
        self.base = base
        self.context = browser.new_context(locale="zh-CN", **context)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.page.on("console", self._console)

    def _console(self, message) -> None:
        # Chromium logs every 4xx answer; the API's refusals (a bad cron field) are expected.
        if message.type == "error" and not EXPECTED_4XX.search(message.text):
            self.errors.append(f"console: {message.text}")

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def sign_in(self, name: str, password: str | None = None, landing: str | None = "/scheduler/") -> None:
        """Sign in through the form, landing on ``landing`` (the jobs page, which most tests start
        from; None: where sign-in lands without a ``next``, the overview)."""
        self.go("/auth/login" + (f"?next={landing}" if landing else ""))
        self.page.fill("#username", name)
        self.page.fill("#password", password or PASSWORDS[name])
        # Until the page signed in to has loaded, its deferred scripts have not bound its buttons:
        # a click before then is lost.
        with self.page.expect_navigation(wait_until="load"):
            self.page.click("form button[type=submit]")

    def shot(self, name: str, full_page: bool = True) -> None:
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)

    def card(self, job_id: str):
        return self.page.locator(f'.wf-job[data-job-id="{job_id}"]')

    def toast(self, kind: str = "success"):
        """The newest toast (its words are the API's, in the page's language)."""
        # In the page's corner, or at the foot of an open dialog's body.
        return self.page.locator(f'.toast[data-kind="{kind}"]').last

    def close(self) -> None:
        self.context.close()
        assert not self.dialogs, f"a script opened a dialog: {self.dialogs}"
        assert not self.errors, f"the page reported errors: {self.errors}"


@pytest.fixture
def visit(browser, server):
    opened: list[Visit] = []

    def open_visit(**context: Any) -> Visit:
        v = Visit(browser, server["base"], **context)
        opened.append(v)
        return v

    yield open_visit
    for v in opened:
        v.close()


def type_code(page, source_lines: list[str]) -> None:
    """Replace the CodeMirror editor's text by typing, as a person would (it indents after ':')."""
    page.locator("#f-code + .CodeMirror").click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    for index, line in enumerate(source_lines):
        if index:
            page.keyboard.press("Enter")
        page.keyboard.type(line)


# --- the tests ------------------------------------------------------------------------------------


def test_a_job_from_creation_through_run_pause_edit_to_deletion(visit):
    from playwright.sync_api import expect

    v = visit(viewport={"width": 1366, "height": 900})
    page = v.page

    # Sign in: a wrong password is refused in words, the right one lands on the jobs page.
    v.go("/scheduler/")
    expect(page).to_have_url(re.compile(r"/auth/login\?next="))
    v.shot("01-sign-in")
    v.sign_in("admin", "not-the-password")
    expect(page.locator(".alert-danger")).to_have_text("用户名或密码错误")
    v.sign_in("admin")
    expect(page.locator("#job-grid")).to_be_visible()
    expect(v.card("heartbeat")).to_be_visible()

    # Create a cron job with code through the editor.
    page.click("#new-job")
    expect(page.locator("#job-dialog")).to_be_visible()
    expect(page.locator("#f-id")).to_be_focused()
    page.fill("#f-id", "e2e_cron")
    page.fill("#f-name", "E2E 定时任务")
    page.fill("#f-category-input", "e2e")
    page.click("label[for=kind-code]")
    type_code(page, ["def execute_task(:"])
    page.click("#code-check")
    expect(page.locator("#code-verdict")).to_contain_text("第 1 行")
    expect(page.locator("#f-code + .CodeMirror .wf-bad-line")).to_have_count(1)
    type_code(page, ["def execute_task():", 'print("hello from e2e")', "return 42"])
    page.click("#code-check")
    expect(page.locator("#code-verdict")).to_have_text("语法正确")

    page.click("button[data-preset=daily]")
    expect(page.locator("#f-cron_expression")).to_have_value("0 0 2 * * * *")
    expect(page.locator("#preview-description")).to_have_text("每天 02:00 执行")
    page.fill("#f-cron_hour", "25")  # the server's complaint lands under the hour
    expect(page.locator("#f-cron_hour")).to_have_class(INVALID)
    expect(page.locator("#f-cron_hour + .invalid-feedback")).to_contain_text("25")
    page.fill("#f-cron_hour", "3")
    page.fill("#f-cron_minute", "15")
    expect(page.locator("#f-cron_expression")).to_have_value("0 15 3 * * * *")
    expect(page.locator("#preview-description")).to_have_text("每天 03:15 执行")
    expect(page.locator("#f-cron_hour")).not_to_have_class(INVALID)
    expected_next = next_daily(3, 15)
    expect(page.locator("#preview-times li")).to_have_count(5)
    expect(page.locator("#preview-times li").first).to_have_text(expected_next)
    v.shot("03-job-editor", full_page=False)
    page.click("#job-save")
    expect(v.toast()).to_contain_text("e2e_cron")
    expect(page.locator("#job-dialog")).to_be_hidden()

    card = v.card("e2e_cron")
    expect(card.locator('[data-f="name"]')).to_have_text("E2E 定时任务")
    expect(card.locator('[data-f="state"]')).to_have_text("启用")
    expect(card.locator('[data-f="kind"]')).to_have_text("代码")
    expect(card.locator('[data-f="trigger_description"]')).to_have_text("每天 03:15 执行")
    expect(card.locator('[data-f="next_run_time"]')).to_have_text(expected_next)
    v.shot("02-jobs")

    # Run it now and follow the run to success, with its log and return value.
    card.locator("[data-action=run]").click()
    expect(v.toast()).to_contain_text("e2e_cron")
    v.toast().get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/scheduler/runs/\d+$"))
    expect(page.locator('#run [data-f="status"]')).to_have_text("成功")
    expect(page.locator("#log")).to_contain_text("hello from e2e")
    expect(page.locator('[data-f="return_value"]')).to_have_text("42")
    expect(page.locator("#cancel-run")).to_be_hidden()
    v.shot("05-run")
    v.go("/scheduler/runs?job_id=e2e_cron")
    expect(page.locator("#run-rows tr[data-run-id]")).to_have_count(1)
    expect(page.locator("#run-rows .wf-status")).to_have_text("成功")
    v.shot("04-runs")

    # Pause: the badge changes without a reload, and the next run goes away.
    v.go("/scheduler/")
    card.locator("[data-action=pause]").click()
    expect(v.toast()).to_contain_text("e2e_cron")
    expect(card.locator('[data-f="state"]')).to_have_text("已暂停")
    expect(card.locator('[data-f="next_run_time"]')).to_have_text("—")
    expect(card.locator("[data-action=resume]")).to_be_visible()
    expect(card.locator('[data-f="last_run"] .wf-status')).to_have_text("成功")

    # Edit its trigger (a crontab expression this time), then resume it.
    card.locator("[data-action=edit]").click()
    expect(page.locator("#f-id")).to_have_value("e2e_cron")
    expect(page.locator("#f-cron_hour")).to_have_value("3")
    expect(page.locator("#f-cron_minute")).to_have_value("15")
    # The dialog has loaded the job once its preview speaks of it; type only then.
    expect(page.locator("#preview-description")).to_have_text("每天 03:15 执行")
    page.fill("#f-cron_expression", "30 4 * * *")
    expect(page.locator("#f-cron_hour")).to_have_value("4")
    expect(page.locator("#preview-description")).to_have_text("每天 04:30 执行")
    page.click("#job-save")
    expect(v.toast()).to_contain_text("e2e_cron")
    expect(card.locator('[data-f="trigger_description"]')).to_have_text("每天 04:30 执行")
    card.locator("[data-action=resume]").click()
    expect(card.locator('[data-f="state"]')).to_have_text("启用")
    expect(card.locator('[data-f="next_run_time"]')).to_have_text(next_daily(4, 30))

    # Delete, after a confirmation that names the job.
    card.locator("[data-action=delete]").click()
    expect(page.locator("#wf-confirm")).to_be_visible()
    expect(page.locator('#wf-confirm [data-f="question"]')).to_contain_text("E2E 定时任务")
    expect(page.locator('#wf-confirm [data-f="question"]')).to_contain_text("e2e_cron")
    page.click('#wf-confirm [data-f="ok"]')
    expect(v.toast()).to_contain_text("e2e_cron")
    expect(card).to_have_count(0)


def test_a_running_runs_log_is_followed_live_and_the_run_can_be_cancelled(visit, server):
    from playwright.sync_api import expect

    api = server["api"]
    code = (
        "import time\n\ndef execute_task():\n    for i in range(120):\n"
        "        print(f'tick {i}', flush=True)\n        time.sleep(0.25)\n"
    )
    api.ok(
        "POST",
        "/jobs",
        {"id": "e2e_ticker", "name": "Ticker", "trigger_type": "interval", "interval_days": 1, "code": code},
    )
    try:
        run_id = api.ok("POST", "/jobs/e2e_ticker/run")["run_id"]
        v = visit()
        page = v.page
        v.sign_in("admin")
        v.go(f"/scheduler/runs/{run_id}")
        expect(page.locator('#run [data-f="status"]')).to_have_text("执行中")
        expect(page.locator("#log")).to_contain_text("tick 2")
        expect(page.locator("#log")).to_contain_text("tick 6")  # more arrived without a reload
        page.click("#cancel-run")
        # Cancelling asks first; under load the dialog may still be opening: click once it shows the question.
        expect(page.locator('#wf-confirm [data-f="question"]')).to_contain_text(f"#{run_id}")
        expect(page.locator('#wf-confirm [data-f="ok"]')).to_be_visible()
        page.click('#wf-confirm [data-f="ok"]')
        expect(v.toast()).to_contain_text(str(run_id))
        expect(page.locator('#run [data-f="status"]')).to_have_text("已取消")
        expect(page.locator("#cancel-run")).to_be_hidden()
        log = page.locator("#log").text_content()
        assert log.count("tick 1\n") == 1 and log.count("tick 2\n") == 1  # each piece appended once
    finally:
        api.ok("DELETE", "/jobs/e2e_ticker")


def test_a_job_named_like_markup_shows_the_characters_and_runs_nothing(visit, server):
    from playwright.sync_api import expect

    v = visit()
    page = v.page
    v.sign_in("admin")
    page.click("#new-job")
    expect(page.locator("#f-id")).to_be_focused()
    page.fill("#f-id", "xss")
    page.fill("#f-name", XSS)
    page.fill("#f-description", XSS)
    page.select_option("#f-function", "heartbeat")  # a task must be chosen, never preselected
    page.click("label[for=tt-interval]")
    page.fill("#f-interval_hours", "1")
    expect(page.locator("#preview-description")).to_have_text("每 1 小时执行")
    page.click("#job-save")
    card = v.card("xss")
    expect(card.locator('[data-f="name"]')).to_have_text(XSS)
    assert page.locator("img").count() == 0

    card.locator("[data-action=run]").click()
    v.toast().get_by_role("link").click()
    expect(page.locator('#run [data-f="job_name"]')).to_have_text(XSS)
    expect(page.locator('#run [data-f="status"]')).to_have_text("成功")
    v.go("/scheduler/runs")
    expect(page.locator('#run-rows [data-f="job_name"]').first).to_have_text(XSS)
    v.go("/scheduler/")
    v.card("xss").locator("[data-action=delete]").click()
    expect(page.locator('#wf-confirm [data-f="question"]')).to_contain_text(XSS)
    # Bootstrap ignores Escape while the dialog still fades in; it is open once Cancel has the focus.
    expect(page.locator("#wf-confirm .modal-footer [data-bs-dismiss]")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#wf-confirm")).to_be_hidden()
    v.go("/scheduler/admin/audit?target_id=xss")
    expect(page.locator("#audit tbody")).to_contain_text("创建任务")
    assert page.locator("img").count() == 0
    server["api"].ok("DELETE", "/jobs/xss")
    # Visit.close() asserts that no dialog opened and no page error happened.


def test_a_viewer_sees_no_write_action(visit):
    from playwright.sync_api import expect

    v = visit()
    page = v.page
    v.sign_in("viewer")
    expect(v.card("heartbeat")).to_be_visible()
    assert page.locator("[data-action]").count() == 0
    assert page.locator("#new-job").count() == 0 and page.locator("#job-dialog").count() == 0
    assert page.get_by_role("button", name="立即运行").count() == 0
    v.shot("08-viewer")
    v.go("/scheduler/admin/users")
    expect(page.locator("h1")).to_have_text("权限不足")


def test_the_cards_refresh_every_30_seconds_without_a_reload_and_not_while_hidden(visit, server):
    from playwright.sync_api import expect

    v = visit()
    page = v.page
    page.clock.install()
    v.sign_in("admin")
    card = v.card("heartbeat")
    expect(card.locator('[data-f="state"]')).to_have_text("启用")
    page.evaluate("window.__stillHere = true")
    fetched: list[str] = []
    page.on("request", lambda request: "/scheduler/api/jobs" in request.url and fetched.append(request.url))

    server["api"].ok("POST", "/jobs/heartbeat/pause")
    try:
        page.clock.run_for(31_000)
        expect(card.locator('[data-f="state"]')).to_have_text("已暂停")
        assert page.evaluate("window.__stillHere") is True  # no reload happened

        # A hidden tab asks nothing; showing it again refreshes at once.
        page.evaluate("""() => {
            Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
            document.dispatchEvent(new Event('visibilitychange'));
        }""")
        fetched.clear()
        page.clock.run_for(95_000)
        assert fetched == []
        server["api"].ok("POST", "/jobs/heartbeat/resume")
        page.evaluate("""() => {
            Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});
            document.dispatchEvent(new Event('visibilitychange'));
        }""")
        expect(card.locator('[data-f="state"]')).to_have_text("启用")
        assert len(fetched) >= 1
    finally:
        server["api"].ok("POST", "/jobs/heartbeat/resume")


def test_english_is_selectable_and_remembered(visit):
    from playwright.sync_api import expect

    v = visit()
    page = v.page
    v.go("/auth/login")
    expect(page.locator("h1")).to_have_text("登录")
    page.click("text=English")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORDS["admin"])
    page.click("form button[type=submit]")
    expect(page.locator("#wf-lang")).to_have_text("中文")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Overview")  # where sign-in lands without a next
    v.go("/scheduler/")
    expect(v.card("heartbeat").locator("[data-action=run]")).to_have_text("Run now")
    expect(v.card("heartbeat").locator('[data-f="state"]')).to_have_text("Active")
    expect(v.card("heartbeat").locator('[data-f="trigger_description"]')).to_contain_text("60")
    v.go("/scheduler/runs")
    expect(page.locator("h1")).to_have_text("Runs")
    v.shot("09-english")
    page.click("#wf-lang")
    expect(page.locator("h1")).to_have_text("运行记录")


def test_admin_pages_on_a_phone_in_the_dark(visit):
    """Screenshots of the admin pages, the phone layout and the dark theme; a token shown once."""
    from playwright.sync_api import expect

    v = visit(viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True, has_touch=True)
    page = v.page
    v.sign_in("admin")
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
    v.shot("10-phone-dark-jobs")
    page.click("#new-job")
    expect(page.locator("#f-id")).to_be_focused()
    v.shot("11-phone-dark-editor", full_page=False)
    page.keyboard.press("Escape")
    expect(page.locator("#job-dialog")).to_be_hidden()
    v.go("/scheduler/admin/tokens")
    page.fill("#k-label", "e2e-bot")
    page.click("#token-form button[type=submit]")
    expect(page.locator("#new-token")).to_be_visible()
    assert page.locator("#new-token-value").input_value().startswith("wf_")
    expect(page.locator("#tokens tbody tr").first).to_contain_text("e2e-bot")
    v.shot("12-phone-dark-tokens")
    v.go("/scheduler/admin/users")
    v.shot("13-phone-dark-users")
    v.go("/scheduler/admin/audit")
    expect(page.locator("#audit tbody")).to_contain_text("创建令牌")
    v.shot("14-phone-dark-audit")
