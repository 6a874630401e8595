"""Each built-in task's parameter model: checked on every way in, and what a run passes the task."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from whalefall.domain.jobspec import JobCreate, JobPatch
from whalefall.errors import InvalidInput
from whalefall.models import Job, Run
from whalefall.scheduler.oneshot import run_in_foreground
from whalefall.services import defaults, fleet_capacity, jobs, transfer
from whalefall.services.audit import Actor
from whalefall.tasks.registry import BUILTIN_TASKS, TaskRegistry

CLEANUP = {
    "id": "cleanup",
    "name": "Cleanup",
    "trigger_type": "cron",
    "cron_hour": "2",
    "cron_minute": "0",
    "function": "cleanup_old_logs",
}


@pytest.fixture
def admin(bearer):
    return bearer("admin")


def stored(runtime) -> dict[str, Job]:
    with runtime.db.read() as session:
        return {job.id: job for job in session.scalars(sa.select(Job))}


def test_every_builtin_task_declares_a_strict_parameter_model():
    registry = TaskRegistry.default()
    for name in BUILTIN_TASKS:
        model = registry.params_model(name)
        assert model.model_config.get("extra") == "forbid", name
        if name in registry.templates():  # a template's job is made with its parameters
            assert registry.params_schema(name).get("required"), name
        else:
            assert registry.check_params(name, {}) is not None  # no parameter is required


def test_the_aggregation_periods_are_the_capacity_service_s_periods():
    schema = TaskRegistry.default().params_schema("calculate_database_size_aggregations")
    periods = next(s for s in schema["properties"]["periods"]["anyOf"] if s.get("type") == "array")
    assert tuple(periods["items"]["enum"]) == fleet_capacity.PERIODS


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"run_days": -1}, "params.run_days"),
        ({"run_days": 0}, "params.run_days"),
        ({"log_days": 10**30}, "params.log_days"),
        ({"run_days": "soon"}, "params.run_days"),
        ({"keep": 3}, "params.keep"),
    ],
)
def test_a_cleanup_job_with_bad_params_is_refused_naming_the_field(client, admin, runtime, params, field):
    response = client.post("/scheduler/api/jobs", json={**CLEANUP, "params": params}, headers=admin)
    assert response.status_code == 400, response.json
    assert field in response.json["errors"]
    assert stored(runtime) == {}


def test_the_refusal_names_the_parameter_in_the_users_language(client, admin):
    body = {**CLEANUP, "params": {"run_days": -1}}
    zh = client.post("/scheduler/api/jobs", json=body, headers=admin).json
    en = client.post("/scheduler/api/jobs?lang=en", json=body, headers=admin).json
    assert zh["message"] == "「运行记录保留天数」：不能小于 1"
    assert en["message"] == "days to keep runs: must be at least 1"
    assert en["errors"] == {"params.run_days": "must be at least 1"}


def test_an_update_with_bad_params_changes_nothing(client, admin, runtime):
    assert client.post(
        "/scheduler/api/jobs", json={**CLEANUP, "params": {"run_days": 7}}, headers=admin
    ).json["success"]
    version = stored(runtime)["cleanup"].version
    response = client.put("/scheduler/api/jobs/cleanup", json={"params": {"run_days": -1}}, headers=admin)
    assert response.status_code == 400
    assert "params.run_days" in response.json["errors"]
    job = stored(runtime)["cleanup"]
    assert job.params == {"run_days": 7} and job.version == version


def test_changing_the_function_checks_the_kept_params_against_the_new_task(client, admin, runtime):
    client.post("/scheduler/api/jobs", json={**CLEANUP, "params": {"run_days": 7}}, headers=admin)
    response = client.put("/scheduler/api/jobs/cleanup", json={"function": "heartbeat"}, headers=admin)
    assert response.status_code == 400
    assert "params.run_days" in response.json["errors"]
    assert stored(runtime)["cleanup"].func_name == "cleanup_old_logs"


def test_good_params_are_stored_as_the_model_reads_them(client, admin, runtime):
    body = {
        "id": "agg",
        "name": "Aggregate",
        "trigger_type": "cron",
        "cron_hour": "4",
        "function": "calculate_database_size_aggregations",
        "params": {"date": "2025-03-01", "periods": ["daily"], "instance_ids": ["3"]},
    }
    response = client.post("/scheduler/api/jobs", json=body, headers=admin)
    assert response.status_code == 200, response.json
    assert stored(runtime)["agg"].params == {"date": "2025-03-01", "periods": ["daily"], "instance_ids": [3]}


def test_a_code_job_s_params_are_its_own_business(client, admin, runtime):
    body = {
        "id": "mine",
        "name": "Mine",
        "trigger_type": "cron",
        "cron_hour": "1",
        "code": "def execute_task():\n    return params\n",
        "params": {"anything": [1, 2, {"x": None}]},
    }
    assert client.post("/scheduler/api/jobs", json=body, headers=admin).status_code == 200
    assert stored(runtime)["mine"].params == {"anything": [1, 2, {"x": None}]}


def test_the_service_refuses_bad_params_whoever_calls_it(runtime):
    with pytest.raises(ValidationError) as caught:
        jobs.create(runtime, JobCreate(**CLEANUP, params={"run_days": -1}), Actor.system())
    assert caught.value.errors()[0]["loc"] == ("params", "run_days")
    jobs.create(runtime, JobCreate(**CLEANUP), Actor.system())
    with pytest.raises(ValidationError):
        jobs.update(runtime, "cleanup", JobPatch(params={"log_days": 0}), Actor.system())
    assert stored(runtime)["cleanup"].params == {}


def test_an_import_with_bad_params_names_the_entry_and_field_and_writes_nothing(runtime):
    entries = [
        {**CLEANUP, "id": "fine", "params": {"run_days": 3}},
        {**CLEANUP, "params": {"run_days": -1}},
    ]
    with pytest.raises(InvalidInput) as caught:
        transfer.import_jobs(runtime, entries, Actor.system())
    assert caught.value.field == "params.run_days"
    assert caught.value.message.startswith("job #2 (cleanup): params.run_days")
    assert stored(runtime) == {}


def test_the_default_jobs_pass_their_tasks_models(runtime):
    defaults.seed(runtime)
    registry = TaskRegistry.default()
    for job in stored(runtime).values():
        registry.check_params(job.func_name, job.params)


def test_a_run_of_a_job_stored_with_bad_params_fails_naming_the_field(runtime):
    jobs.create(runtime, JobCreate(**CLEANUP), Actor.system())
    with runtime.db.begin() as session:  # as written before the model existed
        session.execute(sa.update(Job).where(Job.id == "cleanup").values(params={"run_days": -1}))
    run = run_in_foreground(runtime, "cleanup")
    assert run.status == "failed"
    assert run.error_message.startswith("params: ") and "run_days" in run.error_message


def test_a_run_passes_the_checked_params_with_the_model_s_defaults(runtime):
    jobs.create(runtime, JobCreate(**CLEANUP, params={"run_days": "5"}), Actor.system())
    assert stored(runtime)["cleanup"].params == {"run_days": 5}
    run = run_in_foreground(runtime, "cleanup")
    assert run.status == "success", run.error_message
    with runtime.db.read() as session:
        log = session.get(Run, run.id).log
    assert "older than 5 days" in log


def test_the_task_catalogue_shows_each_task_s_parameters(client, bearer):
    response = client.get("/scheduler/api/tasks", headers=bearer("viewer"))
    tasks = {t["name"]: t for t in response.json["data"]["tasks"]}
    assert set(tasks) == set(BUILTIN_TASKS)
    schema = tasks["cleanup_old_logs"]["params_schema"]
    assert schema["additionalProperties"] is False
    run_days = next(s for s in schema["properties"]["run_days"]["anyOf"] if s.get("type") == "integer")
    assert run_days["minimum"] == 1
    assert tasks["heartbeat"]["params_schema"]["properties"] == {}
    assert "title" not in str(tasks)
