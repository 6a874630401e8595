"""``whalefall db|jobs|run`` through click's CliRunner, each command building its Runtime from the environment."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select

from whalefall.cli import cli, main
from whalefall.domain.jobspec import JobCreate, JobPatch
from whalefall.models import Job, Run
from whalefall.runtime import Runtime
from whalefall.services import jobs as job_service
from whalefall.services.audit import Actor

DEFAULTS = {
    "heartbeat",
    "cleanup_old_logs",
    "sync_accounts",
    "collect_database_sizes",
    "calculate_database_size_aggregations",
    "monitor_partition_health",
    "backup_whalefall",
}
RAISING_CODE = "def execute_task():\n    raise ValueError('the disk is on fire')\n"
CODE = "import json\n\n\ndef execute_task():\n    print('步骤 1')\n    return {'rows': 3}\n"


@pytest.fixture(autouse=True)
def keep_root_logging():
    """The commands configure the root logger for a process; give the rest of the session its own back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def use_data_dir(tmp_path, monkeypatch):
    """``use_data_dir(name)``: point WHALEFALL_DATA_DIR at a fresh directory and return it."""
    for name in list(os.environ):
        if name.upper().startswith("WHALEFALL_"):
            monkeypatch.delenv(name)

    def point(name: str = "data") -> Path:
        path = tmp_path / name
        monkeypatch.setenv("WHALEFALL_DATA_DIR", str(path))
        return path

    return point


@pytest.fixture
def data_dir(use_data_dir) -> Path:
    return use_data_dir("data")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def ok(*args: str):
    result = invoke(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture
def upgraded(data_dir) -> Path:
    ok("db", "upgrade")
    return data_dir


@pytest.fixture
def rt(upgraded):
    runtime = Runtime.from_env()
    yield runtime
    runtime.close()


def all_jobs(runtime) -> dict[str, Job]:
    with runtime.db.read() as session:
        return {job.id: job for job in session.scalars(select(Job))}


def create(runtime, **data) -> None:
    job_service.create(runtime, JobCreate(**data), Actor("admin", "admin"))


# --- db upgrade ------------------------------------------------------------------


def test_db_upgrade_migrates_and_names_the_default_jobs_it_created(data_dir):
    result = ok("db", "upgrade")
    assert "database is up to date" in result.stdout
    assert "heartbeat" in result.stdout and "cleanup_old_logs" in result.stdout
    assert (data_dir / "whalefall.db").exists()


def test_db_upgrade_twice_creates_nothing_the_second_time(upgraded):
    result = ok("db", "upgrade")
    assert result.stdout.strip().endswith("default jobs created: none")
    runtime = Runtime.from_env()
    try:
        assert set(all_jobs(runtime)) == DEFAULTS
    finally:
        runtime.close()


# --- jobs list / export / import / reset-defaults ----------------------------------


def test_jobs_list_shows_every_job_with_its_state_and_schedule(rt):
    create(
        rt,
        id="paused_one",
        name="Paused",
        function="heartbeat",
        trigger_type="cron",
        cron_hour="4",
        cron_minute="15",
        state="paused",
    )
    result = ok("jobs", "list")
    lines = result.stdout.splitlines()
    assert lines[-1] == f"{len(DEFAULTS) + 1} job(s)"
    by_id = {line.split()[0]: line for line in lines[:-1]}
    assert set(by_id) == DEFAULTS | {"paused_one"}
    assert "paused" in by_id["paused_one"] and "每天 04:15 执行" in by_id["paused_one"]
    assert "每天 02:00 执行" in by_id["cleanup_old_logs"]


def test_jobs_export_writes_yaml_to_stdout_without_a_file(rt):
    data = yaml.safe_load(ok("jobs", "export").stdout)
    assert {entry["id"] for entry in data["jobs"]} == DEFAULTS


def fill_with_every_kind(runtime) -> None:
    create(
        runtime,
        id="code_job",
        name="代码任务",
        code=CODE,
        trigger_type="cron",
        cron_expression="*/5 * * * 1-5",
        category="processing",
        description="运行自定义代码",
        timeout_seconds=120,
        max_retries=2,
        retry_delay_seconds=30,
        params={},
    )
    create(
        runtime,
        id="one_off",
        name="One off",
        function="heartbeat",
        trigger_type="date",
        run_date="2031-01-02T03:04:05+08:00",
        notify={"events": ["failure"], "threshold": 3},
    )
    create(
        runtime,
        id="a_upstream",
        name="Upstream",
        function="heartbeat",
        trigger_type="interval",
        interval_hours=6,
        state="paused",
        timezone="Europe/Berlin",
        max_instances=3,
    )
    create(
        runtime,
        id="b_downstream",
        name="Downstream",
        function="cleanup_old_logs",
        trigger_type="dependency",
        depends_on=["a_upstream"],
        params={"log_days": 14},
    )
    job_service.update(runtime, "heartbeat", JobPatch(interval_seconds=90), Actor("admin", "admin"))


def exported(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"]


def test_export_then_import_into_a_fresh_data_dir_reproduces_every_job(use_data_dir, tmp_path):
    use_data_dir("source")
    ok("db", "upgrade")
    source = Runtime.from_env()
    fill_with_every_kind(source)
    source.close()
    dump = tmp_path / "jobs.yaml"
    ok("jobs", "export", str(dump))
    entries = exported(dump)
    assert {e["id"] for e in entries} == DEFAULTS | {"code_job", "one_off", "a_upstream", "b_downstream"}
    assert next(e for e in entries if e["id"] == "code_job")["code"] == CODE

    use_data_dir("target")
    ok("db", "upgrade")
    result = ok("jobs", "import", str(dump))
    assert "~ heartbeat: trigger_params" in result.stdout  # the source changed its interval
    assert f"已创建 4 个，已更改 1 个，未变 {len(DEFAULTS) - 1} 个" in result.stdout
    again = tmp_path / "again.yaml"
    ok("jobs", "export", str(again))
    assert exported(again) == entries
    target = Runtime.from_env()
    try:
        jobs = all_jobs(target)
        assert jobs["code_job"].kind == "code" and jobs["code_job"].code == CODE
        assert jobs["b_downstream"].depends_on == ["a_upstream"]
        assert jobs["heartbeat"].trigger_params["seconds"] == 90
        assert jobs["a_upstream"].state == "paused" and jobs["a_upstream"].next_run_time is None
        assert jobs["a_upstream"].timezone == "Europe/Berlin"
    finally:
        target.close()


def test_importing_a_file_twice_updates_instead_of_duplicating(rt, tmp_path):
    create(rt, id="mine", name="Mine", function="heartbeat", trigger_type="interval", interval_minutes=5)
    dump = tmp_path / "jobs.yaml"
    ok("jobs", "export", str(dump))
    assert f"已创建 0 个，已更改 0 个，未变 {len(DEFAULTS) + 1} 个" in ok("jobs", "import", str(dump)).stdout
    assert set(all_jobs(rt)) == DEFAULTS | {"mine"}


def bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "jobs": [
                    {
                        "id": "first",
                        "name": "First",
                        "function": "heartbeat",
                        "trigger_type": "interval",
                        "interval_minutes": 1,
                    },
                    {
                        "id": "second",
                        "name": "Second",
                        "code": CODE,
                        "trigger_type": "cron",
                        "cron_expression": "0 3 * * *",
                    },
                    {
                        "id": "third",
                        "name": "Third",
                        "function": "heartbeat",
                        "trigger_type": "cron",
                        "cron_expression": "61 * * * *",
                    },
                    {
                        "id": "fourth",
                        "name": "Fourth",
                        "function": "heartbeat",
                        "trigger_type": "interval",
                        "interval_hours": 1,
                    },
                ]
            }
        ),
        encoding="utf-8",
    )
    return path


