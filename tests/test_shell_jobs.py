"""Shell jobs (SPEC §5): an argv list or a /bin/sh script, a working directory, an environment.

The API tests go through Flask's test client; the run tests start the job for real in the
bubblewrap sandbox through the runner (``whalefall run``'s path).
"""

from __future__ import annotations

import pytest

from whalefall.domain.jobspec import JobCreate
from whalefall.scheduler.oneshot import run_in_foreground
from whalefall.services import jobs as job_service
from whalefall.services import transfer
from whalefall.services.audit import Actor

ADMIN = Actor("admin", "admin")
ARGV_JOB = {
    "id": "disk-usage",
    "name": "Disk usage",
    "trigger_type": "cron",
    "cron_expression": "0 3 * * *",
    "command": ["du", "-sh", "/var/lib/mysql"],
    "working_dir": "/var/tmp",
    "env": {"LC_ALL": "C", "BACKUP_TAG": "nightly"},
}
SCRIPT_JOB = {
    "id": "rotate",
    "name": "Rotate",
    "trigger_type": "interval",
    "interval_hours": 1,
    "script": "set -e\nfind /tmp -name '*.old' | wc -l\n",
}


@pytest.fixture
def admin(bearer):
    return bearer("admin")


@pytest.fixture
def operator(bearer):
    return bearer("operator")


# --- the API ----------------------------------------------------------------------


def test_an_argv_shell_job_is_created_and_read_back_with_its_command(client, admin):
    created = client.post("/scheduler/api/jobs", json=ARGV_JOB, headers=admin)
    assert created.status_code == 200, created.json
    job = client.get("/scheduler/api/jobs/disk-usage", headers=admin).json["data"]
    assert job["kind"] == "shell" and job["func_name"] is None and job["code"] is None
    assert job["shell_mode"] == "argv"
    assert job["command"] == ["du", "-sh", "/var/lib/mysql"] and job["script"] is None
    assert job["working_dir"] == "/var/tmp"
    assert job["env"] == {"LC_ALL": "C", "BACKUP_TAG": "nightly"}
    listed = client.get("/scheduler/api/jobs", headers=admin).json["data"]["jobs"]
    assert [j["kind"] for j in listed] == ["shell"]


def test_a_script_shell_job_keeps_its_text_and_runs_in_the_private_workdir_by_default(client, admin):
    created = client.post("/scheduler/api/jobs", json=SCRIPT_JOB, headers=admin)
    assert created.status_code == 200, created.json
    job = created.json["data"]
    assert job["kind"] == "shell" and job["shell_mode"] == "script"
    assert job["script"] == SCRIPT_JOB["script"] and job["command"] is None
    assert job["working_dir"] is None and job["env"] == {}


def test_updating_a_shell_job_switches_mode_and_changes_only_the_fields_given(client, admin):
    client.post("/scheduler/api/jobs", json=ARGV_JOB, headers=admin)
    to_script = client.put("/scheduler/api/jobs/disk-usage", json={"script": "df -h"}, headers=admin)
    assert to_script.status_code == 200, to_script.json
    job = to_script.json["data"]
    assert job["shell_mode"] == "script" and job["script"] == "df -h" and job["command"] is None
    assert job["working_dir"] == "/var/tmp" and job["env"]["BACKUP_TAG"] == "nightly"

    env_only = client.put("/scheduler/api/jobs/disk-usage", json={"env": {"A": "1"}}, headers=admin)
    assert env_only.json["data"]["env"] == {"A": "1"} and env_only.json["data"]["script"] == "df -h"
    cleared = client.put("/scheduler/api/jobs/disk-usage", json={"working_dir": ""}, headers=admin)
    assert cleared.json["data"]["working_dir"] is None

    to_builtin = client.put("/scheduler/api/jobs/disk-usage", json={"function": "heartbeat"}, headers=admin)
    assert to_builtin.json["data"]["kind"] == "builtin"
    assert "command" not in to_builtin.json["data"]


