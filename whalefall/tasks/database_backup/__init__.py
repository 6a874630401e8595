"""``database_backup`` (template): a gzip-compressed, verified dump of a registered instance's database.

1. The instance's credentials are read for this run only (``services.job_credentials``, audited).
   They reach the dump tool through its environment (PostgreSQL: ``PGPASSWORD``, ``PGHOST`` …) or
   a 0600 option file it is pointed at (MySQL/MariaDB: ``--defaults-extra-file``) — never argv.
2. ``pg_dump`` (plain SQL) or ``mariadb-dump``/``mysqldump`` (``--single-transaction``) streams
   into ``<directory>/<job id>-<UTC time>.sql.gz.partial``.
3. The file is verified as it lies on disk: it decompresses, it is not empty, and it ends with the
   tool's trailer (``-- PostgreSQL database dump complete`` / ``-- Dump completed``); only then is
   it renamed to ``….sql.gz``. A failed or cancelled dump leaves no file.
4. Retention: of this job's own dumps (the name pattern above, nothing else) those older than
   ``keep_days`` and those beyond the newest ``keep_files`` are removed.

Tools: Debian packages ``postgresql-client`` (pg_dump; its major version must be at least the
server's) and ``mariadb-client`` (mariadb-dump; ``mysqldump`` is used when it is the only one).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from whalefall import clock
from whalefall.domain.base import Strict
from whalefall.errors import TaskFailed
from whalefall.fleet.base import Target
from whalefall.services import job_credentials
from whalefall.tasks.params import DATABASE_NAME_PATTERN, TEMPLATE_ENGINES, DatabaseName, TemplateInstance
from whalefall.tasks.paths import check_directory, usable_directory
from whalefall.tasks.registry import TaskContext

TOOLS = {"postgresql": ("pg_dump",), "mysql": ("mariadb-dump", "mysqldump")}
PACKAGES = {"postgresql": "postgresql-client", "mysql": "mariadb-client"}
TRAILERS = {"postgresql": b"-- PostgreSQL database dump complete", "mysql": b"-- Dump completed"}
CHUNK = 1024 * 1024
TAIL = 4096  # bytes of the dump's end kept to look for the trailer
STAMP = "%Y%m%dT%H%M%SZ"
CANCEL_POLL_SECONDS = 0.5


class Params(Strict):
    instance_id: TemplateInstance
    database: DatabaseName = None
    directory: str = Field(max_length=4096, description="absolute directory the dumps go to")
    keep_days: int | None = Field(7, ge=1, le=36_500, description="remove this job's dumps older than this")
    keep_files: int | None = Field(
        None, ge=1, le=10_000, description="keep at most this many of this job's dumps"
    )

    @field_validator("directory")
    @classmethod
    def _directory(cls, value: str, info: ValidationInfo) -> str:
        return check_directory(value, info, protect_data_dir=False)


def find_tool(db_type: str) -> str:
    """The dump program's path; raises TaskFailed naming the Debian package when none is installed."""
    for name in TOOLS[db_type]:
        found = shutil.which(name)
        if found:
            return found
    names = " or ".join(TOOLS[db_type])
    raise TaskFailed(f"{names} is not installed on this machine (Debian package {PACKAGES[db_type]})")


def option_file_value(text: str) -> str:
    """``text`` as a double-quoted value of a MySQL option file: ``\\``, ``\"`` and the control escapes."""
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def write_option_file(folder: Path, target: Target) -> Path:
    """A 0600 ``[client]`` option file with the connection and the password."""
    path = folder / "client.cnf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("[client]\n")
        f.write(f"host={option_file_value(target.host)}\n")
        f.write(f"port={int(target.port)}\n")
        f.write(f"user={option_file_value(target.username)}\n")
        f.write(f"password={option_file_value(target.password)}\n")
    return path


def base_env() -> dict[str, str]:
    """The dump tool's environment: a PATH and a locale, nothing of the server's own."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def command(tool: str, target: Target, secrets_dir: Path) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) of the dump; the password is only in the environment or the option file."""
    env = base_env()
    if target.db_type == "postgresql":
        env.update(
            PGHOST=target.host,
            PGPORT=str(target.port),
            PGUSER=target.username,
            PGPASSWORD=target.password,
            PGDATABASE=target.database,
            PGCONNECT_TIMEOUT=str(target.connect_timeout),
            PGAPPNAME="whalefall-backup",
            PGPASSFILE=os.devnull,  # never the service user's ~/.pgpass
        )
        return [tool, "--no-password", "--format=plain"], env
    option_file = write_option_file(secrets_dir, target)
    argv = [
        tool,
        f"--defaults-extra-file={option_file}",  # must come first
        "--single-transaction",
        "--routines",
        "--triggers",
        "--hex-blob",
        "--default-character-set=utf8mb4",
        target.database,  # without --databases: the dump restores into any database
    ]
    return argv, env


