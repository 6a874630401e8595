"""Code versions (SPEC §7): every change of a code or shell job's source is kept, with who,
when and a note; versions are listed, shown, compared and restored, and a run records the
version it executed."""

from __future__ import annotations

from sqlalchemy import select

from tests.conftest import make_runtime
from tests.test_job_credentials import run_job
from tests.test_scheduler import ADMIN
from whalefall.domain.jobspec import JobCreate, JobPatch
from whalefall.models import AuditEntry, JobVersion
from whalefall.services import jobs as job_service
from whalefall.services import runs as run_service

API = "/scheduler/api"
V1 = "def execute_task():\n    return 1\n"
V2 = "def execute_task():\n    return 2\n"
V3 = "def execute_task():\n    x = 3\n    return x\n"
CODE_JOB = {
    "id": "coded",
    "name": "Coded",
    "trigger_type": "cron",
    "cron_expression": "0 2 * * *",
    "code": V1,
    "version_note": "first cut",
}


def make(client, headers, body=None):
    response = client.post(f"{API}/jobs", json=body or CODE_JOB, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


def edit(client, headers, job_id="coded", **body):
    response = client.put(f"{API}/jobs/{job_id}", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


def versions(client, headers, job_id="coded"):
    response = client.get(f"{API}/jobs/{job_id}/versions", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


def test_each_change_of_the_source_keeps_a_version_with_who_when_and_the_note(client, bearer):
    admin = bearer("admin")
    job = make(client, admin)
    assert job["code_version"] == 1
    edit(client, admin, code=V2, version_note="return two")
    edit(client, admin, name="Renamed")  # not a change of the source: no version
    edit(client, admin, code=V3)

    data = versions(client, bearer("viewer"))
    assert data["current"] == 3
    rows = data["versions"]
    assert [v["number"] for v in rows] == [3, 2, 1]
    assert [v["note"] for v in rows] == ["", "return two", "first cut"]
    assert all(v["created_by"] == "admin" and v["created_at"].endswith("+00:00") for v in rows)
    assert [v["current"] for v in rows] == [True, False, False]

    one = client.get(f"{API}/jobs/coded/versions/2", headers=bearer("viewer")).get_json()["data"]
    assert one["code"] == V2 and one["kind"] == "code"


def test_the_diff_between_two_versions_is_a_unified_diff(client, bearer):
    admin = bearer("admin")
    make(client, admin)
    edit(client, admin, code=V2)
    edit(client, admin, code=V3)

    response = client.get(f"{API}/jobs/coded/versions/diff?from=1&to=3", headers=bearer("viewer"))
    data = response.get_json()["data"]
    assert (data["from"], data["to"]) == (1, 3)
    assert data["diff"].splitlines() == [
        "--- coded@v1",
        "+++ coded@v3",
        "@@ -1,2 +1,3 @@",
        " def execute_task():",
        "-    return 1",
        "+    x = 3",
        "+    return x",
    ]
    # Without from/to: the current version against the one before it.
    default = client.get(f"{API}/jobs/coded/versions/diff", headers=admin).get_json()["data"]
    assert (default["from"], default["to"]) == (2, 3)
    assert "-    return 2\n" in default["diff"]


def test_restoring_a_version_makes_a_new_version_with_that_source(client, bearer, runtime):
    admin = bearer("admin")
    make(client, admin)
    edit(client, admin, code=V2)

    response = client.post(f"{API}/jobs/coded/versions/1/restore", json={"note": "back"}, headers=admin)
    assert response.status_code == 200, response.get_json()
    job = response.get_json()["data"]
    assert job["code"] == V1 and job["code_version"] == 3
    newest = versions(client, admin)["versions"][0]
    assert (newest["number"], newest["restored_from"], newest["note"]) == (3, 1, "back")
    with runtime.db.read() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "job.update")).all()[-1]
    assert entry.detail["code_version"] == 3


def test_only_an_admin_restores_a_version_and_everyone_signed_in_reads_them(client, bearer):
    make(client, bearer("admin"))
    edit(client, bearer("admin"), code=V2)
    for name in ("operator", "viewer"):
        response = client.post(f"{API}/jobs/coded/versions/1/restore", headers=bearer(name))
        assert response.status_code == 403, name
    assert versions(client, bearer("viewer"))["current"] == 2
    assert client.get(f"{API}/jobs/coded/versions").status_code == 401


def test_a_missing_version_or_a_bad_number_is_named(client, bearer):
    admin = bearer("admin")
    make(client, admin)
    missing = client.get(f"{API}/jobs/coded/versions/9", headers=admin)
    assert missing.status_code == 404 and "9" in missing.get_json()["message"]
    bad = client.get(f"{API}/jobs/coded/versions/diff?from=zero", headers=admin)
    assert bad.status_code == 400 and "from" in bad.get_json()["errors"]
    assert client.get(f"{API}/jobs/nope/versions", headers=admin).status_code == 404


def test_a_shell_job_versions_its_script_argv_directory_and_variables(client, bearer):
    admin = bearer("admin")
    shell = {**CODE_JOB, "id": "sh", "code": None, "script": "echo one\n"}
    make(client, admin, shell)
    edit(client, admin, "sh", env={"A": "1"})
    edit(client, admin, "sh", command=["echo", "two"])
    rows = versions(client, admin, "sh")["versions"]
    assert [v["number"] for v in rows] == [3, 2, 1]
    diff = client.get(f"{API}/jobs/sh/versions/diff?from=1&to=2", headers=admin).get_json()["data"]["diff"]
    assert "+# env A=1\n" in diff
    restored = client.post(f"{API}/jobs/sh/versions/1/restore", headers=admin).get_json()["data"]
    assert (restored["shell_mode"], restored["script"], restored["env"]) == ("script", "echo one\n", {})


def test_a_builtin_job_has_no_versions_and_deleting_a_job_drops_its_versions(client, bearer, runtime):
    admin = bearer("admin")
    builtin = {**CODE_JOB, "id": "plain", "code": None, "function": "heartbeat"}
    assert make(client, admin, builtin)["code_version"] is None
    assert versions(client, admin, "plain")["versions"] == []
    make(client, admin)
    assert client.delete(f"{API}/jobs/coded", headers=admin).status_code == 200
    with runtime.db.read() as session:
        assert session.scalars(select(JobVersion)).all() == []


def test_a_run_records_the_version_it_executed(tmp_path):
    # No sandbox where bubblewrap is missing: the run itself is what matters here.
    runtime = make_runtime(tmp_path, sandbox="none")
    try:
        job_service.create(runtime, JobCreate(**{**CODE_JOB, "code": None, "script": "echo one\n"}), ADMIN)
        job_service.update(runtime, "coded", JobPatch(script="echo two\n"), ADMIN)
        run = run_job(runtime, "coded")
        assert run.status == "success", run.error_message
        assert "two" in run.log
        assert run.code_version == 2
        assert run_service.to_dict(run, "UTC")["code_version"] == 2
    finally:
        runtime.close()
