"""``cleanup_old_logs``: old log files and old finished runs go, everything else stays."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from whalefall import clock
from whalefall.domain.jobspec import JobCreate
from whalefall.models import JobChange, Run, RunStatus, TriggerSource
from whalefall.services import jobs, runs
from whalefall.services.audit import Actor
from whalefall.tasks import cleanup_old_logs
from whalefall.tasks.registry import TaskContext, TaskRegistry

DAY = 86400


def context(rt, cancel=lambda: False) -> TaskContext:
    return TaskContext(
        runtime=rt,
        run_id=1,
        job_id="cleanup_old_logs",
        scheduled_time=None,
        attempt=1,
        logger=logging.getLogger("whalefall.test.cleanup"),
        cancel_requested=cancel,
    )


def aged(path: Path, days: float, text: str = "line\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    when = clock.now().timestamp() - days * DAY
    os.utime(path, (when, when))
    return path


def remaining(rt) -> dict[int, str]:
    with rt.db.read() as session:
        return {run_id: status for run_id, status in session.execute(select(Run.id, Run.status))}


def make_job(rt, job_id: str = "job") -> None:
    jobs.create(
        rt,
        JobCreate(
            id=job_id,
            name=job_id,
            function="heartbeat",
            trigger_type="interval",
            interval_seconds=60,
            max_instances=100,
        ),
        Actor.system(),
    )


def run_at(rt, days_ago: float, status: RunStatus | None, job_id: str = "job") -> int:
    """A run created ``days_ago`` days ago, left queued (None), running, or finished with ``status``."""
    with time_machine.travel(clock.now() - timedelta(days=days_ago), tick=False):
        run = runs.enqueue(rt, job_id, source=TriggerSource.MANUAL)
        if status is not None:
            assert runs.start(rt, run.id, "n1")
            if status != RunStatus.RUNNING:
                runs.finish(rt, run.id, status)
    return run.id


def test_the_task_is_registered_under_its_name():
    assert TaskRegistry.default().resolve("cleanup_old_logs") is cleanup_old_logs.run


# --- log files -----------------------------------------------------------------


def test_log_files_older_than_30_days_are_removed_and_newer_ones_kept(runtime, caplog):
    logs = runtime.settings.data_dir / "logs"
    old = [
        aged(logs / "whalefall.log.1", 31),
        aged(logs / "scheduler.log", 45),
        aged(logs / "archive" / "x.log", 60),
    ]
    kept = [
        aged(logs / "whalefall.log", 0),
        aged(logs / "scheduler.log.2", 29),
        aged(logs / "notes.txt", 90),
        aged(logs / "README", 90),
    ]
    elsewhere = aged(runtime.settings.data_dir / "other.log", 90)  # outside logs/: not ours to remove
    with caplog.at_level(logging.INFO, logger="whalefall.test.cleanup"):
        result = cleanup_old_logs.run(context(runtime))
    assert result["log_files_removed"] == 3
    assert not any(p.exists() for p in old)
    assert all(p.exists() for p in kept)
    assert elsewhere.exists()
    assert "removed 3 log file(s) older than 30 days" in caplog.text


def test_the_log_retention_can_be_given_as_a_parameter(runtime):
    logs = runtime.settings.data_dir / "logs"
    week_old = aged(logs / "a.log", 8)
    fresh = aged(logs / "b.log", 6)
    assert cleanup_old_logs.run(context(runtime), log_days=7)["log_files_removed"] == 1
    assert not week_old.exists() and fresh.exists()


def test_a_symlinked_log_is_not_followed(runtime, tmp_path):
    target = aged(tmp_path / "precious.log", 90)
    link = runtime.settings.data_dir / "logs" / "link.log"
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    assert cleanup_old_logs.run(context(runtime))["log_files_removed"] == 0
    assert target.exists() and link.is_symlink()


def test_a_data_dir_without_logs_is_not_an_error(runtime):
    assert not (runtime.settings.data_dir / "logs").exists()
    assert cleanup_old_logs.run(context(runtime)) == {"log_files_removed": 0, "runs_removed": 0}


# --- runs (on every database) ----------------------------------------------------


def test_finished_runs_past_the_retention_are_removed_and_the_rest_kept(any_runtime):
    make_job(any_runtime)
    old_finished = [
        run_at(any_runtime, 31, s) for s in (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELLED)
    ]
    old_running = run_at(any_runtime, 40, RunStatus.RUNNING)
    old_queued = run_at(any_runtime, 40, None)
    recent = [run_at(any_runtime, 29, RunStatus.SUCCESS), run_at(any_runtime, 0, RunStatus.FAILED)]

    result = cleanup_old_logs.run(context(any_runtime))
    assert result == {"log_files_removed": 0, "runs_removed": 3}
    left = remaining(any_runtime)
    assert not set(old_finished) & set(left)
    assert left[old_running] == "running" and left[old_queued] == "queued"
    assert set(recent) <= set(left)


def test_run_retention_comes_from_the_settings_or_a_parameter(any_runtime):
    make_job(any_runtime)
    assert any_runtime.settings.run_retention_days == 30
    ten_days = run_at(any_runtime, 10, RunStatus.SUCCESS)
    assert cleanup_old_logs.run(context(any_runtime))["runs_removed"] == 0
    assert cleanup_old_logs.run(context(any_runtime), run_days=7)["runs_removed"] == 1
    assert ten_days not in remaining(any_runtime)


def test_a_long_history_is_removed_in_batches(any_runtime, monkeypatch):
    monkeypatch.setattr(cleanup_old_logs, "BATCH", 2)
    make_job(any_runtime)
    old = [run_at(any_runtime, 35, RunStatus.SUCCESS) for _ in range(5)]
    keep = run_at(any_runtime, 1, RunStatus.SUCCESS)
    assert cleanup_old_logs.run(context(any_runtime))["runs_removed"] == 5
    assert set(remaining(any_runtime)) == {keep}
    assert not set(old) & set(remaining(any_runtime))


def test_a_cancelled_cleanup_stops_removing_runs(runtime):
    make_job(runtime)
    run_at(runtime, 35, RunStatus.SUCCESS)
    assert cleanup_old_logs.run(context(runtime, cancel=lambda: True))["runs_removed"] == 0
    assert len(remaining(runtime)) == 1


def test_the_job_change_feed_older_than_a_day_is_pruned(runtime):
    with time_machine.travel(clock.now() - timedelta(days=2), tick=False):
        make_job(runtime, "old_change")
    make_job(runtime, "new_change")
    cleanup_old_logs.run(context(runtime))
    with runtime.db.read() as session:
        assert set(session.scalars(select(JobChange.job_id))) == {"new_change"}


@pytest.mark.parametrize("days", [30.5, 31])
def test_a_log_file_just_past_the_retention_is_removed(runtime, days):
    path = aged(runtime.settings.data_dir / "logs" / "edge.log", days)
    cleanup_old_logs.run(context(runtime))
    assert not path.exists()