def test_an_operator_may_neither_create_nor_change_a_shell_job(client, admin, operator):
    refused = client.post("/scheduler/api/jobs", json=ARGV_JOB, headers=operator)
    assert refused.status_code == 403
    client.post("/scheduler/api/jobs", json=ARGV_JOB, headers=admin)
    change = client.put("/scheduler/api/jobs/disk-usage", json={"name": "x"}, headers=operator)
    assert change.status_code == 403
    builtin = {"id": "hb", "name": "hb", "trigger_type": "interval", "interval_hours": 1}
    client.post("/scheduler/api/jobs", json={**builtin, "function": "heartbeat"}, headers=operator)
    turned = client.put("/scheduler/api/jobs/hb", json={"command": ["true"]}, headers=operator)
    assert turned.status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"command": []}, "command"),
        ({"command": ["", "x"]}, "command"),
        ({"command": "ls -l"}, "command"),
        ({"command": ["ls", 3]}, "command"),
        ({"command": ["ls", "a\x00b"]}, "command"),
        ({"command": None, "script": "   "}, "script"),
        ({"command": None, "script": "echo\x00"}, "script"),
        ({"working_dir": "var/tmp"}, "working_dir"),
        ({"env": {"1ABC": "x"}}, "env"),
        ({"env": {"BAD-NAME": "x"}}, "env"),
        ({"env": {"WHALEFALL_SECRET_KEY": "x"}}, "env"),
        ({"env": {"whalefall_run_id": "x"}}, "env"),
        ({"env": {"A": 1}}, "env"),
        ({"env": ["A=1"]}, "env"),
        ({"script": "echo hi"}, "script"),
        ({"code": "def execute_task():\n    pass\n"}, "command"),
    ],
)
def test_bad_shell_input_is_a_400_naming_the_field(client, admin, runtime, change, field):
    body = {k: v for k, v in {**ARGV_JOB, **change}.items() if v is not None}
    response = client.post("/scheduler/api/jobs?lang=en", json=body, headers=admin)
    assert response.status_code == 400, response.json
    assert [k.split(".")[0] for k in response.json["errors"]] == [field], response.json
    zh = client.post("/scheduler/api/jobs", json=body, headers=admin).json["message"]
    label = {
        "command": "命令",
        "script": "脚本",
        "working_dir": "工作目录",
        "env": "环境变量",
        "code": "代码",
    }
    assert label[field] in zh, zh
    with runtime.db.read() as session:
        assert job_service.page(session)[1] == 0


def test_working_dir_and_env_belong_to_shell_jobs_only(client, admin):
    body = {
        "id": "hb",
        "name": "hb",
        "trigger_type": "interval",
        "interval_hours": 1,
        "function": "heartbeat",
    }
    response = client.post("/scheduler/api/jobs?lang=en", json={**body, "env": {"A": "1"}}, headers=admin)
    assert response.status_code == 400
    assert response.json["message"] == "environment is for shell jobs only (give `command` or `script`)"
    zh = client.post("/scheduler/api/jobs", json={**body, "working_dir": "/tmp"}, headers=admin)
    assert zh.json["message"] == "「工作目录」只适用于 Shell 任务（请填写「命令」或「脚本」）"


def test_shell_jobs_are_exported_and_imported_with_their_command(runtime):
    for data in (ARGV_JOB, SCRIPT_JOB):
        job_service.create(runtime, JobCreate.model_validate(data), ADMIN)
    exported = transfer.export_jobs(runtime)
    by_id = {e["id"]: e for e in exported}
    assert by_id["disk-usage"]["command"] == ARGV_JOB["command"]
    assert by_id["disk-usage"]["env"] == ARGV_JOB["env"]
    assert by_id["disk-usage"]["working_dir"] == "/var/tmp"
    assert by_id["rotate"]["script"] == SCRIPT_JOB["script"]
    assert "code" not in by_id["rotate"] and "function" not in by_id["rotate"]

    renamed = [{**e, "id": e["id"] + "-copy"} for e in exported]
    report = transfer.import_jobs(runtime, renamed, ADMIN)
    assert sorted(report.created) == ["disk-usage-copy", "rotate-copy"]
    with runtime.db.read() as session:
        copy = job_service.to_dict(runtime, job_service.get(session, "disk-usage-copy"), with_code=True)
        script = job_service.to_dict(runtime, job_service.get(session, "rotate-copy"), with_code=True)
    assert copy["command"] == ARGV_JOB["command"] and copy["env"] == ARGV_JOB["env"]
    assert script["script"] == SCRIPT_JOB["script"] and script["shell_mode"] == "script"


