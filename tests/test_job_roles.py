"""Who may act on a job: a job that runs code is the admin's for every change, run-now and cancel.

Operators keep managing built-in jobs and keep seeing code jobs and their runs. The rule lives
in ``services.jobs.require_may_act``, so the API, the console and group actions share it.
"""

from __future__ import annotations

import pytest

from whalefall.errors import Forbidden
from whalefall.models import AuditEntry, Job, Run, TriggerSource
from whalefall.services import jobs as job_service
from whalefall.services import runs as run_service
from whalefall.services.audit import Actor

API = "/scheduler/api"
BUILTIN_JOB = {
    "id": "plain",
    "name": "Plain",
    "trigger_type": "cron",
    "cron_hour": "2",
    "cron_minute": "0",
    "function": "heartbeat",
}
CODE_JOB = {
    **BUILTIN_JOB,
    "id": "coded",
    "name": "Coded",
    "function": None,
    "code": "def execute_task():\n    return 1\n",
}

# An act on job ``{id}``: method, path, body, and whether the job must be paused first.
ACTS = {
    "pause": ("POST", "/jobs/{id}/pause", None, False),
    "resume": ("POST", "/jobs/{id}/resume", None, True),
    "run": ("POST", "/jobs/{id}/run", None, False),
    "delete": ("DELETE", "/jobs/{id}", None, False),
    "update": ("PUT", "/jobs/{id}", {"name": "Renamed"}, False),
    "update_state": ("PUT", "/jobs/{id}", {"state": "paused"}, False),
}


@pytest.fixture
def admin(bearer):
    return bearer("admin")


@pytest.fixture
def operator(bearer):
    return bearer("operator")


@pytest.fixture
def viewer(bearer):
    return bearer("viewer")


@pytest.fixture
def jobs(client, admin):
    """A built-in job and a code job, both created by the admin."""
    for body in (BUILTIN_JOB, CODE_JOB):
        assert client.post(f"{API}/jobs", json=body, headers=admin).status_code == 200
    return {"builtin": "plain", "code": "coded"}


def act(client, headers, name: str, job_id: str, *, admin=None):
    method, path, body, paused = ACTS[name]
    if paused:
        assert client.post(f"{API}/jobs/{job_id}/pause", headers=admin).status_code == 200
    return client.open(f"{API}{path.format(id=job_id)}", method=method, json=body, headers=headers)


def snapshot(runtime, job_id: str):
    with runtime.db.read() as session:
        job = session.get(Job, job_id)
        runs = session.query(Run).filter(Run.job_id == job_id).count()
        audits = session.query(AuditEntry).filter(AuditEntry.actor == "operator").count()
        return (job.name, job.state, job.version) if job else None, runs, audits


@pytest.mark.parametrize("name", sorted(ACTS))
def test_an_operator_is_refused_every_act_on_a_code_job_and_nothing_changes(
    client, runtime, jobs, operator, admin, name
):
    if ACTS[name][3]:
        client.post(f"{API}/jobs/coded/pause", headers=admin)
    before = snapshot(runtime, "coded")
    method, path, body, _paused = ACTS[name]
    response = client.open(f"{API}{path.format(id='coded')}", method=method, json=body, headers=operator)
    assert response.status_code == 403, response.json
    assert response.json["success"] is False and response.json["code"] == 403
    assert "coded" in response.json["message"] and "管理员" in response.json["message"]
    assert snapshot(runtime, "coded") == before


@pytest.mark.parametrize("name", sorted(ACTS))
def test_an_operator_may_do_every_act_on_a_builtin_job(client, jobs, operator, admin, name):
    response = act(client, operator, name, "plain", admin=admin)
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("name", sorted(ACTS))
def test_an_admin_may_do_every_act_on_a_code_job(client, jobs, admin, name):
    response = act(client, admin, name, "coded", admin=admin)
    assert response.status_code == 200, response.json


def test_the_refusal_names_the_act_and_why_in_english(client, jobs, operator):
    response = client.post(f"{API}/jobs/coded/run?lang=en", headers=operator)
    assert response.status_code == 403
    assert response.json["message"] == "only an admin may run job coded: it runs code on the server"


def test_an_operator_cannot_copy_a_code_job(client, jobs, operator, runtime):
    copy = {**CODE_JOB, "id": "coded-copy"}
    assert client.post(f"{API}/jobs", json=copy, headers=operator).status_code == 403
    with runtime.db.read() as session:
        assert session.get(Job, "coded-copy") is None


def test_an_operator_cannot_turn_a_builtin_job_into_code(client, jobs, operator):
    response = client.put(
        f"{API}/jobs/plain", json={"code": CODE_JOB["code"], "function": None}, headers=operator
    )
    assert response.status_code == 403