def test_importing_a_file_with_an_invalid_entry_changes_nothing(rt, tmp_path):
    heartbeat_before = all_jobs(rt)["heartbeat"].version
    result = invoke("jobs", "import", str(bad_file(tmp_path)))
    assert result.exit_code != 0
    assert set(all_jobs(rt)) == DEFAULTS
    assert all_jobs(rt)["heartbeat"].version == heartbeat_before


def test_importing_a_file_with_an_invalid_entry_names_the_entry_and_field(rt, tmp_path, capsys, monkeypatch):
    code, _out, err = run_main(monkeypatch, capsys, "jobs", "import", str(bad_file(tmp_path)))
    assert code == 2
    assert err.startswith("error: job #3 (third): ")
    assert "minute" in err and "61" in err
    assert "Traceback" not in err


def test_an_invalid_import_through_the_click_group_prints_a_clean_error(rt, tmp_path):
    result = invoke("jobs", "import", str(bad_file(tmp_path)))
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: job #3 (third): ")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("jobs: [unclosed\n", "is not valid YAML"),
        ("jobs: 42\n", "expected a list of jobs"),
        ("jobs:\n  - just a string\n", "job #1 (?): expected a mapping"),
        (
            "jobs:\n  - {id: x, name: X, function: heartbeat, trigger_type: interval, interval_minutes: 1, color: red}\n",
            "job #1 (x): color",
        ),
    ],
)
def test_importing_a_malformed_file_fails_cleanly(rt, tmp_path, capsys, monkeypatch, content, message):
    path = tmp_path / "broken.yaml"
    path.write_text(content, encoding="utf-8")
    code, _out, err = run_main(monkeypatch, capsys, "jobs", "import", str(path))
    assert code == 2
    assert message in err and "Traceback" not in err
    assert set(all_jobs(rt)) == DEFAULTS


