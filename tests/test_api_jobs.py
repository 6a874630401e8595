"""The jobs API through Flask's test client: shapes, roles, and every bad input."""

from __future__ import annotations

import pytest

from whalefall.models import Job, JobChange, Run

CRON_JOB = {
    "id": "nightly",
    "name": "Nightly",
    "trigger_type": "cron",
    "cron_hour": "2",
    "cron_minute": "0",
    "function": "heartbeat",
    "category": "maintenance",
}
CODE = "def execute_task():\n    return 42\n"


@pytest.fixture
def admin(bearer):
    return bearer("admin")


@pytest.fixture
def operator(bearer):
    return bearer("operator")


@pytest.fixture
def viewer(bearer):
    return bearer("viewer")


def job_count(runtime) -> int:
    with runtime.db.read() as session:
        return session.query(Job).count()


def test_create_cron_job_in_flat_form_answers_the_full_job(client, operator):
    response = client.post("/scheduler/api/jobs", json=CRON_JOB, headers=operator)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["success"] is True
    job = body["data"]
    assert job["id"] == "nightly"
    assert job["trigger_type"] == "cron"
    assert job["trigger_params"] == {"hour": "2", "minute": "0"}
    assert job["trigger_description"] == "每天 02:00 执行"
    assert job["next_run_time"].endswith(" 02:00:00")
    assert job["state"] == "active"
    assert job["misfire_grace_time"] == 300 and job["coalesce"] is True and job["max_instances"] == 1
    assert job["created_by"] == "operator"


def test_job_list_has_the_documented_fields_and_paginates(client, operator, viewer):
    for i in range(5):
        client.post(
            "/scheduler/api/jobs", json={**CRON_JOB, "id": f"job{i}", "name": f"Job {i}"}, headers=operator
        )
    response = client.get("/scheduler/api/jobs?per_page=2&page=2", headers=viewer)
    assert response.status_code == 200
    data = response.json["data"]
    assert data["total"] == 5 and len(data["jobs"]) == 2
    fields = {
        "id",
        "name",
        "description",
        "category",
        "kind",
        "func_name",
        "trigger",
        "trigger_type",
        "trigger_params",
        "trigger_description",
        "next_run_time",
        "state",
        "misfire_grace_time",
        "max_instances",
        "coalesce",
        "timeout_seconds",
        "max_retries",
        "depends_on",
        "last_run",
    }
    assert fields <= set(data["jobs"][0])


def test_job_list_filters_by_query_category_and_state(client, operator, viewer):
    client.post("/scheduler/api/jobs", json=CRON_JOB, headers=operator)
    client.post(
        "/scheduler/api/jobs",
        json={**CRON_JOB, "id": "sync1", "name": "Sync accounts", "category": "sync"},
        headers=operator,
    )
    client.post("/scheduler/api/jobs/sync1/pause", headers=operator)

    def ids(q):
        return [j["id"] for j in client.get(f"/scheduler/api/jobs?{q}", headers=viewer).json["data"]["jobs"]]

    assert ids("q=accounts") == ["sync1"]
    assert ids("category=maintenance") == ["nightly"]
    assert ids("state=paused") == ["sync1"]


def test_english_descriptions_on_request(client, operator, viewer):
    client.post("/scheduler/api/jobs", json=CRON_JOB, headers=operator)
    job = client.get("/scheduler/api/jobs/nightly?lang=en", headers=viewer).json["data"]
    assert job["trigger_description"] == "Every day at 02:00"


def test_job_detail_gives_code_and_next_five_runs(client, admin):
    client.post("/scheduler/api/jobs", json={**CRON_JOB, "function": None, "code": CODE}, headers=admin)
    job = client.get("/scheduler/api/jobs/nightly?upcoming=1", headers=admin).json["data"]
    assert job["code"] == CODE and job["kind"] == "code"
    assert len(job["next_run_times"]) == 5


def test_five_field_cron_uses_crontab_sunday(client, operator):
    job = client.post(
        "/scheduler/api/jobs",
        json={
            "id": "sun",
            "name": "Sunday",
            "trigger_type": "cron",
            "cron_expression": "0 9 * * 0",
            "function": "heartbeat",
        },
        headers=operator,
    ).json["data"]
    assert job["trigger_params"]["day_of_week"] == "sun"


