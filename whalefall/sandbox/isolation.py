"""Where a code or shell job runs: a bubblewrap sandbox around the launcher (SPEC §5).

The job sees the host's file system read-only, minus what belongs to the product: the data dir
(secret key, SQLite database, the initial admin password, every run's workdir), the package's
source, the configuration file, the secret key and database files wherever they are, and the
home directory of the user the server runs as. Each of these is covered by an empty tmpfs (a
directory) or by ``/dev/null`` (a file). On top come:

- its own PID, IPC, UTS and (where the kernel allows) cgroup namespaces, a fresh ``/proc`` that
  shows only the run's processes, a minimal ``/dev`` and a private ``/tmp``;
- the run's workdir, the only place it can write besides ``/tmp`` and the paths an admin made
  writable (``WHALEFALL_SANDBOX_WRITABLE_PATHS``);
- with ``network: none`` its own network namespace, holding only a loopback of its own;
- another uid: a server running as root starts the job as ``uid_base + run_id % 65536`` (one uid
  per run, so runs cannot touch each other's files, and a per-uid process limit is per run) and
  the gid ``gid``, through ``setpriv`` with no capabilities, no supplementary groups and
  ``no_new_privs``; a server running as an ordinary user cannot switch uid, so the job gets a user
  namespace of its own in which it is ``nobody`` (its files are the server user's on the host, and
  what the server user could read is hidden as listed above);
- ``--die-with-parent``: the sandbox ends with the server's thread that started it; and because
  the job's launcher is not PID 1 of its namespace but its first child, everything the job started
  — a ``setsid`` daemon included — is killed by the kernel when the run ends.

bubblewrap (Debian package ``bubblewrap``) does the namespace and mount work; nothing here
calls ``unshare`` or ``mount`` itself. This module imports only the standard library.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

UID_SPAN = 65536  # per-run uids are uid_base … uid_base + UID_SPAN - 1
NOBODY = 65534


class SandboxUnavailable(RuntimeError):
    """The isolation cannot be set up here; code and shell jobs are refused (unless the admin
    chose ``WHALEFALL_SANDBOX=none``). The message says why."""


@dataclass(frozen=True)
class Sandbox:
    """How a job's process is isolated; ``mode`` "bwrap" or "none" (no isolation at all)."""

    mode: str = "bwrap"
    network: str = "full"  # "full" (the host's network) or "none" (a loopback of its own)
    uid_base: int = 200000
    gid: int = NOBODY
    hidden: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()
    exposed: tuple[Path, ...] = field(default_factory=lambda: python_paths())
    bwrap: str = "bwrap"

    @property
    def isolated(self) -> bool:
        return self.mode != "none"

    def job_uid(self, run_id: int) -> int | None:
        """The uid a run's processes get on the host: one per run when the server is root, else None
        (the server's own uid, as ``nobody`` inside a user namespace)."""
        if os.geteuid() != 0:
            return None
        return self.uid_base + int(run_id) % UID_SPAN

    def wrap(self, argv: Sequence[str], *, workdir: Path, run_id: int = 0) -> list[str]:
        """``argv`` as a command line that runs it inside the sandbox.

        ``workdir`` is the run's private directory (already created, owned by the job's uid).
        Raises ``SandboxUnavailable`` in mode "none" (callers run ``argv`` as it is then).
        """
        if not self.isolated:
            raise SandboxUnavailable("the sandbox is turned off (WHALEFALL_SANDBOX=none)")
        workdir = Path(workdir)
        args = [self.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        args += ["--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/dev/shm"]
        hidden_dirs = [Path("/tmp"), Path("/dev/shm")]  # the sandbox's own, empty
        for path in _existing(self.hidden):
            if any(path.is_relative_to(h) for h in hidden_dirs):
                continue  # under a covered directory already: not there at all
            if path.is_dir():
                args += ["--tmpfs", str(path)]
                hidden_dirs.append(path)
            else:
                args += ["--ro-bind", "/dev/null", str(path)]
        uid = self.job_uid(run_id)
        if uid is not None:
            # Directories the job's uid could not enter are of no use to it: cover them, so the
            # interpreter below can be shown at its own path without their contents.
            for path in self.exposed:
                for parent in reversed(path.parents):
                    covered = any(parent.is_relative_to(h) for h in hidden_dirs)
                    if parent != Path("/") and not covered and _closed_to_others(parent):
                        args += ["--tmpfs", str(parent)]
                        hidden_dirs.append(parent)
        for path in _existing(self.exposed):
            args += _mount_under(path, hidden_dirs, "--ro-bind")
        for path in _existing(self.writable):
            args += _mount_under(path, hidden_dirs, "--bind")
        args += _mount_under(workdir, hidden_dirs, "--bind")
        args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        if self.network == "none":
            args.append("--unshare-net")
        args += ["--hostname", "whalefall-job", "--die-with-parent", "--new-session"]
        # The launcher enters ``cwd`` itself, as the job's uid: the workdir is closed to others.
        args += ["--chdir", "/"]
        if uid is None:
            args += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--cap-drop", "ALL"]
            return [*args, "--", *argv]
        # bwrap keeps root's capabilities for a root caller; setpriv drops them all with the uid.
        args += ["--cap-drop", "ALL"]
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
        drop = [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={self.gid}",
            "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
        ]
        return [*args, "--", *drop, *argv]

    def prepare_workdir(self, workdir: Path, run_id: int) -> None:
        """Create the run's workdir, 0700 and owned by the job's uid (the group too)."""
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(workdir, 0o700)
        uid = self.job_uid(run_id) if self.isolated else None
        if uid is not None:
            os.chown(workdir, uid, self.gid)

    def check(self) -> None:
        """Raise ``SandboxUnavailable`` saying why when a sandbox cannot be started here."""
        if not self.isolated:
            return
        problem = _probe(self.bwrap, self.network, os.geteuid() == 0)
        if problem:
            raise SandboxUnavailable(problem)


def python_paths() -> tuple[Path, ...]:
    """The interpreter's installation and the virtualenv: what the launcher needs to start."""
    paths = {
        Path(sys.base_prefix).resolve(),
        Path(sys.prefix).resolve(),
        Path(sys.executable).resolve().parent,
    }
    return tuple(sorted(paths))


def _existing(paths: Iterable[Path]) -> list[Path]:
    return [Path(p) for p in paths if os.path.lexists(p)]


def _closed_to_others(path: Path) -> bool:
    try:
        return not (path.stat().st_mode & 0o001)
    except OSError:
        return False


def _mount_under(path: Path, hidden_dirs: list[Path], how: str) -> list[str]:
    """Mount ``path`` at its own place; inside a covered directory, create the way to it (0755)."""
    args: list[str] = []
    for parent in reversed(path.parents):
        if any(parent != h and parent.is_relative_to(h) for h in hidden_dirs):
            args += ["--perms", "0755", "--dir", str(parent)]
    return [*args, how, str(path), str(path)]


@functools.lru_cache(maxsize=8)
def _probe(bwrap: str, network: str, as_root: bool) -> str | None:
    """None when a sandbox starts here, else why not (asked once per process and kind)."""
    if shutil.which(bwrap) is None:
        return f"bubblewrap ({bwrap}) is not installed; install the Debian package 'bubblewrap'"
    if as_root and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    probe = Sandbox(mode="bwrap", network=network, bwrap=bwrap, exposed=())
    workdir = Path("/tmp")
    argv = probe.wrap(["/bin/true"], workdir=workdir, run_id=0)
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap did not start: {exc}"
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip() or f"exit code {done.returncode}"
        return f"bubblewrap cannot create the sandbox here: {said}"
    return None
