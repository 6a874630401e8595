"""Group actions (a category at once), bulk actions (jobs picked) and the dependency guards:
through the API on SQLite, and the service's contract on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from whalefall.domain.jobspec import JobCreate
from whalefall.errors import JobHasDependents
from whalefall.models import AuditEntry, Job, Run
from whalefall.services import groups
from whalefall.services import jobs as job_service
from whalefall.services.audit import Actor

OPERATOR = Actor("operator", "operator")
CODE = "def execute_task():\n    return 1\n"


def make_job(rt, job_id: str, category: str = "sync", **fields) -> None:
    data = {
        "id": job_id,
        "name": job_id.title(),
        "category": category,
        "function": "heartbeat",
        "trigger_type": "interval",
        "interval_minutes": 5,
        **fields,
    }
    job_service.create(rt, JobCreate(**data), Actor.system())


def states(rt) -> dict[str, str]:
    with rt.db.read() as session:
        return {job_id: state for job_id, state in session.execute(select(Job.id, Job.state))}


def audit_actions(rt, actor: str) -> list[tuple[str, str]]:
    with rt.db.read() as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.target_id)
            .where(AuditEntry.actor == actor)
            .order_by(AuditEntry.id)
        )
        return [tuple(row) for row in rows]


@pytest.fixture
def operator(bearer):
    return bearer("operator")


@pytest.fixture
def admin(bearer):
    return bearer("admin")


# --- the service, on every database ---------------------------------------------------------


def test_pausing_a_group_pauses_each_job_once_and_says_what_it_skipped(any_runtime):
    rt = any_runtime
    make_job(rt, "a")
    make_job(rt, "b", state="paused")
    make_job(rt, "script", code=CODE, function=None)
    make_job(rt, "other", category="monitoring")

    outcome = groups.act_on_category(rt, "sync", groups.Action.PAUSE, OPERATOR)

    assert outcome.changed == ["a"]
    assert {(s.id, s.reason) for s in outcome.skipped} == {("b", "already_paused"), ("script", "admin_only")}
    assert states(rt) == {"a": "paused", "b": "paused", "script": "active", "other": "active"}
    assert audit_actions(rt, "operator") == [("job.pause", "a")]


def test_a_group_paused_with_its_downstream_jobs_passes_the_guard_and_an_outside_one_holds_it(any_runtime):
    rt = any_runtime
    make_job(rt, "extract")
    make_job(rt, "load", depends_on=["extract"])
    make_job(rt, "report", category="monitoring", depends_on=["load"])

    outcome = groups.act_on_category(rt, "sync", groups.Action.PAUSE, Actor.system())

    # load comes first (downstream first): report, in another group, still depends on it, and
    # extract is then held by load, which stays active.
    assert outcome.changed == []
    assert [(s.id, s.reason, s.params["dependents"]) for s in outcome.skipped] == [
        ("load", "has_dependents", ["report"]),
        ("extract", "has_dependents", ["load"]),
    ]
    groups.act_on_jobs(rt, ["report"], groups.Action.PAUSE, Actor.system())
    again = groups.act_on_category(rt, "sync", groups.Action.PAUSE, Actor.system())
    assert again.changed == ["load", "extract"]
    make_job(rt, "other_up", category="misc")
    make_job(rt, "other_down", category="misc2", depends_on=["other_up"])
    forced = groups.act_on_category(rt, "misc", groups.Action.PAUSE, Actor.system(), force=True)
    assert forced.changed == ["other_up"]
    assert states(rt)["other_down"] == "active"


def test_resuming_and_running_a_group_leave_paused_and_active_jobs_as_the_action_says(any_runtime):
    rt = any_runtime
    make_job(rt, "a")
    make_job(rt, "b", state="paused")

    resumed = groups.act_on_category(rt, "sync", groups.Action.RESUME, OPERATOR)
    assert resumed.changed == ["b"] and [s.reason for s in resumed.skipped] == ["already_active"]

    groups.act_on_jobs(rt, ["b"], groups.Action.PAUSE, OPERATOR)
    ran = groups.act_on_category(rt, "sync", groups.Action.RUN, OPERATOR)
    assert ran.changed == ["a"] and [(s.id, s.reason) for s in ran.skipped] == [("b", "paused")]
    again = groups.act_on_category(rt, "sync", groups.Action.RUN, OPERATOR)
    assert [(s.id, s.reason) for s in again.skipped] == [("a", "running"), ("b", "paused")]
    with rt.db.read() as session:
        assert session.scalars(select(Run.job_id)).all() == ["a"]


def test_deleting_a_selection_deletes_downstream_first_and_keeps_a_job_still_depended_on(any_runtime):
    rt = any_runtime
    make_job(rt, "up")
    make_job(rt, "down", depends_on=["up"])
    make_job(rt, "lone")
    make_job(rt, "base")
    make_job(rt, "kept", depends_on=["base"])

    outcome = groups.act_on_jobs(rt, ["up", "down", "base", "ghost"], groups.Action.DELETE, Actor.system())

    assert sorted(outcome.changed) == ["down", "up"]
    assert {(s.id, s.reason) for s in outcome.skipped} == {("base", "has_dependents"), ("ghost", "not_found")}
    assert set(states(rt)) == {"lone", "base", "kept"}


def test_pausing_or_deleting_a_job_others_depend_on_names_them(any_runtime):
    rt = any_runtime
    make_job(rt, "up")
    make_job(rt, "down", depends_on=["up"])
    make_job(rt, "idle", depends_on=["up"], state="paused")

    with pytest.raises(JobHasDependents) as paused:
        job_service.pause(rt, "up", Actor.system())
    assert paused.value.dependents == ["down"]  # a paused dependent is not held by it
    with pytest.raises(JobHasDependents) as deleted:
        job_service.delete(rt, "up", Actor.system())
    assert deleted.value.dependents == ["down", "idle"]
    assert states(rt)["up"] == "active"

    job_service.pause(rt, "up", Actor.system(), force=True)
    assert states(rt)["up"] == "paused"
    with rt.db.read() as session:
        row = session.scalars(select(AuditEntry).where(AuditEntry.action == "job.pause")).one()
    assert row.detail == {"forced_past": ["down"]}


# --- the API -------------------------------------------------------------------------------------


def test_group_pause_through_the_api_answers_a_summary_in_the_callers_language(runtime, client, operator):
    make_job(runtime, "a")
    make_job(runtime, "b", state="paused")
    make_job(runtime, "script", code=CODE, function=None)

    response = client.post("/scheduler/api/groups/sync/pause?lang=en", headers=operator)

    assert response.status_code == 200, response.json
    data = response.json["data"]
    assert data["category"] == "sync" and data["changed"] == ["a"] and data["changed_count"] == 1
    assert {s["id"]: s["message"] for s in data["skipped"]} == {
        "b": "job b is already paused",
        "script": "only an admin may pause job script: it runs code on the server",
    }
    assert response.json["message"] == "1 job(s) done, 2 skipped"
    zh = client.post("/scheduler/api/groups/sync/resume", headers=operator).json
    assert zh["message"] == "2 个任务已处理，1 个跳过"  # a and b resumed; script is the admin's


def test_group_run_through_the_api_queues_a_run_per_job(runtime, client, admin):
    make_job(runtime, "a")
    make_job(runtime, "script", code=CODE, function=None)

    data = client.post("/scheduler/api/groups/sync/run", headers=admin).json["data"]

    assert sorted(r["job_id"] for r in data["runs"]) == ["a", "script"]
    assert [a for a in audit_actions(runtime, "admin") if a[0] == "job.run"] == [
        ("job.run", "a"),
        ("job.run", "script"),
    ]


def test_an_unknown_group_is_404_and_a_viewer_may_not_act_on_one(runtime, client, operator, bearer):
    make_job(runtime, "a")
    assert client.post("/scheduler/api/groups/nothing/pause", headers=operator).status_code == 404
    assert client.post("/scheduler/api/groups/sync/pause", headers=bearer("viewer")).status_code == 403
    assert client.post("/scheduler/api/groups/sync/stop", headers=operator).status_code == 404


def test_bulk_actions_need_a_list_of_ids_and_answer_per_job(runtime, client, operator):
    make_job(runtime, "a")
    make_job(runtime, "b")
    bad = client.post("/scheduler/api/bulk/pause", json={"ids": []}, headers=operator)
    assert bad.status_code == 400 and "ids" in bad.json["errors"]
    assert (
        client.post("/scheduler/api/bulk/explode", json={"ids": ["a"]}, headers=operator).status_code == 404
    )

    response = client.post("/scheduler/api/bulk/delete", json={"ids": ["a", "b"]}, headers=operator)
    assert response.json["data"]["changed_count"] == 2
    assert states(runtime) == {}


def test_the_pause_endpoint_answers_409_naming_the_dependents_unless_forced(runtime, client, operator):
    make_job(runtime, "up")
    make_job(runtime, "down", depends_on=["up"])

    refused = client.post("/scheduler/api/jobs/up/pause?lang=en", headers=operator)
    assert refused.status_code == 409
    assert refused.json["dependents"] == ["down"]
    assert refused.json["message"] == "cannot pause job up: down depend(s) on it (use force to pause anyway)"
    put = client.put("/scheduler/api/jobs/up", json={"state": "paused"}, headers=operator)
    assert put.status_code == 409
    deleted = client.delete("/scheduler/api/jobs/up", headers=operator)
    assert deleted.status_code == 409 and "删除" in deleted.json["message"]

    forced = client.post("/scheduler/api/jobs/up/pause", json={"force": True}, headers=operator)
    assert forced.status_code == 200 and forced.json["data"]["state"] == "paused"


def test_the_cli_pauses_a_category_and_names_what_it_skipped(runtime, monkeypatch):
    from click.testing import CliRunner

    from whalefall.cli import cli

    make_job(runtime, "up")
    make_job(runtime, "other")
    make_job(runtime, "down", category="monitoring", depends_on=["up"])
    monkeypatch.setenv("WHALEFALL_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("WHALEFALL_SECRET_KEY", "test-secret")
    monkeypatch.setenv("WHALEFALL_LANGUAGE", "en")

    result = CliRunner().invoke(cli, ["jobs", "pause", "--category", "sync"])

    assert result.exit_code == 0, result.output
    assert "other" in result.stdout and "1 job(s) done, 1 skipped" in result.stdout
    assert "up: cannot pause job up: down depend(s) on it" in result.stderr
    assert states(runtime) == {"up": "active", "other": "paused", "down": "active"}
    refused = CliRunner().invoke(cli, ["jobs", "resume", "other", "--category", "sync"])
    assert refused.exit_code == 2


def test_a_category_with_a_slash_is_a_group_too(runtime, client, operator):
    make_job(runtime, "a", category="db/mysql")
    response = client.post("/scheduler/api/groups/db%2Fmysql/pause", headers=operator)
    assert response.status_code == 200 and response.json["data"]["changed"] == ["a"]