# --- running, for real, in the sandbox ------------------------------------------------


def shell_job(runtime, job_id, **fields):
    data = {"id": job_id, "name": job_id, "trigger_type": "interval", "interval_hours": 1, **fields}
    return job_service.create(runtime, JobCreate.model_validate(data), ADMIN)


def test_a_command_that_exits_0_succeeds_with_its_output_in_the_log(runtime):
    shell_job(runtime, "hello", command=["echo", "hello from argv", "$HOME"])
    run = run_in_foreground(runtime, "hello")
    assert run.status == "success", run.error_message
    assert "hello from argv $HOME" in run.log  # argv: no shell expands anything


def test_a_script_that_exits_3_fails_naming_the_code_and_its_last_lines(runtime):
    shell_job(runtime, "three", script="echo about to fail\nexit 3\n")
    run = run_in_foreground(runtime, "three")
    assert run.status == "failed"
    assert "exited with code 3" in run.error_message and "about to fail" in run.error_message
    assert "about to fail" in run.log


def test_stdout_and_stderr_both_reach_the_log_in_order(runtime):
    shell_job(runtime, "both", script="echo to-out; echo to-err >&2; echo out-again")
    run = run_in_foreground(runtime, "both")
    assert run.status == "success", run.error_message
    assert run.log.index("to-out") < run.log.index("to-err") < run.log.index("out-again")


def test_env_and_working_dir_are_honoured_and_the_run_context_is_in_the_environment(runtime):
    shell_job(
        runtime,
        "where",
        script='echo "dir=$(pwd) tag=$BACKUP_TAG job=$WHALEFALL_JOB_ID run=$WHALEFALL_RUN_ID"',
        working_dir="/etc",
        env={"BACKUP_TAG": "nightly two"},
    )
    run = run_in_foreground(runtime, "where")
    assert run.status == "success", run.error_message
    assert f"dir=/etc tag=nightly two job=where run={run.id}" in run.log


def test_the_default_working_dir_is_the_runs_private_writable_workdir(runtime):
    shell_job(runtime, "scratch", script="echo data > f.txt && cat f.txt && pwd")
    run = run_in_foreground(runtime, "scratch")
    assert run.status == "success", run.error_message
    assert "data" in run.log and f"run-{run.id}" in run.log


def test_a_missing_program_or_working_dir_fails_saying_so(runtime):
    shell_job(runtime, "nope", command=["no-such-program-here"])
    missing = run_in_foreground(runtime, "nope")
    assert missing.status == "failed" and "no-such-program-here" in missing.error_message
    shell_job(runtime, "nodir", command=["true"], working_dir="/no/such/dir")
    nodir = run_in_foreground(runtime, "nodir")
    assert nodir.status == "failed" and "/no/such/dir" in nodir.error_message


def test_a_shell_job_past_its_timeout_is_killed_and_marked_timeout(runtime):
    shell_job(runtime, "slow", script="echo started; sleep 30", timeout_seconds=1)
    run = run_in_foreground(runtime, "slow")
    assert run.status == "timeout" and "timed out" in run.error_message
    assert run.duration_seconds < 10 and "started" in run.log


def test_the_host_is_read_only_to_a_shell_job(runtime, tmp_path):
    target = tmp_path / "outside.txt"
    shell_job(runtime, "writer", script=f"echo x > {target}")
    run = run_in_foreground(runtime, "writer")
    assert run.status == "failed" and not target.exists()