def stream_dump(
    argv: list[str], env: dict[str, str], into: Path, cancelled: Callable[[], bool]
) -> tuple[int, str]:
    """Run the dump into ``into`` (gzip, 0600); (exit code, its stderr).

    A watcher kills the tool's process group once the run is cancelled or timed out, even while
    the tool writes nothing (waiting for a lock, say); the read then ends.
    """
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=errors,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        assert process.stdout is not None
        finished = threading.Event()

        def watch() -> None:
            while not finished.wait(CANCEL_POLL_SECONDS):
                if cancelled():
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    return

        threading.Thread(target=watch, name="whalefall-backup-watch", daemon=True).start()
        fd = os.open(into, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
                while chunk := process.stdout.read(CHUNK):
                    out.write(chunk)
        finally:
            process.stdout.close()
            code = process.wait()
            finished.set()
        errors.seek(0)
        return code, errors.read().decode("utf-8", "replace").strip()


def verify(path: Path, trailer: bytes) -> int:
    """The dump's uncompressed size; raises TaskFailed unless it decompresses, is non-empty and complete."""
    size, tail = 0, b""
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                size += len(chunk)
                tail = (tail + chunk)[-TAIL:]
    except (OSError, EOFError) as exc:
        raise TaskFailed(f"the dump is not a readable gzip file: {exc}") from None
    if size == 0:
        raise TaskFailed("the dump is empty")
    if trailer not in tail:
        raise TaskFailed(f"the dump is incomplete: it does not end with {trailer.decode()!r}")
    return size


def own_dumps(folder: Path, job_id: str) -> list[Path]:
    """This job's finished dumps in ``folder``, newest first (by the time in their names)."""
    pattern = re.compile(rf"^{re.escape(job_id)}-\d{{8}}T\d{{6}}Z\.sql\.gz$")
    found = [p for p in folder.iterdir() if pattern.match(p.name) and p.is_file() and not p.is_symlink()]
    return sorted(found, key=lambda p: p.name, reverse=True)


def apply_retention(
    folder: Path, job_id: str, keep: Path, keep_days: int | None, keep_files: int | None
) -> list[str]:
    """Remove this job's dumps past ``keep_days`` or beyond the newest ``keep_files``; never ``keep``."""
    cutoff = (clock.now() - timedelta(days=keep_days)).timestamp() if keep_days else None
    removed = []
    for index, path in enumerate(own_dumps(folder, job_id)):
        if path == keep:
            continue
        too_many = keep_files is not None and index >= keep_files
        too_old = cutoff is not None and path.stat().st_mtime < cutoff
        if too_many or too_old:
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def run(
    ctx: TaskContext,
    instance_id: int,
    directory: str,
    database: str | None = None,
    keep_days: int | None = 7,
    keep_files: int | None = None,
) -> dict[str, Any]:
    started = time.monotonic()
    target = job_credentials.target_for_task(ctx.runtime, ctx.job_id, ctx.run_id, instance_id)
    if target.db_type not in TOOLS:
        raise TaskFailed(f"database_backup works with {', '.join(TEMPLATE_ENGINES)}, not {target.db_type}")
    database = database or target.database or ("postgres" if target.db_type == "postgresql" else "")
    if not database or not re.match(DATABASE_NAME_PATTERN, database):
        raise TaskFailed(f"no usable database to dump ({database!r}): give `database`")
    target = replace(target, database=database)
    tool = find_tool(target.db_type)
    folder = usable_directory(directory, ctx.runtime, protect_data_dir=False)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    final = folder / f"{ctx.job_id}-{clock.now().strftime(STAMP)}.sql.gz"
    partial = final.with_name(final.name + ".partial")
    ctx.logger.info(
        "dumping %s database %s with %s into %s", target.db_type, database, Path(tool).name, final
    )
    try:
        with tempfile.TemporaryDirectory(prefix="whalefall-backup-") as secrets:
            argv, env = command(tool, target, Path(secrets))
            code, errors = stream_dump(argv, env, partial, ctx.cancel_requested)
        if ctx.cancel_requested():
            raise TaskFailed("cancelled while dumping")
        if code != 0:
            raise TaskFailed(target.scrub(f"{Path(tool).name} exited with {code}: {errors[-2000:]}"))
        dump_bytes = verify(partial, TRAILERS[target.db_type])
        partial.rename(final)
    finally:
        partial.unlink(missing_ok=True)
    removed = apply_retention(folder, ctx.job_id, final, keep_days, keep_files)
    size = final.stat().st_size
    duration = round(time.monotonic() - started, 3)
    ctx.logger.info(
        "dump verified: %d bytes compressed (%d uncompressed) in %.1f s; %d old dump(s) removed",
        size,
        dump_bytes,
        duration,
        len(removed),
    )
    return {
        "path": str(final),
        "size_bytes": size,
        "dump_bytes": dump_bytes,
        "duration_seconds": duration,
        "database": database,
        "tool": Path(tool).name,
        "removed": removed,
    }
