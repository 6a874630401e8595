"""Default jobs from ``scheduler_tasks.yaml``: seeded once, edits kept, deletions respected, reset on demand."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from whalefall.domain import triggers
from whalefall.domain.jobspec import JobCreate, JobPatch
from whalefall.models import AuditEntry, Job, Run, TriggerSource
from whalefall.services import defaults, jobs, runs
from whalefall.services.audit import Actor
from whalefall.tasks.registry import TaskRegistry

SHIPPED = {
    "heartbeat",
    "cleanup_old_logs",
    "sync_accounts",
    "collect_database_sizes",
    "calculate_database_size_aggregations",
    "monitor_partition_health",
    "backup_whalefall",
}


def job_ids(rt) -> set[str]:
    with rt.db.read() as session:
        return set(session.scalars(select(Job.id)))


def load(rt, job_id: str) -> Job | None:
    with rt.db.read() as session:
        return session.get(Job, job_id)


def test_seeding_creates_the_heartbeat_and_cleanup_jobs(runtime):
    assert set(defaults.seed(runtime)) == SHIPPED
    heartbeat = load(runtime, "heartbeat")
    assert heartbeat.kind == "builtin" and heartbeat.func_name == "heartbeat"
    assert heartbeat.trigger_type == "interval" and heartbeat.trigger_params["seconds"] == 60
    assert heartbeat.category == "monitoring"
    assert heartbeat.state == "active" and heartbeat.is_default is True and heartbeat.created_by == "system"
    assert heartbeat.next_run_time is not None

    cleanup = load(runtime, "cleanup_old_logs")
    assert cleanup.func_name == "cleanup_old_logs" and cleanup.category == "maintenance"
    assert cleanup.trigger_type == "cron"
    assert (cleanup.trigger_params["hour"], cleanup.trigger_params["minute"]) == ("2", "0")
    assert triggers.describe(jobs.spec_of(cleanup), "zh") == "每天 02:00 执行"
    assert jobs.to_dict(runtime, cleanup)["next_run_time"].endswith(" 02:00:00")


def test_seeding_twice_creates_nothing_the_second_time(runtime):
    defaults.seed(runtime)
    before = {j: load(runtime, j).version for j in SHIPPED}
    assert defaults.seed(runtime) == []
    assert job_ids(runtime) == SHIPPED
    assert {j: load(runtime, j).version for j in SHIPPED} == before


def test_a_users_edit_of_a_default_job_survives_a_reseed(runtime):
    defaults.seed(runtime)
    jobs.update(
        runtime, "heartbeat", JobPatch(interval_seconds=120, name="My heartbeat"), Actor("admin", "admin")
    )
    jobs.pause(runtime, "cleanup_old_logs", Actor("admin", "admin"))
    assert defaults.seed(runtime) == []
    heartbeat = load(runtime, "heartbeat")
    assert heartbeat.trigger_params["seconds"] == 120 and heartbeat.name == "My heartbeat"
    assert load(runtime, "cleanup_old_logs").state == "paused"


def test_a_deleted_default_job_stays_deleted_after_a_reseed(runtime):
    defaults.seed(runtime)
    jobs.delete(runtime, "cleanup_old_logs", Actor("admin", "admin"))
    assert defaults.seed(runtime) == []
    assert job_ids(runtime) == SHIPPED - {"cleanup_old_logs"}


def test_a_users_own_job_with_a_default_id_is_not_replaced_by_seeding(runtime):
    jobs.create(
        runtime,
        JobCreate(
            id="heartbeat", name="Mine", function="heartbeat", trigger_type="interval", interval_minutes=5
        ),
        Actor("admin", "admin"),
    )
    assert set(defaults.seed(runtime)) == SHIPPED - {"heartbeat"}
    mine = load(runtime, "heartbeat")
    assert mine.name == "Mine" and mine.is_default is False and mine.trigger_params["minutes"] == 5


def test_reset_brings_back_a_deleted_default_and_replaces_edits(runtime):
    defaults.seed(runtime)
    admin = Actor("admin", "admin")
    jobs.delete(runtime, "cleanup_old_logs", admin)
    jobs.update(runtime, "heartbeat", JobPatch(interval_seconds=600, category="mine"), admin)
    jobs.pause(runtime, "heartbeat", admin)

    assert set(defaults.reset(runtime, admin)) == SHIPPED
    assert job_ids(runtime) == SHIPPED
    heartbeat = load(runtime, "heartbeat")
    assert heartbeat.trigger_params["seconds"] == 60 and heartbeat.category == "monitoring"
    assert heartbeat.state == "active" and heartbeat.is_default is True
    assert load(runtime, "cleanup_old_logs").trigger_params["hour"] == "2"
    # Seeding afterwards still respects what reset made.
    assert defaults.seed(runtime) == []


def test_reset_keeps_the_run_history_and_is_audited(runtime):
    defaults.seed(runtime)
    run = runs.enqueue(runtime, "heartbeat", source=TriggerSource.MANUAL)
    defaults.reset(runtime, Actor("admin", "admin"))
    with runtime.db.read() as session:
        assert session.get(Run, run.id) is not None
        actions = set(
            session.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.actor == "admin", AuditEntry.target_id == "heartbeat"
                )
            )
        )
    assert "job.create" in actions


def test_reset_on_an_empty_database_creates_every_default(runtime):
    assert set(defaults.reset(runtime, Actor.cli())) == SHIPPED
    assert defaults.seed(runtime) == []


def test_a_default_added_in_a_later_version_is_seeded_while_deleted_ones_stay_deleted(runtime, monkeypatch):
    defaults.seed(runtime)
    jobs.delete(runtime, "heartbeat", Actor("admin", "admin"))
    shipped = defaults.load_definitions()
    newer = {
        "id": "heartbeat_2",
        "name": "Second heartbeat",
        "function": "heartbeat",
        "category": "monitoring",
        "enabled": False,
        "trigger": {"type": "cron", "minute": "*/5"},
    }
    monkeypatch.setattr(defaults, "load_definitions", lambda: [*shipped, newer])
    assert defaults.seed(runtime) == ["heartbeat_2"]
    assert job_ids(runtime) == (SHIPPED - {"heartbeat"}) | {"heartbeat_2"}
    assert load(runtime, "heartbeat_2").state == "paused"  # enabled: false


# --- the YAML itself ---------------------------------------------------------


def test_the_yaml_names_only_functions_of_the_task_registry():
    registry = TaskRegistry.default()
    for entry in defaults.load_definitions():
        assert entry["function"] in registry, f"{entry['id']}: no built-in task {entry['function']!r}"
        assert callable(registry.resolve(entry["function"]))


def test_the_yaml_has_the_shipped_jobs_with_unique_ids():
    ids = [entry["id"] for entry in defaults.load_definitions()]
    assert len(ids) == len(set(ids))
    assert set(ids) == SHIPPED


@pytest.mark.parametrize("entry", defaults.load_definitions(), ids=lambda e: e["id"])
def test_every_yaml_entry_is_a_valid_job(runtime, entry):
    data = defaults.to_input(entry)
    spec = triggers.parse_trigger(data.trigger_data(), timezone="Asia/Shanghai")
    assert triggers.next_run_times(spec, "Asia/Shanghai", 1)
    assert data.category in {"maintenance", "sync", "processing", "monitoring"}
    assert data.description


def test_the_fleet_jobs_run_at_the_times_of_the_spec(runtime):
    defaults.seed(runtime)
    expected = {
        "sync_accounts": (1, 0, "sync"),
        "collect_database_sizes": (3, 0, "sync"),
        "calculate_database_size_aggregations": (4, 0, "processing"),
        "monitor_partition_health": (0, 30, "monitoring"),
    }
    for job_id, (hour, minute, category) in expected.items():
        job = load(runtime, job_id)
        assert job.func_name == job_id and job.category == category and job.state == "active"
        assert (job.trigger_params["hour"], job.trigger_params["minute"]) == (str(hour), str(minute))