def test_interval_and_date_jobs(client, operator):
    interval = client.post(
        "/scheduler/api/jobs",
        json={
            "id": "every5",
            "name": "Every 5",
            "trigger_type": "interval",
            "interval_minutes": 5,
            "function": "heartbeat",
        },
        headers=operator,
    )
    assert interval.status_code == 200
    assert interval.json["data"]["trigger_description"] == "每 5 分钟执行"
    once = client.post(
        "/scheduler/api/jobs",
        json={
            "id": "once",
            "name": "Once",
            "trigger_type": "date",
            "run_date": "2099-01-01 10:00:00",
            "function": "heartbeat",
        },
        headers=operator,
    )
    assert once.status_code == 200
    assert once.json["data"]["next_run_time"] == "2099-01-01 10:00:00"


def test_update_changes_only_given_fields(client, operator):
    client.post("/scheduler/api/jobs", json=CRON_JOB, headers=operator)
    response = client.put("/scheduler/api/jobs/nightly", json={"cron_hour": "3"}, headers=operator)
    assert response.status_code == 200, response.json
    job = response.json["data"]
    assert job["trigger_params"]["hour"] == "3" and job["name"] == "Nightly"
    response = client.put(
        "/scheduler/api/jobs/nightly", json={"name": "Renamed", "max_retries": 2}, headers=operator
    )
    job = response.json["data"]
    assert job["name"] == "Renamed" and job["max_retries"] == 2 and job["trigger_params"]["hour"] == "3"


def test_pause_and_resume(client, operator):
    client.post("/scheduler/api/jobs", json=CRON_JOB, headers=operator)
    paused = client.post("/scheduler/api/jobs/nightly/pause", headers=operator).json["data"]
    assert paused["state"] == "paused" and paused["next_run_time"] is None
    resumed = client.post("/scheduler/api/jobs/nightly/resume", headers=operator).json["data"]
    assert resumed["state"] == "active" and resumed["next_run_time"]


def test_delete_keeps_history(client, operator, runtime):
    client.post("/scheduler/api/jobs", json=CRON_JOB, headers=operator)
    run_id = client.post("/scheduler/api/jobs/nightly/run", headers=operator).json["data"]["run_id"]
    assert client.delete("/scheduler/api/jobs/nightly", headers=operator).status_code == 200
    assert client.get("/scheduler/api/jobs/nightly", headers=operator).status_code == 404
    assert client.get(f"/scheduler/api/runs/{run_id}", headers=operator).json["data"]["job_id"] == "nightly"


def test_run_now_queues_a_manual_run_without_touching_the_schedule(client, operator, runtime):
    client.post("/scheduler/api/jobs", json=CRON_JOB, headers=operator)
    client.post("/scheduler/api/jobs/nightly/pause", headers=operator)
    response = client.post("/scheduler/api/jobs/nightly/run", headers=operator)
    assert response.status_code == 200
    run = client.get(f"/scheduler/api/runs/{response.json['data']['run_id']}", headers=operator).json["data"]
    assert (
        run["status"] == "queued" and run["trigger_source"] == "manual" and run["triggered_by"] == "operator"
    )
    assert client.get("/scheduler/api/jobs/nightly", headers=operator).json["data"]["state"] == "paused"


def test_run_now_answers_409_at_max_instances(client, operator):
    client.post("/scheduler/api/jobs", json=CRON_JOB, headers=operator)
    assert client.post("/scheduler/api/jobs/nightly/run", headers=operator).status_code == 200
    second = client.post("/scheduler/api/jobs/nightly/run", headers=operator)
    assert second.status_code == 409 and second.json["code"] == 409


def test_cancel_a_queued_run(client, operator):
    client.post("/scheduler/api/jobs", json=CRON_JOB, headers=operator)
    run_id = client.post("/scheduler/api/jobs/nightly/run", headers=operator).json["data"]["run_id"]
    response = client.post(f"/scheduler/api/runs/{run_id}/cancel", headers=operator)
    assert response.status_code == 200 and response.json["data"]["status"] == "cancelled"
    again = client.post(f"/scheduler/api/runs/{run_id}/cancel", headers=operator)
    assert again.status_code == 409


