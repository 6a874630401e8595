"""Backups of Whalefall's own database (SPEC §13): one ``.tar.gz`` with a consistent copy of the
database and a manifest, taken while the product runs.

The copy is the database's own: SQLite's online backup API (one step, under a read lock, so it is
a single consistent state even while jobs and runs are written), ``pg_dump`` (one snapshot) or
``mysqldump``/``mariadb-dump --single-transaction``. Passwords for the dump tools go through the
environment (PostgreSQL) or a 0600 option file (MySQL), never the command line. Instance
passwords stay encrypted inside the copy; the manifest carries fingerprints of the keys (an HMAC
of a fixed text), never a key, so a restore can refuse a backup this server could not read.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from whalefall import clock
from whalefall.errors import BackupRefused
from whalefall.fleet import crypto
from whalefall.runtime import Runtime

FORMAT = 1
MANIFEST = "manifest.json"
NAME = re.compile(r"^whalefall-backup-(\d{8}T\d{6}Z)\.tar\.gz$")
STAMP = "%Y%m%dT%H%M%SZ"
FINGERPRINT_TEXT = b"whalefall backup key check v1"
DUMP_FILES = {"sqlite": "whalefall.db", "postgresql": "whalefall.pgdump", "mysql": "whalefall.sql"}


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int
    manifest: dict[str, Any]
    removed: list[Path]


def fingerprint(key: str | bytes) -> str:
    """A key's fingerprint: an HMAC of a fixed text under the key (the key cannot be read back)."""
    raw = key.encode() if isinstance(key, str) else key
    return hmac.new(raw, FINGERPRINT_TEXT, hashlib.sha256).hexdigest()[:32]


def encryption_keys(runtime: Runtime) -> list[bytes]:
    """The Fernet keys of instance passwords, the encrypting one first (see ``fleet.crypto``)."""
    configured = runtime.settings.encryption_key
    if configured and configured.strip():
        return crypto.parse_keys(configured)
    return [crypto.derive_key(runtime.secret_key)]


def database_kind(url: URL) -> str:
    name = url.get_backend_name()
    return "mysql" if name in ("mysql", "mariadb") else name


def backup_dir(runtime: Runtime) -> Path:
    return runtime.settings.backup_dir or runtime.settings.data_dir / "backups"


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# --- the dump tools ---------------------------------------------------------------


def tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise BackupRefused(
        f"{names[0]} is not installed: it is needed to back up and restore this database "
        f"(Debian: postgresql-client or mariadb-client)",
        key="backup_tool_missing",
        params={"tool": names[0]},
    )


def pg_env(url: URL) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    values = {
        "PGHOST": url.host or "",
        "PGPORT": str(url.port or ""),
        "PGUSER": url.username or "",
        "PGPASSWORD": url.password or "",
        "PGDATABASE": url.database or "",
    }
    env.update({k: str(v) for k, v in values.items() if v})
    return env