def test_importing_a_dependent_job_listed_before_its_upstream_works(rt, tmp_path):
    path = tmp_path / "deps.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "jobs": [
                    {
                        "id": "down",
                        "name": "Down",
                        "function": "heartbeat",
                        "trigger_type": "dependency",
                        "depends_on": ["up"],
                    },
                    {
                        "id": "up",
                        "name": "Up",
                        "function": "heartbeat",
                        "trigger_type": "interval",
                        "interval_minutes": 1,
                    },
                ]
            }
        ),
        encoding="utf-8",
    )
    ok("jobs", "import", str(path))
    assert {"down", "up"} <= set(all_jobs(rt))


def test_an_export_of_a_job_depending_on_a_later_id_imports_into_a_fresh_data_dir(use_data_dir, tmp_path):
    use_data_dir("source")
    ok("db", "upgrade")
    source = Runtime.from_env()
    create(
        source, id="z_upstream", name="Up", function="heartbeat", trigger_type="interval", interval_hours=1
    )
    create(
        source,
        id="a_downstream",
        name="Down",
        function="heartbeat",
        trigger_type="dependency",
        depends_on=["z_upstream"],
    )
    source.close()
    dump = tmp_path / "jobs.yaml"
    ok("jobs", "export", str(dump))
    use_data_dir("target")
    ok("db", "upgrade")
    ok("jobs", "import", str(dump))


def test_reset_defaults_restores_deleted_and_edited_defaults(rt):
    admin = Actor("admin", "admin")
    job_service.delete(rt, "cleanup_old_logs", admin)
    job_service.update(rt, "heartbeat", JobPatch(interval_seconds=300), admin)
    assert set(all_jobs(rt)) == DEFAULTS - {"cleanup_old_logs"}
    assert ok("db", "upgrade").stdout.strip().endswith("created: none")  # a re-seed keeps the deletion
    assert set(all_jobs(rt)) == DEFAULTS - {"cleanup_old_logs"}
    result = ok("jobs", "reset-defaults")
    assert "default jobs reset:" in result.stdout and "cleanup_old_logs" in result.stdout
    jobs = all_jobs(rt)
    assert set(jobs) == DEFAULTS
    assert jobs["heartbeat"].trigger_params["seconds"] == 60


# --- run ---------------------------------------------------------------------------


def test_run_heartbeat_prints_success_and_exits_0(rt):
    result = ok("run", "heartbeat")
    assert ": success" in result.stdout
    with rt.db.read() as session:
        [run] = session.scalars(select(Run))
    assert run.status == "success" and run.trigger_source == "manual" and run.triggered_by == "cli"
    assert run.return_value in result.stdout


def test_run_of_a_code_job_prints_its_return_value_and_log(rt):
    create(rt, id="code_ok", name="Code", code=CODE, trigger_type="interval", interval_hours=1)
    result = ok("run", "code_ok")
    assert ": success" in result.stdout
    assert '{"rows": 3}' in result.stdout
    assert "步骤 1" in result.stderr


def test_run_of_a_code_job_that_raises_exits_1_and_prints_the_error(rt):
    create(rt, id="on_fire", name="On fire", code=RAISING_CODE, trigger_type="interval", interval_hours=1)
    result = invoke("run", "on_fire")
    assert result.exit_code == 1, (result.output, result.exception)
    assert ": failed" in result.stdout
    assert "error: " in result.stderr and "the disk is on fire" in result.stderr
    with rt.db.read() as session:
        [run] = session.scalars(select(Run))
    assert run.status == "failed" and "ValueError" in (run.traceback or "")


def test_run_of_an_unknown_job_fails_through_the_entry_point_with_a_clear_message(rt, capsys, monkeypatch):
    code, out, err = run_main(monkeypatch, capsys, "run", "no_such_job")
    assert code == 2
    assert err.strip() == "error: job 'no_such_job' does not exist"
    assert "Traceback" not in out + err


def test_run_of_an_unknown_job_through_the_click_group_prints_a_clear_message(rt):
    result = invoke("run", "no_such_job")
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "job 'no_such_job' does not exist" in result.stderr


def test_run_of_an_unknown_job_in_a_real_process_prints_no_traceback(upgraded):
    script = Path(sys.executable).parent / "whalefall"
    done = subprocess.run(
        [str(script), "run", "no_such_job"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "WHALEFALL_DATA_DIR": str(upgraded)},
    )
    assert done.returncode == 2
    assert "job 'no_such_job' does not exist" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_commands_on_a_database_never_upgraded_fail_with_a_message(data_dir, capsys, monkeypatch):
    code, out, err = run_main(monkeypatch, capsys, "jobs", "list")
    assert code == 2
    assert "whalefall db upgrade" in err and "Traceback" not in out + err


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run the installed entry point ``whalefall.cli:main`` in this process; return (status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["whalefall", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    code = exited.value.code
    return (0 if code is None else code if isinstance(code, int) else 1), out, err
