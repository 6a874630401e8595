"""Restoring a backup (SPEC §13) into this server's database, with the scheduler kept out.

1. Read the manifest; refuse a damaged backup, one of another database kind, one made by a newer
   schema than this version knows, or one made under other keys (named).
2. Hold the scheduler lease for the whole restore: refuse while another node leads (it must be
   stopped first), so no scheduler fires jobs from a database being replaced.
3. Replace the database with the backup's copy (SQLite's backup API into the live file;
   pg_restore or the mysql client after dropping the tables there).
4. Migrate when the backup is older than this version (alembic upgrade).
5. Fence: the lease is left free under a higher epoch than any before, so a scheduler that led
   before the restore cannot claim anything; the next one to start takes it.
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text, update

from whalefall import clock
from whalefall.errors import BackupRefused
from whalefall.fleet import check_secrets
from whalefall.migrate import alembic_config, upgrade
from whalefall.models import Lease
from whalefall.runtime import Runtime
from whalefall.services import audit, backup, nodes
from whalefall.services.audit import Actor
from whalefall.services.fencing import LEASE_NAME


@dataclass(frozen=True)
class Restored:
    manifest: dict[str, Any]
    migrated_from: str | None  # the backup's revision when it was migrated, else None
    revision: str | None


def check(runtime: Runtime, path: Path) -> dict[str, Any]:
    """Everything that can be checked before anything changes; returns the manifest."""
    manifest = backup.read_manifest(path)
    kind = backup.database_kind(runtime.db.engine.url)
    if manifest.get("database_kind") != kind:
        raise BackupRefused(
            f"the backup is of a {manifest.get('database_kind')} database; this server uses {kind} "
            "(WHALEFALL_DATABASE_URL): restore it into the same kind of database",
            key="backup_kind_mismatch",
            params={"theirs": manifest.get("database_kind"), "ours": kind},
        )
    script = ScriptDirectory.from_config(alembic_config(runtime.db.url))
    revision = manifest.get("alembic_revision")
    known = {rev.revision for rev in script.walk_revisions()}
    if revision not in known:
        raise BackupRefused(
            f"the backup's schema ({revision}) is newer than this version of Whalefall knows "
            f"({script.get_current_head()}): restore it with the version that made it "
            f"({manifest.get('product_version')}) or later",
            key="backup_newer",
            params={
                "revision": revision,
                "head": script.get_current_head(),
                "version": manifest.get("product_version"),
            },
        )
    backup.check_keys(runtime, manifest)
    return manifest


def leader(runtime: Runtime) -> Lease | None:
    """The live scheduler lease on this database, if any (a database without tables has none)."""
    if not inspect(runtime.db.engine).has_table("leases"):
        return None
    return nodes.current_leader(runtime)


class LeaseKeeper:
    """Takes the scheduler lease and renews it until stopped (a restore may outlast one lease)."""

    def __init__(self, runtime: Runtime, node_id: str):
        self.runtime, self.node_id = runtime, node_id
        self.epoch = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="whalefall-restore-lease", daemon=True)

    def take(self) -> None:
        if not inspect(self.runtime.db.engine).has_table("leases"):
            return  # an empty database: no scheduler can run on it
        held = leader(self.runtime)
        epoch = nodes.take(self.runtime, self.node_id)
        if epoch is None:
            holder = held.holder if held else "?"
            until = clock.iso(held.expires_at) if held else "?"
            raise BackupRefused(
                f"a scheduler leads on this database (node {holder}, lease until {until}): stop it "
                "(and every `whalefall serve` or `whalefall scheduler` using this database), then "
                "run restore again — restore never replaces a database under a running scheduler",
                key="restore_scheduler_running",
                params={"holder": holder, "until": until},
            )
        self.epoch = epoch
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(max(1.0, self.runtime.settings.lease_seconds / 4)):
            try:
                nodes.take(self.runtime, self.node_id)
            except Exception:  # noqa: BLE001 - the tables are being replaced; the next beat retries
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def restore(
    runtime: Runtime, path: Path, *, node_id: str, say: Callable[[str], None] = lambda _: None
) -> Restored:
    """Restore the backup at ``path`` into this server's database. Raises BackupRefused."""
    manifest = check(runtime, path)
    keeper = LeaseKeeper(runtime, node_id)
    keeper.take()
    say("lease")
    try:
        with tempfile.TemporaryDirectory(prefix=".restore-", dir=runtime.settings.data_dir) as work:
            dump_file = backup.extract_dump(path, manifest, Path(work))
            _load(runtime, dump_file, Path(work))
    finally:
        keeper.stop()
    say("loaded")
    runtime.db.engine.dispose()
    revision = manifest.get("alembic_revision")
    migrated_from = None
    if revision != ScriptDirectory.from_config(alembic_config(runtime.db.url)).get_current_head():
        upgrade(runtime.db.engine)
        migrated_from = revision
        say("migrated")
    _fence(runtime, keeper.epoch)
    check_secrets(runtime)  # the restored passwords decrypt with this server's key
    with runtime.db.begin() as session:
        detail = {"file": path.name, "created_at": manifest.get("created_at"), "migrated_from": migrated_from}
        audit.record(session, Actor.system(), "backup.restore", "backup", path.name, detail)
    return Restored(manifest, migrated_from, backup.current_revision(runtime.db.engine))


def _fence(runtime: Runtime, epoch_before: int) -> None:
    """Leave the lease free, under an epoch above both the restored one and the one before."""
    with runtime.db.begin() as session:
        lease = session.get(Lease, LEASE_NAME)
        if lease is None:  # a backup from before any scheduler ran
            session.add(Lease(name=LEASE_NAME, holder=None, expires_at=clock.now(), epoch=epoch_before + 1))
            return
        session.execute(
            update(Lease)
            .where(Lease.name == LEASE_NAME)
            .values(holder=None, expires_at=clock.now(), epoch=max(lease.epoch, epoch_before) + 1)
        )


def _load(runtime: Runtime, dump_file: Path, work: Path) -> None:
    engine = runtime.db.engine
    url = engine.url
    kind = backup.database_kind(url)
    if kind == "sqlite":
        engine.dispose()
        source = sqlite3.connect(dump_file)
        target = sqlite3.connect(url.database or "", timeout=30)
        try:
            source.backup(target)  # page by page into the live file, under its write lock
        finally:
            target.close()
            source.close()
        return
    _drop_tables(runtime)
    if kind == "postgresql":
        pg_restore = backup.tool("pg_restore")
        backup.run_tool(
            [
                pg_restore,
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                "--dbname",
                url.database or "",
                str(dump_file),
            ],
            env=backup.pg_env(url),
        )
    else:
        client = backup.tool("mariadb", "mysql")
        cnf = backup.mysql_option_file(url, work)
        with dump_file.open("rb") as stdin:
            backup.run_tool([client, f"--defaults-extra-file={cnf}", url.database or ""], stdin=stdin)


def _drop_tables(runtime: Runtime) -> None:
    """Empty the server database of the product's tables, so the backup's schema is the whole schema."""
    engine = runtime.db.engine
    names = inspect(engine).get_table_names()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            for name in names:
                conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
        else:
            conn.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
            for name in names:
                conn.execute(text(f"DROP TABLE IF EXISTS `{name}`"))
            conn.execute(text("SET FOREIGN_KEY_CHECKS = 1"))
    engine.dispose()