def mysql_option_file(url: URL, directory: Path) -> Path:
    """A ``[client]`` option file, 0600, for the dump and load tools (no password in argv)."""
    path = directory / "client.cnf"
    lines = ["[client]"]
    for name, value in (
        ("host", url.host),
        ("port", url.port),
        ("user", url.username),
        ("password", url.password),
    ):
        if value:
            lines.append(f"{name}={value}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def run_tool(argv: list[str], *, env: dict[str, str] | None = None, stdin: Any = None) -> None:
    done = subprocess.run(argv, env=env, stdin=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise BackupRefused(
            f"{Path(argv[0]).name} failed (exit {done.returncode}): {' '.join(tail)}",
            key="backup_tool_failed",
            params={"tool": Path(argv[0]).name, "code": done.returncode, "detail": " ".join(tail)},
        )


def dump(runtime: Runtime, dest: Path) -> None:
    """A consistent copy of the product's database into ``dest``."""
    url = runtime.db.engine.url
    kind = database_kind(url)
    if kind == "sqlite":
        # Not ``mode=ro``: a read-only connection cannot open a WAL database whose -shm is missing.
        source = sqlite3.connect(url.database or "", timeout=30)
        target = sqlite3.connect(dest)
        try:
            with target:
                source.backup(target)  # all pages in one step: one consistent state
        finally:
            target.close()
            source.close()
    elif kind == "postgresql":
        pg_dump = tool("pg_dump")
        run_tool(
            [pg_dump, "--format=custom", "--no-owner", "--no-privileges", "--file", str(dest)],
            env=pg_env(url),
        )
    elif kind == "mysql":
        dumper = tool("mariadb-dump", "mysqldump")
        cnf = mysql_option_file(url, dest.parent)
        try:
            run_tool(
                [
                    dumper,
                    f"--defaults-extra-file={cnf}",
                    "--single-transaction",
                    "--skip-lock-tables",
                    "--no-tablespaces",
                    "--routines",
                    f"--result-file={dest}",
                    url.database or "",
                ]
            )
        finally:
            cnf.unlink(missing_ok=True)
    else:
        raise BackupRefused(f"cannot back up a {kind} database", key="backup_kind", params={"kind": kind})


# --- taking one ---------------------------------------------------------------------


def manifest_for(runtime: Runtime, dump_file: Path, now: datetime) -> dict[str, Any]:
    digest = hashlib.sha256()
    with dump_file.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {
        "format": FORMAT,
        "product": "whalefall",
        "product_version": version("whalefall"),
        "alembic_revision": current_revision(runtime.db.engine),
        "database_kind": database_kind(runtime.db.engine.url),
        "dump_file": dump_file.name,
        "dump_sha256": digest.hexdigest(),
        "dump_bytes": dump_file.stat().st_size,
        "secret_key_fingerprint": fingerprint(runtime.secret_key),
        "encryption_key_fingerprint": fingerprint(encryption_keys(runtime)[0]),
        "created_at": clock.iso(now),
    }


def create(
    runtime: Runtime,
    output: Path | None = None,
    *,
    keep_days: int | None = None,
    now: datetime | None = None,
) -> Backup:
    """Take a backup into ``output`` (default: ``<backup dir>/whalefall-backup-<UTC time>.tar.gz``),
    then remove the backup dir's backups older than ``keep_days`` (setting
    ``backup_retention_days``). Raises BackupRefused."""
    now = now or clock.now()
    directory = backup_dir(runtime)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = output or directory / f"whalefall-backup-{now.astimezone(UTC).strftime(STAMP)}.tar.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    kind = database_kind(runtime.db.engine.url)
    with tempfile.TemporaryDirectory(prefix=".backup-", dir=target.parent) as work:
        dump_file = Path(work) / DUMP_FILES.get(kind, "dump")
        dump(runtime, dump_file)
        manifest = manifest_for(runtime, dump_file, now)
        partial = Path(work) / "backup.tar.gz"
        with tarfile.open(partial, "w:gz") as tar:
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(now.timestamp()), 0o600
            tar.addfile(info, io.BytesIO(data))
            tar.add(dump_file, arcname=dump_file.name)
        os.chmod(partial, 0o600)
        os.replace(partial, target)  # whole or not at all
    removed = prune(directory, keep_days or runtime.settings.backup_retention_days, now=now)
    return Backup(target, target.stat().st_size, manifest, removed)


def prune(directory: Path, keep_days: int, *, now: datetime) -> list[Path]:
    """Remove the backups in ``directory`` taken more than ``keep_days`` before ``now`` (by the
    time in their name, which a copy or a touch does not change); other files are left alone."""
    cutoff = now - timedelta(days=keep_days)
    removed = []
    for path in sorted(directory.glob("whalefall-backup-*.tar.gz")):
        match = NAME.match(path.name)
        if not match or not path.is_file():
            continue
        taken = datetime.strptime(match.group(1), STAMP).replace(tzinfo=UTC)
        if taken < cutoff:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


# --- reading one ---------------------------------------------------------------------


def read_manifest(path: Path) -> dict[str, Any]:
    """A backup's manifest; BackupRefused when the file is not a Whalefall backup."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            member = tar.extractfile(MANIFEST)
            manifest = json.load(member) if member else None
    except (OSError, tarfile.TarError, KeyError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("product") != "whalefall":
        raise BackupRefused(
            f"{path} is not a Whalefall backup (no readable {MANIFEST})",
            key="backup_not_a_backup",
            params={"path": str(path)},
        )
    if manifest.get("format") != FORMAT:
        raise BackupRefused(
            f"{path} is a backup of format {manifest.get('format')}, this version reads format {FORMAT}",
            key="backup_format",
            params={"path": str(path), "format": manifest.get("format"), "ours": FORMAT},
        )
    return manifest


def check_keys(runtime: Runtime, manifest: dict[str, Any]) -> None:
    """Refuse a backup made under other keys than this server's, naming the key that differs."""
    if manifest.get("secret_key_fingerprint") != fingerprint(runtime.secret_key):
        raise BackupRefused(
            "the backup was made with another secret key (WHALEFALL_SECRET_KEY, or the secret_key "
            f"file of the data dir); its fingerprint is {manifest.get('secret_key_fingerprint')}, this "
            f"server's is {fingerprint(runtime.secret_key)}. Set the key the backup was made with "
            "(copy the old data dir's secret_key file, or set WHALEFALL_SECRET_KEY) and restore again",
            key="backup_secret_key_mismatch",
            params={
                "theirs": manifest.get("secret_key_fingerprint"),
                "ours": fingerprint(runtime.secret_key),
            },
        )
    ours = {fingerprint(key) for key in encryption_keys(runtime)}
    if manifest.get("encryption_key_fingerprint") not in ours:
        raise BackupRefused(
            "the backup's instance passwords are encrypted with a key this server does not have "
            f"(WHALEFALL_ENCRYPTION_KEY; fingerprint {manifest.get('encryption_key_fingerprint')}). "
            "Add that key to WHALEFALL_ENCRYPTION_KEY (comma-separated) and restore again",
            key="backup_encryption_key_mismatch",
            params={"theirs": manifest.get("encryption_key_fingerprint")},
        )


def extract_dump(path: Path, manifest: dict[str, Any], directory: Path) -> Path:
    """The backup's database copy, unpacked into ``directory`` and checked against the manifest."""
    name = str(manifest.get("dump_file", ""))
    if name not in DUMP_FILES.values():
        raise BackupRefused(
            f"{path}: unknown dump file {name!r}",
            key="backup_damaged",
            params={"path": str(path), "file": name},
        )
    dest = directory / name
    digest = hashlib.sha256()
    with tarfile.open(path, "r:gz") as tar:
        member = tar.extractfile(name)
        if member is None:
            raise BackupRefused(
                f"{path}: {name} is missing", key="backup_damaged", params={"path": str(path), "file": name}
            )
        with dest.open("wb") as out:
            for block in iter(lambda: member.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
    if digest.hexdigest() != manifest.get("dump_sha256"):
        raise BackupRefused(
            f"{path}: {name} does not match its checksum (damaged)",
            key="backup_damaged",
            params={"path": str(path), "file": name},
        )
    return dest