def test_runs_list_filters(client, operator, runtime):
    client.post("/scheduler/api/jobs", json=CRON_JOB, headers=operator)
    run_id = client.post("/scheduler/api/jobs/nightly/run", headers=operator).json["data"]["run_id"]
    client.post(f"/scheduler/api/runs/{run_id}/cancel", headers=operator)
    client.post("/scheduler/api/jobs/nightly/run", headers=operator)
    assert client.get("/scheduler/api/runs?status=cancelled", headers=operator).json["data"]["total"] == 1
    assert client.get("/scheduler/api/runs?job_id=nightly", headers=operator).json["data"]["total"] == 2
    assert (
        client.get("/scheduler/api/jobs/nightly/runs?status=queued", headers=operator).json["data"]["total"]
        == 1
    )
    assert (
        client.get("/scheduler/api/runs?since=2000-01-01T00:00:00Z", headers=operator).json["data"]["total"]
        == 2
    )
    assert (
        client.get("/scheduler/api/runs?until=2000-01-01T00:00:00Z", headers=operator).json["data"]["total"]
        == 0
    )


def test_cron_preview_gives_description_and_five_times(client, viewer):
    response = client.post(
        "/scheduler/api/cron/preview",
        json={"trigger_type": "cron", "cron_expression": "30 2 * * 1"},
        headers=viewer,
    )
    assert response.status_code == 200
    data = response.json["data"]
    assert data["description"] == "每周一 02:30 执行"
    assert len(data["next_run_times"]) == 5 and all(t.endswith("02:30:00") for t in data["next_run_times"])


def test_cron_preview_names_the_bad_field(client, viewer):
    response = client.post(
        "/scheduler/api/cron/preview", json={"trigger_type": "cron", "cron_hour": "25"}, headers=viewer
    )
    assert response.status_code == 400 and "cron_hour" in response.json["errors"]


def test_code_check_names_the_line(client, operator):
    response = client.post(
        "/scheduler/api/code/check", json={"code": "def execute_task():\n    return (\n"}, headers=operator
    )
    assert response.status_code == 400 and response.json["errors"]["code"]
    assert response.json["line"] in (2, 3)


def test_stats_and_tasks(client, operator, viewer):
    client.post("/scheduler/api/jobs", json=CRON_JOB, headers=operator)
    stats = client.get("/scheduler/api/stats", headers=viewer).json["data"]
    assert stats["total_jobs"] == 1 and stats["active_jobs"] == 1
    assert stats["next_executions"][0]["job_id"] == "nightly"
    names = [t["name"] for t in client.get("/scheduler/api/tasks", headers=viewer).json["data"]["tasks"]]
    assert "heartbeat" in names and "cleanup_old_logs" in names


def test_every_change_feeds_the_scheduler_and_the_audit_log(client, operator, admin, runtime):
    client.post("/scheduler/api/jobs", json=CRON_JOB, headers=operator)
    client.put("/scheduler/api/jobs/nightly", json={"name": "x"}, headers=operator)
    client.post("/scheduler/api/jobs/nightly/pause", headers=operator)
    client.delete("/scheduler/api/jobs/nightly", headers=operator)
    with runtime.db.read() as session:
        actions = [c.action for c in session.query(JobChange).order_by(JobChange.id)]
    assert actions == ["create", "update", "paused", "delete"]
    entries = client.get("/scheduler/api/audit", headers=admin).json["data"]["entries"]
    assert [e["action"] for e in entries[:4]] == ["job.delete", "job.pause", "job.update", "job.create"]
    assert all(e["actor"] == "operator" for e in entries[:4])


