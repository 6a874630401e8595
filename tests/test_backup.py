"""Backup and restore of Whalefall's own data (SPEC §13): a consistent copy taken while jobs and
runs are written, restored row for row into an empty data dir; a backup under another key refused;
old backups removed by an explicit clock; a running scheduler never has its database replaced."""

from __future__ import annotations

import io
import json
import tarfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.test_job_credentials import run_job
from tests.test_scheduler import ADMIN
from whalefall.cli import cli
from whalefall.domain.instancespec import InstanceCreate
from whalefall.domain.jobspec import JobCreate
from whalefall.errors import BackupRefused
from whalefall.fleet import crypto
from whalefall.migrate import upgrade
from whalefall.models import Base, Job, TriggerSource
from whalefall.runtime import Runtime
from whalefall.services import backup, defaults, instances, nodes, restore
from whalefall.services import jobs as job_service
from whalefall.services import runs as run_service

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def job(job_id: str) -> JobCreate:
    return JobCreate(
        id=job_id, name=job_id, trigger_type="cron", cron_expression="0 2 * * *", function="heartbeat"
    )


def rows(runtime: Runtime) -> dict[str, dict[tuple, dict]]:
    """Every row of every table, by primary key."""
    found: dict[str, dict[tuple, dict]] = {}
    with runtime.db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            keys = [c.name for c in table.primary_key.columns]
            found[table.name] = {
                tuple(row[k] for k in keys): dict(row) for row in conn.execute(table.select()).mappings()
            }
    return found


def empty_runtime(path: Path, **overrides) -> Runtime:
    """A runtime on a data dir with nothing in it yet (no schema, no tables)."""
    return Runtime.from_env({"data_dir": path, "secret_key": "test-secret", **overrides})


def restore_into(target: Runtime, path: Path) -> restore.Restored:
    return restore.restore(target, path, node_id=nodes.make_node_id("restore"))


def test_a_backup_taken_while_jobs_and_runs_are_written_restores_row_for_row(any_runtime, tmp_path):
    """SQLite into an empty data dir; PostgreSQL and MariaDB back into their database, emptied."""
    runtime = any_runtime
    instances.create(
        runtime,
        InstanceCreate(name="orders", db_type="mysql", host="127.0.0.1", username="u", password="s3cret-pw"),
        ADMIN,
    )
    written, stop = [0], threading.Event()
    enough, after = threading.Event(), threading.Event()
    backed_up = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            job_id = f"w{written[0]}"
            job_service.create(runtime, job(job_id), ADMIN)
            run_service.enqueue(runtime, job_id, source=TriggerSource.MANUAL, actor=ADMIN)
            written[0] += 1
            if written[0] >= 5:
                enough.set()
            if backed_up.is_set():
                after.set()  # at least one job and run written after the backup ended

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert enough.wait(30)
        taken = backup.create(runtime)
        backed_up.set()
        assert after.wait(30)
    finally:
        stop.set()
        thread.join()

    assert taken.path.parent == runtime.settings.data_dir / "backups"
    assert taken.manifest["database_kind"] == {"sqlite": "sqlite", "postgresql": "postgresql"}.get(
        runtime.db.engine.dialect.name, "mysql"
    )
    assert taken.path.stat().st_mode & 0o777 == 0o600
    source = rows(runtime)
    server = taken.manifest["database_kind"] != "sqlite"
    target = runtime if server else empty_runtime(tmp_path / "restored")
    try:
        done = restore_into(target, taken.path)
        assert done.migrated_from is None and done.revision == taken.manifest["alembic_revision"]
        copy = rows(target)
        for table, kept in copy.items():
            if table in ("leases", "audit_log"):
                continue  # the restore fences the lease and records itself
            for key, row in kept.items():
                assert source[table][key] == row, (table, key)
        restored_jobs = {k[0] for k in copy["jobs"]}
        assert {f"w{i}" for i in range(5)} <= restored_jobs
        assert restored_jobs < {k[0] for k in source["jobs"]}  # the backup is a moment, not the end
        # One moment: each restored job has its change-feed row; every run its job; every job but
        # the last one written its run (job and run are two transactions of the writer).
        changes = {row["job_id"] for row in copy["job_changes"].values()}
        run_jobs = {row["job_id"] for row in copy["runs"].values()}
        written_jobs = sorted((j for j in restored_jobs if j.startswith("w")), key=lambda j: int(j[1:]))
        assert set(written_jobs) <= changes
        assert run_jobs <= restored_jobs and set(written_jobs[:-1]) <= run_jobs
        # The instance's password is still the encrypted text, and decrypts with the same key.
        (instance,) = copy["instances"].values()
        assert instance["password_encrypted"] and "s3cret-pw" not in instance["password_encrypted"]
        assert crypto.decrypt(target, instance["password_encrypted"]) == "s3cret-pw"
    finally:
        if not server:
            target.close()


def test_a_backup_made_under_another_secret_key_is_refused_naming_the_key(runtime, tmp_path):
    taken = backup.create(runtime)
    target = empty_runtime(tmp_path / "other", secret_key="another-secret")
    try:
        with pytest.raises(BackupRefused) as refused:
            restore_into(target, taken.path)
        assert "WHALEFALL_SECRET_KEY" in refused.value.message
        assert backup.fingerprint("another-secret") in refused.value.message
        assert "test-secret" not in refused.value.message
    finally:
        target.close()
    manifest = backup.read_manifest(taken.path)
    assert "test-secret" not in str(manifest) and manifest["secret_key_fingerprint"] == backup.fingerprint(
        "test-secret"
    )


