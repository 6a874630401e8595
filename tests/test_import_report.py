"""Importing jobs: a report of what it creates, changes and leaves, a dry run that keeps nothing,
all or nothing when one job of the file is bad; through the service, the API and the CLI."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import func, select

from whalefall.domain.jobspec import JobCreate
from whalefall.errors import InvalidInput
from whalefall.models import AuditEntry, Job, JobChange
from whalefall.services import jobs as job_service
from whalefall.services import transfer
from whalefall.services.audit import Actor


def make_job(rt, job_id: str, **fields) -> None:
    data = {"id": job_id, "name": job_id.title(), "function": "heartbeat", "trigger_type": "interval"}
    job_service.create(rt, JobCreate(**{**data, "interval_minutes": 5, **fields}), Actor.system())


def snapshot(rt) -> tuple[dict[str, dict], int, int]:
    """Every job as exported, and how many feed and audit rows there are."""
    with rt.db.read() as session:
        changes = session.scalar(select(func.count()).select_from(JobChange))
        audits = session.scalar(select(func.count()).select_from(AuditEntry))
    return {e["id"]: e for e in transfer.export_jobs(rt)}, changes, audits


def file_with_one_of_each(rt) -> list[dict]:
    """kept (unchanged), renamed (changed), fresh (new)."""
    make_job(rt, "kept")
    make_job(rt, "renamed")
    entries = transfer.export_jobs(rt)
    next(e for e in entries if e["id"] == "renamed")["name"] = "New name"
    return [
        *entries,
        {
            "id": "fresh",
            "name": "Fresh",
            "function": "heartbeat",
            "trigger_type": "cron",
            "cron_expression": "0 3 * * *",
        },
    ]


def test_a_dry_run_reports_what_it_would_create_change_and_leave_and_keeps_nothing(runtime):
    entries = file_with_one_of_each(runtime)
    before = snapshot(runtime)

    report = transfer.import_jobs(runtime, entries, Actor.system(), dry_run=True)

    assert report.created == ["fresh"]
    assert report.changed == [{"id": "renamed", "fields": ["name"]}]
    assert report.unchanged == ["kept"]
    assert report.applied is False
    assert snapshot(runtime) == before


def test_an_import_writes_only_what_changes(runtime):
    entries = file_with_one_of_each(runtime)
    _jobs, changes, audits = snapshot(runtime)

    report = transfer.import_jobs(runtime, entries, Actor.system())

    assert report.applied and report.created == ["fresh"]
    jobs, changes_after, audits_after = snapshot(runtime)
    assert jobs["renamed"]["name"] == "New name" and "fresh" in jobs
    assert (changes_after - changes, audits_after - audits) == (2, 2)  # nothing for "kept"


def test_one_bad_job_in_the_file_changes_nothing_and_is_named(runtime):
    entries = file_with_one_of_each(runtime)
    entries.append(
        {"id": "broken", "name": "Broken", "function": "heartbeat", "trigger_type": "cron", "cron_hour": "25"}
    )
    before = snapshot(runtime)

    with pytest.raises(InvalidInput) as refused:
        transfer.import_jobs(runtime, entries, Actor.system())

    assert refused.value.params["id"] == "broken" and refused.value.params["index"] == 4
    assert snapshot(runtime) == before


# --- the API ------------------------------------------------------------------------------------


def test_the_export_downloads_yaml_the_import_reads_back(runtime, client, bearer):
    operator = bearer("operator")
    make_job(runtime, "nightly")
    response = client.get("/scheduler/api/export/jobs", headers=operator)
    assert response.status_code == 200
    assert response.mimetype == "application/yaml"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="whalefall-jobs-')
    text = response.get_data(as_text=True)
    assert [e["id"] for e in yaml.safe_load(text)["jobs"]] == ["nightly"]

    changed = text.replace("name: Nightly", "name: Renamed")
    headers = {**operator, "Content-Type": "application/yaml"}
    dry = client.post("/scheduler/api/import/jobs?dry_run=1&lang=en", data=changed, headers=headers)
    assert dry.status_code == 200, dry.json
    assert dry.json["data"]["changed"] == [{"id": "nightly", "fields": ["name"]}]
    assert dry.json["message"] == "dry run: 0 to create, 1 to change, 0 unchanged; nothing was changed"
    assert snapshot(runtime)[0]["nightly"]["name"] == "Nightly"

    applied = client.post("/scheduler/api/import/jobs", data=changed, headers=headers)
    assert applied.json["data"]["applied"] is True
    assert snapshot(runtime)[0]["nightly"]["name"] == "Renamed"


def test_an_import_through_the_api_refuses_bad_yaml_and_bad_jobs_naming_them(runtime, client, bearer):
    headers = {**bearer("operator"), "Content-Type": "application/yaml"}
    bad_yaml = client.post("/scheduler/api/import/jobs", data="jobs: [unclosed", headers=headers)
    assert bad_yaml.status_code == 400 and "YAML" in bad_yaml.json["message"]

    code_job = [
        {
            "id": "script",
            "name": "S",
            "code": "def execute_task():\n    pass\n",
            "trigger_type": "interval",
            "interval_minutes": 1,
        }
    ]
    fine = [
        {
            "id": "fine",
            "name": "F",
            "function": "heartbeat",
            "trigger_type": "interval",
            "interval_minutes": 1,
        }
    ]
    refused = client.post(
        "/scheduler/api/import/jobs?lang=en", json={"jobs": fine + code_job}, headers=bearer("operator")
    )
    assert refused.status_code == 400 and "script" in refused.json["message"]
    assert snapshot(runtime)[0] == {}
    checked = client.post(
        "/scheduler/api/import/jobs", json={"jobs": fine, "dry_run": True}, headers=bearer("operator")
    )
    assert checked.json["data"]["created"] == ["fine"] and checked.json["data"]["applied"] is False
    assert snapshot(runtime)[0] == {}
    assert client.get("/scheduler/api/export/jobs", headers=bearer("viewer")).status_code == 403


def test_the_cli_import_has_a_dry_run(runtime, tmp_path, monkeypatch):
    from whalefall.cli import cli

    entries = file_with_one_of_each(runtime)
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump({"jobs": entries}, allow_unicode=True))
    monkeypatch.setenv("WHALEFALL_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("WHALEFALL_SECRET_KEY", "test-secret")
    monkeypatch.setenv("WHALEFALL_LANGUAGE", "en")
    before = snapshot(runtime)

    result = CliRunner().invoke(cli, ["jobs", "import", "--dry-run", str(path)])

    assert result.exit_code == 0, result.output
    assert "+ fresh" in result.output and "~ renamed: name" in result.output
    assert "would create 1, would change 1, unchanged 1 (dry run: nothing changed)" in result.output
    assert snapshot(runtime) == before
    with runtime.db.read() as session:
        assert session.get(Job, "fresh") is None