def test_pausing_through_put_is_the_same_change_as_pause(client, operator, admin, runtime):
    client.post("/scheduler/api/jobs", json=CRON_JOB, headers=operator)
    paused = client.put("/scheduler/api/jobs/nightly", json={"state": "paused"}, headers=operator).json[
        "data"
    ]
    assert paused["state"] == "paused" and paused["next_run_time"] is None
    client.put("/scheduler/api/jobs/nightly", json={"enabled": False}, headers=operator)  # no change
    resumed = client.put("/scheduler/api/jobs/nightly", json={"enabled": True, "name": "y"}, headers=operator)
    assert resumed.json["data"]["state"] == "active" and resumed.json["data"]["next_run_time"]
    with runtime.db.read() as session:
        actions = [c.action for c in session.query(JobChange).order_by(JobChange.id)]
    assert actions == ["create", "paused", "update"]
    entries = client.get("/scheduler/api/audit", headers=admin).json["data"]["entries"]
    assert [e["action"] for e in entries[:4]] == ["job.resume", "job.update", "job.pause", "job.create"]
    assert entries[1]["detail"]["fields"] == ["name"]


# --- roles ------------------------------------------------------------------


def test_viewer_cannot_change_anything(client, operator, viewer):
    client.post("/scheduler/api/jobs", json=CRON_JOB, headers=operator)
    assert client.post("/scheduler/api/jobs", json={**CRON_JOB, "id": "v"}, headers=viewer).status_code == 403
    assert client.post("/scheduler/api/jobs/nightly/run", headers=viewer).status_code == 403
    assert client.delete("/scheduler/api/jobs/nightly", headers=viewer).status_code == 403


def test_operator_cannot_create_or_change_code_jobs(client, operator, admin, runtime):
    response = client.post(
        "/scheduler/api/jobs", json={**CRON_JOB, "function": None, "code": CODE}, headers=operator
    )
    assert response.status_code == 403
    assert job_count(runtime) == 0
    client.post("/scheduler/api/jobs", json={**CRON_JOB, "function": None, "code": CODE}, headers=admin)
    assert client.put("/scheduler/api/jobs/nightly", json={"name": "n"}, headers=operator).status_code == 403
    assert (
        client.put(
            "/scheduler/api/jobs/nightly", json={"function": "heartbeat"}, headers=operator
        ).status_code
        == 403
    )


def test_no_sign_in_answers_401_json(client):
    response = client.get("/scheduler/api/jobs")
    assert response.status_code == 401 and response.json["success"] is False


