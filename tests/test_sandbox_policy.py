"""When code jobs may run: only in a working sandbox, unless the admin turned it off by name."""

from __future__ import annotations

import pytest

from tests.conftest import make_runtime
from tests.test_scheduler import ADMIN, make_job, runs_of, wait_until
from whalefall.sandbox.isolation import Sandbox
from whalefall.scheduler.service import SchedulerService
from whalefall.services import health
from whalefall.services import runs as run_service

CODE = "def execute_task():\n    return 'ran'\n"


def broken(runtime) -> None:
    """This process's sandbox, as on a machine without bubblewrap."""
    runtime.__dict__["sandbox"] = Sandbox(**{**runtime.sandbox.__dict__, "bwrap": "/nonexistent/bwrap"})


def run_once(runtime):
    service = SchedulerService(runtime)
    service.start(thread=False)
    try:
        service.step()
        make_job(runtime, "code", code=CODE, function=None)
        run_service.enqueue(runtime, "code", source=run_service.TriggerSource.MANUAL, actor=ADMIN)
        return wait_until(
            lambda: [r for r in runs_of(runtime, "code") if r.status not in ("queued", "running")], service
        )[0]
    finally:
        service.stop(wait_seconds=5)


def test_a_code_job_is_refused_when_no_sandbox_can_be_set_up(runtime):
    broken(runtime)
    run = run_once(runtime)
    assert run.status == "failed"
    assert "refused" in run.error_message
    assert "bubblewrap" in run.error_message
    assert "WHALEFALL_SANDBOX=none" in run.error_message


def test_health_says_why_code_jobs_cannot_run(runtime):
    broken(runtime)
    _status, body = health.health(runtime, "en")
    assert body["sandbox"]["mode"] == "bwrap"
    assert "bubblewrap" in body["sandbox"]["problem"]
    assert any("sandbox cannot be set up" in p for p in body["problems"])
    _status, body = health.health(runtime, "zh")
    assert any("作业沙箱无法建立" in p for p in body["problems"])


def test_with_the_sandbox_turned_off_by_name_code_jobs_run_and_health_says_so(tmp_path):
    runtime = make_runtime(tmp_path, sandbox="none")
    try:
        run = run_once(runtime)
        assert run.status == "success", run.error_message
        _status, body = health.health(runtime, "en")
        assert body["sandbox"] == {"mode": "none", "network": "full", "problem": None}
    finally:
        runtime.close()


@pytest.mark.parametrize(("lang", "words"), [("en", "The job sandbox is off"), ("zh", "作业沙箱已关闭")])
def test_the_console_warns_on_every_page_when_the_sandbox_is_off(runtime, client, login, lang, words):
    runtime.__dict__["sandbox"] = Sandbox(mode="none")
    login(client, "operator")
    for page in ("/scheduler/", "/scheduler/runs"):
        html = client.get(f"{page}?lang={lang}").get_data(as_text=True)
        assert 'id="sandbox-banner"' in html and words in html


def test_the_console_shows_no_banner_when_the_sandbox_works(runtime, client, login):
    login(client, "viewer")
    assert 'id="sandbox-banner"' not in client.get("/scheduler/runs").get_data(as_text=True)
