"""Limits for the whole of a run: one control group per run, holding every process it starts.

A limit per process (``RLIMIT_AS``, ``RLIMIT_CPU``) is beaten by starting three children; a
control group counts them together. Each run gets a group under the server's own (so whatever
bounds the server bounds its jobs too) with:

- ``memory``: the memory of all its processes together, tmpfs pages of its private ``/tmp``
  included; past it the kernel's OOM killer ends a process and the run is ended as failed;
- ``pids``: how many processes and threads may exist at once;
- CPU time used by all of them, read by the parent's watch (``cpu_seconds()``).

cgroup v2 (a ``cgroup2`` mount with the memory and pids controllers available to the server's
group) and v1 (the ``memory``, ``pids`` and ``cpuacct`` hierarchies) both work. Where neither
can be written — an unprivileged server without a delegated group — ``RunGroup.create`` returns
None and the launcher's per-process limits and the parent's watch of the process tree are what
remain (the README says so). Standard library only.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import time
from pathlib import Path

_CONTROLLERS_V1 = ("memory", "pids", "cpuacct")


class RunGroup:
    """The control group(s) of one run."""

    def __init__(self, dirs: dict[str, Path], v2: bool):
        self.dirs = dirs  # controller → directory ("unified" alone on v2)
        self.v2 = v2

    @classmethod
    def create(cls, name: str, *, memory_bytes: int | None, max_pids: int | None) -> RunGroup | None:
        """A new group ``name`` with its limits set, or None where control groups cannot be used."""
        layout = _layout()
        if layout is None:
            return None
        v2, parents = layout
        dirs: dict[str, Path] = {}
        try:
            for controller, parent in parents.items():
                path = parent / name
                path.mkdir(exist_ok=True)
                dirs[controller] = path
            group = cls(dirs, v2)
            group._limit(memory_bytes, max_pids)
        except OSError:
            cls(dirs, v2).remove()
            return None
        return group

    def _limit(self, memory_bytes: int | None, max_pids: int | None) -> None:
        if self.v2:
            path = self.dirs["unified"]
            if memory_bytes:
                _write(path / "memory.max", memory_bytes)
                with contextlib.suppress(OSError):  # no swap accounting: nothing to limit
                    _write(path / "memory.swap.max", 0)
            if max_pids:
                _write(path / "pids.max", max_pids)
            return
        if memory_bytes:
            _write(self.dirs["memory"] / "memory.limit_in_bytes", memory_bytes)
            with contextlib.suppress(OSError):
                _write(self.dirs["memory"] / "memory.memsw.limit_in_bytes", memory_bytes)
        if max_pids:
            _write(self.dirs["pids"] / "pids.max", max_pids)

    @property
    def procs_files(self) -> list[str]:
        """The files a process writes its pid to, to join the group (every hierarchy on v1)."""
        return [str(path / "cgroup.procs") for path in self.dirs.values()]

    def memory_exceeded(self) -> bool:
        """True once the OOM killer has ended a process of the group (or an allocation failed there)."""
        try:
            if self.v2:
                events = _read(self.dirs["unified"] / "memory.events")
                counts = dict(line.split() for line in events.splitlines() if line.strip())
                return int(counts.get("oom_kill", 0)) > 0 or int(counts.get("oom", 0)) > 0
            control = _read(self.dirs["memory"] / "memory.oom_control")
            counts = dict(line.split() for line in control.splitlines() if line.strip())
            # Not memory.failcnt: it also counts reclaim at the limit, which a run survives.
            return int(counts.get("oom_kill", 0)) > 0
        except (OSError, ValueError):
            return False

    def pids_exceeded(self) -> bool:
        """True once a fork or a new thread was refused for the group's process limit."""
        try:
            path = self.dirs["unified" if self.v2 else "pids"] / "pids.events"
            return any(
                line.split()[0] == "max" and int(line.split()[1]) > 0 for line in _read(path).splitlines()
            )
        except (OSError, ValueError, IndexError):
            return False

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) all the group's processes have used, dead ones included."""
        try:
            if self.v2:
                for line in _read(self.dirs["unified"] / "cpu.stat").splitlines():
                    key, _, value = line.partition(" ")
                    if key == "usage_usec":
                        return int(value) / 1e6
                return None
            if "cpuacct" not in self.dirs:
                return None
            return int(_read(self.dirs["cpuacct"] / "cpuacct.usage")) / 1e9
        except (OSError, ValueError):
            return None

    def pids(self) -> list[int]:
        found: set[int] = set()
        for path in self.dirs.values():
            with contextlib.suppress(OSError, ValueError):
                found.update(int(pid) for pid in _read(path / "cgroup.procs").split())
        return sorted(found)

    def kill(self) -> None:
        """SIGKILL every process of the group."""
        if self.v2:
            with contextlib.suppress(OSError):
                _write(self.dirs["unified"] / "cgroup.kill", 1)
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def remove(self, wait: float = 2.0) -> None:
        """Kill what is left and remove the group (a group with processes cannot be removed)."""
        deadline = time.monotonic() + wait
        for path in self.dirs.values():
            while True:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() >= deadline:
                        break
                    self.kill()
                    time.sleep(0.02)


def _read(path: Path) -> str:
    with open(path, encoding="ascii") as handle:
        return handle.read()


def _write(path: Path, value: int) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(str(value))


@functools.lru_cache(maxsize=1)
def _layout() -> tuple[bool, dict[str, Path]] | None:
    """(v2?, controller → the server's own group directory), where run groups can be made."""
    try:
        own = _read(Path("/proc/self/cgroup"))
        mounts = _read(Path("/proc/self/mounts"))
    except OSError:
        return None
    v1_mounts: dict[str, Path] = {}
    v2_mount: Path | None = None
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        if parts[2] == "cgroup2" and v2_mount is None:
            v2_mount = Path(parts[1])
        elif parts[2] == "cgroup":
            for option in parts[3].split(","):
                if option in _CONTROLLERS_V1 and option not in v1_mounts:
                    v1_mounts[option] = Path(parts[1])
    groups: dict[str, str] = {}
    for line in own.splitlines():
        number, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else ["unified"]:
            groups[controller] = path
    if "memory" in v1_mounts and "pids" in v1_mounts:
        parents = {
            c: v1_mounts[c] / groups.get(c, "/").lstrip("/") for c in _CONTROLLERS_V1 if c in v1_mounts
        }
        if all(os.access(path, os.W_OK) for path in parents.values()):
            return False, parents
        return None
    if v2_mount is not None and "unified" in groups:
        parent = v2_mount / groups["unified"].lstrip("/")
        try:
            available = _read(parent / "cgroup.subtree_control").split()
        except OSError:
            return None
        if {"memory", "pids"} <= set(available) and os.access(parent, os.W_OK):
            return True, {"unified": parent}
    return None