def test_an_operator_still_sees_code_jobs_and_their_runs(client, jobs, operator, admin):
    run_id = client.post(f"{API}/jobs/coded/run", headers=admin).json["data"]["run_id"]
    shown = client.get(f"{API}/jobs/coded", headers=operator)
    assert shown.status_code == 200 and shown.json["data"]["code"] == CODE_JOB["code"]
    assert client.get(f"{API}/jobs/coded/runs", headers=operator).json["data"]["total"] == 1
    assert client.get(f"{API}/runs/{run_id}", headers=operator).status_code == 200


def test_only_an_admin_cancels_a_code_jobs_run(client, jobs, operator, admin):
    run_id = client.post(f"{API}/jobs/coded/run", headers=admin).json["data"]["run_id"]
    refused = client.post(f"{API}/runs/{run_id}/cancel", headers=operator)
    assert refused.status_code == 403 and "coded" in refused.json["message"]
    assert client.get(f"{API}/runs/{run_id}", headers=operator).json["data"]["status"] == "queued"
    cancelled = client.post(f"{API}/runs/{run_id}/cancel", headers=admin)
    assert cancelled.status_code == 200 and cancelled.json["data"]["status"] == "cancelled"


def test_an_operator_cancels_a_builtin_jobs_run(client, jobs, operator):
    run_id = client.post(f"{API}/jobs/plain/run", headers=operator).json["data"]["run_id"]
    assert client.post(f"{API}/runs/{run_id}/cancel", headers=operator).status_code == 200


def test_a_run_of_a_deleted_job_is_cancelled_by_an_admin_only(client, jobs, operator, admin):
    run_id = client.post(f"{API}/jobs/plain/run", headers=operator).json["data"]["run_id"]
    assert client.delete(f"{API}/jobs/plain", headers=operator).status_code == 200
    # Its kind is no longer known, so it is treated as code.
    assert client.post(f"{API}/runs/{run_id}/cancel", headers=operator).status_code == 403
    assert client.post(f"{API}/runs/{run_id}/cancel", headers=admin).status_code == 200


def test_retries_and_dependency_runs_of_a_code_job_need_no_person(client, jobs, runtime):
    run = run_service.enqueue(runtime, "coded", source=TriggerSource.DEPENDENCY)
    assert run.status == "queued"


@pytest.mark.parametrize("kind", ["code", "shell", "anything-new"])
def test_every_kind_but_builtin_is_the_admins(kind):
    operator = Actor("op", "operator")
    with pytest.raises(Forbidden):
        job_service.require_may_act(kind, operator, "run", "j")
    job_service.require_may_act(kind, Actor("boss", "admin"), "run", "j")
    job_service.require_may_act("builtin", operator, "run", "j")


def test_a_token_without_a_known_role_is_refused_too():
    with pytest.raises(Forbidden):
        job_service.require_may_act("code", Actor("anonymous", ""), "pause", "j")


# --- the console ---------------------------------------------------------------


def card_of(html: str, job_id: str) -> str:
    start = html.index(f'data-job-id="{job_id}"')
    return html[start : html.index("</article>", start)]


def visible_actions(fragment: str) -> set[str]:
    import re

    return {
        action
        for classes, action in re.findall(
            r'<button type="button" class="([^"]*)" data-action="(\w+)"', fragment
        )
        if "d-none" not in classes.split()
    }


def test_the_console_offers_an_operator_no_actions_on_a_code_job_and_says_why(client, jobs, login):
    login(client, "operator")
    html = client.get("/scheduler/?lang=en").get_data(as_text=True)
    assert visible_actions(card_of(html, "coded")) == set()
    assert 'data-f="admin_only"' in card_of(html, "coded") and "only an admin may run" in card_of(
        html, "coded"
    )
    assert visible_actions(card_of(html, "plain")) == {"run", "pause", "edit", "copy", "delete"}
    page = client.get("/scheduler/jobs/coded?lang=en").get_data(as_text=True)
    assert 'id="job-actions"' not in page and 'data-f="admin_only"' in page


def test_the_console_offers_an_admin_every_action_on_a_code_job(client, jobs, login):
    login(client, "admin")
    html = client.get("/scheduler/").get_data(as_text=True)
    assert visible_actions(card_of(html, "coded")) == {"run", "pause", "edit", "copy", "delete"}
    page = client.get("/scheduler/jobs/coded").get_data(as_text=True)
    assert 'id="job-actions"' in page and 'data-f="admin_only"' not in page


def test_the_run_page_offers_an_operator_no_cancel_or_rerun_for_a_code_job(client, jobs, login, admin):
    code_run = client.post(f"{API}/jobs/coded/run", headers=admin).json["data"]["run_id"]
    plain_run = client.post(f"{API}/jobs/plain/run", headers=admin).json["data"]["run_id"]
    login(client, "operator")
    code_page = client.get(f"/scheduler/runs/{code_run}").get_data(as_text=True)
    assert 'id="cancel-run"' not in code_page and 'id="rerun"' not in code_page
    assert 'data-f="admin_only"' in code_page
    plain_page = client.get(f"/scheduler/runs/{plain_run}").get_data(as_text=True)
    assert 'id="cancel-run"' in plain_page and 'data-f="admin_only"' not in plain_page