def test_the_restore_command_refuses_another_key_with_a_clear_message(runtime, tmp_path, monkeypatch):
    taken = backup.create(runtime)
    monkeypatch.setenv("WHALEFALL_DATA_DIR", str(tmp_path / "fresh"))
    monkeypatch.setenv("WHALEFALL_SECRET_KEY", "not-the-same-key")
    result = CliRunner().invoke(cli, ["restore", str(taken.path)])
    assert result.exit_code == 2, result.output
    assert "another secret key" in result.output and "WHALEFALL_SECRET_KEY" in result.output


def test_the_backup_and_restore_commands_round_trip_and_tell_the_user_to_start_again(
    runtime, tmp_path, monkeypatch
):
    job_service.create(runtime, job("nightly"), ADMIN)
    monkeypatch.setenv("WHALEFALL_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("WHALEFALL_SECRET_KEY", "test-secret")
    monkeypatch.setenv("WHALEFALL_LANGUAGE", "en")
    out = tmp_path / "out.tar.gz"
    made = CliRunner().invoke(cli, ["backup", "--output", str(out)])
    assert made.exit_code == 0, made.output
    assert f"backup written: {out}" in made.output
    monkeypatch.setenv("WHALEFALL_DATA_DIR", str(tmp_path / "fresh"))
    done = CliRunner().invoke(cli, ["restore", str(out)])
    assert done.exit_code == 0, done.output
    assert "the keys match" in done.output and "Start Whalefall again" in done.output
    target = empty_runtime(tmp_path / "fresh")
    try:
        with target.db.read() as session:
            assert session.get(Job, "nightly") is not None
    finally:
        target.close()


def test_retention_removes_backups_older_than_the_setting_by_their_time(runtime):
    directory = backup.backup_dir(runtime)
    directory.mkdir(parents=True)
    names = {
        days: directory / f"whalefall-backup-{(NOW - timedelta(days=days)).strftime(backup.STAMP)}.tar.gz"
        for days in (1, 29, 31, 400)
    }
    for path in names.values():
        path.write_bytes(b"old")
    (directory / "notes.txt").write_text("mine")

    taken = backup.create(runtime, now=NOW)  # backup_retention_days: 30
    assert sorted(taken.removed) == sorted([names[31], names[400]])
    assert names[1].exists() and names[29].exists() and (directory / "notes.txt").exists()
    assert taken.path.exists()
    assert backup.prune(directory, 1, now=NOW + timedelta(days=1, seconds=1)) == sorted(
        [names[29], names[1], taken.path]
    )


def test_a_restore_is_refused_while_another_node_leads(runtime, tmp_path):
    taken = backup.create(runtime)
    elsewhere = "db-host-2~other-machine:4242:abc123"
    assert nodes.take(runtime, elsewhere) is not None
    with pytest.raises(BackupRefused) as refused:
        restore_into(runtime, taken.path)
    assert elsewhere in refused.value.message and "stop it" in refused.value.message
    nodes.release(runtime, elsewhere)
    before = nodes.lease(runtime).epoch
    restore_into(runtime, taken.path)
    lease = nodes.lease(runtime)
    assert lease.holder is None and lease.epoch > before  # a leader from before cannot claim


def test_an_older_backup_is_migrated_after_it_is_restored(tmp_path):
    old = Runtime.from_env({"data_dir": tmp_path / "old", "secret_key": "test-secret"})
    target = empty_runtime(tmp_path / "new")
    try:
        upgrade(old.db.engine, "0008")
        taken = backup.create(old)
        assert taken.manifest["alembic_revision"] == "0008"
        done = restore_into(target, taken.path)
        assert done.migrated_from == "0008" and done.revision == backup.current_revision(target.db.engine)
        with target.db.read() as session:
            assert session.scalars(select(Job)).all() == []
    finally:
        old.close()
        target.close()


def test_a_file_that_is_not_a_backup_or_is_damaged_is_refused(runtime, tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tarball")
    with pytest.raises(BackupRefused, match="not a Whalefall backup"):
        restore.check(runtime, junk)
    taken = backup.create(runtime)
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(taken.path) as src, tarfile.open(damaged, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name != backup.MANIFEST:
                data = data[:-10] + b"0" * 10
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    with pytest.raises(BackupRefused, match="checksum"):
        restore_into(runtime, damaged)


def test_the_default_backup_job_runs_and_reports_the_file_and_its_size(runtime):
    defaults.seed(runtime)
    with runtime.db.read() as session:
        seeded = session.get(Job, "backup_whalefall")
        assert seeded.state == "active" and seeded.trigger_params["hour"] == "2"
    run = run_job(runtime, "backup_whalefall")
    assert run.status == "success", run.error_message
    result = json.loads(run.return_value)
    path = Path(result["path"])
    assert path.parent == runtime.settings.data_dir / "backups" and path.stat().st_size == result["bytes"]
    assert backup.read_manifest(path)["database_kind"] == "sqlite"