def test_session_client_needs_csrf_for_writes(client, login, csrf_token):
    login(client, "operator")
    assert client.post("/scheduler/api/jobs", json=CRON_JOB).status_code == 400
    response = client.post("/scheduler/api/jobs", json=CRON_JOB, headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 200


def test_openapi_document_lists_every_endpoint(client):
    doc = client.get("/scheduler/api/openapi.json").json
    assert doc["openapi"].startswith("3.")
    assert "/scheduler/api/jobs" in doc["paths"] and "post" in doc["paths"]["/scheduler/api/jobs"]
    assert "JobCreate" in doc["components"]["schemas"]
    assert "cron_expression" in doc["components"]["schemas"]["JobCreate"]["properties"]


# --- bad input: a clear 4xx naming the field, nothing written -----------------

BAD_CREATES = [
    ({"name": "x", "trigger_type": "cron", "cron_hour": "1", "function": "heartbeat"}, "id"),
    ({**CRON_JOB, "id": "has space"}, "id"),
    ({**CRON_JOB, "id": "a/b"}, "id"),
    ({**CRON_JOB, "id": "x" * 65}, "id"),
    ({**CRON_JOB, "name": ""}, "name"),
    ({k: v for k, v in CRON_JOB.items() if k != "name"}, "name"),
    ({k: v for k, v in CRON_JOB.items() if k != "trigger_type"}, "trigger_type"),
    ({**CRON_JOB, "trigger_type": "weekly"}, "trigger_type"),
    ({**CRON_JOB, "cron_hour": "24"}, "cron_hour"),
    ({**CRON_JOB, "cron_minute": "sixty"}, "cron_minute"),
    ({**CRON_JOB, "cron_hour": None, "cron_minute": None, "cron_expression": "* * *"}, "cron_expression"),
    ({**CRON_JOB, "cron_hour": None, "cron_minute": None, "cron_expression": "0 9 * * 8"}, "cron_expression"),
    (
        {"id": "i", "name": "i", "trigger_type": "interval", "interval_seconds": 0, "function": "heartbeat"},
        "interval_seconds",
    ),
    (
        {"id": "i", "name": "i", "trigger_type": "interval", "interval_minutes": -1, "function": "heartbeat"},
        "interval_minutes",
    ),
    (
        {"id": "d", "name": "d", "trigger_type": "date", "run_date": "tomorrow", "function": "heartbeat"},
        "run_date",
    ),
    ({**CRON_JOB, "function": "no_such_task"}, "function"),
    ({k: v for k, v in CRON_JOB.items() if k != "function"}, "function"),
    ({**CRON_JOB, "function": None, "code": "def execute_task(:\n  pass"}, "code"),
    ({**CRON_JOB, "function": None, "code": "def main():\n    return 1\n"}, "code"),
    ({**CRON_JOB, "max_instances": 0}, "max_instances"),
    ({**CRON_JOB, "misfire_grace_time": "soon"}, "misfire_grace_time"),
    ({**CRON_JOB, "timezone": "Mars/Olympus"}, "timezone"),
    ({**CRON_JOB, "depends_on": ["ghost"]}, "depends_on"),
    ({**CRON_JOB, "unknown_field": 1}, "unknown_field"),
    ({"id": "dep", "name": "dep", "trigger_type": "dependency", "function": "heartbeat"}, "depends_on"),
]


@pytest.mark.parametrize(("body", "field"), BAD_CREATES, ids=[f for _b, f in BAD_CREATES])
def test_bad_create_names_the_field_and_writes_nothing(client, admin, runtime, body, field):
    response = client.post("/scheduler/api/jobs", json=body, headers=admin)
    assert response.status_code == 400, response.json
    assert response.json["success"] is False and response.json["code"] == 400
    assert field in response.json["errors"], response.json
    assert field in response.json["message"] or field in response.json["errors"]
    assert job_count(runtime) == 0


def test_syntax_error_names_the_line(client, admin):
    response = client.post(
        "/scheduler/api/jobs?lang=en",
        json={**CRON_JOB, "function": None, "code": "import os\n\ndef execute_task(:\n    pass\n"},
        headers=admin,
    )
    assert response.status_code == 400 and response.json["line"] == 3
    assert "line 3" in response.json["message"]


def test_malformed_json_is_a_400(client, admin):
    response = client.post(
        "/scheduler/api/jobs", data="{not json", headers={**admin, "Content-Type": "application/json"}
    )
    assert response.status_code == 400 and "body" in response.json["errors"]


def test_json_that_is_not_an_object_is_a_400(client, admin):
    response = client.post("/scheduler/api/jobs?lang=en", json=[1, 2], headers=admin)
    assert response.status_code == 400 and "object" in response.json["message"]


def test_body_over_one_mebibyte_is_a_413(client, admin):
    response = client.post(
        "/scheduler/api/jobs",
        data=b"x" * (1024 * 1024 + 10),
        headers={**admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 413 and response.json["code"] == 413


def test_duplicate_id_is_a_409(client, operator, runtime):
    client.post("/scheduler/api/jobs", json=CRON_JOB, headers=operator)
    response = client.post("/scheduler/api/jobs", json={**CRON_JOB, "name": "Other"}, headers=operator)
    assert response.status_code == 409 and "id" in response.json["errors"]
    assert job_count(runtime) == 1


def test_dependency_cycle_is_refused_naming_it(client, operator, runtime):
    client.post("/scheduler/api/jobs", json={**CRON_JOB, "id": "a", "name": "a"}, headers=operator)
    client.post(
        "/scheduler/api/jobs",
        json={**CRON_JOB, "id": "b", "name": "b", "depends_on": ["a"]},
        headers=operator,
    )
    response = client.put("/scheduler/api/jobs/a", json={"depends_on": ["b"]}, headers=operator)
    assert response.status_code == 400 and "a → b → a" in response.json["message"]
    assert client.get("/scheduler/api/jobs/a", headers=operator).json["data"]["depends_on"] == []


def test_failed_update_changes_nothing(client, operator):
    client.post("/scheduler/api/jobs", json=CRON_JOB, headers=operator)
    response = client.put(
        "/scheduler/api/jobs/nightly", json={"name": "New", "cron_hour": "99"}, headers=operator
    )
    assert response.status_code == 400 and "cron_hour" in response.json["errors"]
    job = client.get("/scheduler/api/jobs/nightly", headers=operator).json["data"]
    assert job["name"] == "Nightly" and job["trigger_params"]["hour"] == "2"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/scheduler/api/jobs/ghost"),
        ("put", "/scheduler/api/jobs/ghost"),
        ("delete", "/scheduler/api/jobs/ghost"),
        ("post", "/scheduler/api/jobs/ghost/pause"),
        ("post", "/scheduler/api/jobs/ghost/resume"),
        ("post", "/scheduler/api/jobs/ghost/run"),
        ("get", "/scheduler/api/jobs/ghost/runs"),
        ("get", "/scheduler/api/runs/999"),
        ("post", "/scheduler/api/runs/999/cancel"),
    ],
)
def test_unknown_ids_answer_404_json(client, admin, method, path):
    kwargs = {"json": {"name": "x"}} if method == "put" else {}
    response = getattr(client, method)(path, headers=admin, **kwargs)
    assert response.status_code == 404 and response.json["success"] is False


def test_unknown_endpoint_and_wrong_method_answer_json(client, admin):
    assert client.get("/scheduler/api/nothing", headers=admin).json["code"] == 404
    response = client.patch("/scheduler/api/jobs", headers=admin)
    assert response.status_code == 405 and response.json["success"] is False


def test_bad_query_parameters_are_400(client, viewer):
    assert client.get("/scheduler/api/jobs?page=0", headers=viewer).status_code == 400
    assert client.get("/scheduler/api/jobs?per_page=abc", headers=viewer).status_code == 400
    assert client.get("/scheduler/api/runs?status=bogus", headers=viewer).status_code == 400
    response = client.get("/scheduler/api/runs?since=yesterday", headers=viewer)
    assert response.status_code == 400 and "since" in response.json["errors"]


def test_run_history_of_a_deleted_job_is_kept(client, operator, runtime):
    client.post("/scheduler/api/jobs", json=CRON_JOB, headers=operator)
    client.post("/scheduler/api/jobs/nightly/run", headers=operator)
    client.delete("/scheduler/api/jobs/nightly", headers=operator)
    with runtime.db.read() as session:
        assert session.query(Run).filter_by(job_id="nightly").count() == 1


def test_messages_speak_chinese_by_default_and_english_on_request(client, operator):
    created = client.post("/scheduler/api/jobs", json=CRON_JOB, headers=operator).json
    assert created["message"] == "任务 nightly 已创建"
    paused = client.post("/scheduler/api/jobs/nightly/pause?lang=en", headers=operator).json
    assert paused["message"] == "job nightly paused"
    missing = client.get("/scheduler/api/jobs/ghost", headers=operator).json
    assert missing["message"] == "任务 ghost 不存在"
    bad = client.post(
        "/scheduler/api/jobs", json={**CRON_JOB, "id": "x", "name": None}, headers=operator
    ).json
    assert "name" in bad["errors"]


def test_fleet_errors_speak_the_callers_language(client, admin):
    assert client.get("/scheduler/api/instances/999", headers=admin).json["message"] == "实例 #999 不存在"
    english = client.get("/scheduler/api/sync-sessions/999?lang=en", headers=admin).json
    assert english["code"] == 404 and english["message"] == "sync session 999 does not exist"
    body = {"name": "db", "db_type": "mysql", "host": "127.0.0.1", "username": "u", "password": "p"}
    client.post("/scheduler/api/instances", json=body, headers=admin)
    taken = client.post("/scheduler/api/instances", json=body, headers=admin).json
    assert taken["code"] == 409 and taken["message"] == "已存在名为 db 的实例" and "name" in taken["errors"]
