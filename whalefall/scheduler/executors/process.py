"""Runs a code job in its own OS process and turns what it reports into an outcome (SPEC §5).

The child is ``whalefall/sandbox/launcher.py``, started as ``python -I launcher.py PID`` in a new
session, so its process group id is its pid and one ``killpg`` ends it and everything it
started. Its docstring describes what it reads and writes.
"""

from __future__ import annotations

import collections
import functools
import json
import os
import select
import signal
import site
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from whalefall.sandbox.cgroups import RunGroup
from whalefall.sandbox.isolation import Sandbox

LAUNCHER = Path(__file__).resolve().parents[2] / "sandbox" / "launcher.py"

_RS = b"\x1e"
_READ_SIZE = 64 * 1024
# A line of raw output longer than this is passed on in pieces. The launcher's own records stay
# far below it: it clips return values and tracebacks at 1 Mi characters.
_MAX_LINE_BYTES = 8 * 1024 * 1024
_TAIL_LINES = 20  # lines of output quoted when the process dies without a report
_TAIL_LINE_CHARS = 500
_DRAIN_SECONDS = 2.0  # reading what is left in the pipe once the process group is killed
_POLL_SECONDS = 0.05  # how often exit is checked where pidfd_open is missing


@dataclass
class CodeOutcome:
    status: str  # "success" | "failed" | "timeout" | "cancelled"
    return_value: str | None
    error_message: str | None
    traceback: str | None
    exit_code: int | None


def scrubbed_env(workdir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a job process: nothing of the parent's but the locale, PATH and TZ.

    The parent holds WHALEFALL_SECRET_KEY, the database URL and instance passwords; none of it
    is passed on. LANG and LC_ALL default to C.UTF-8 (LC_ALL to LANG when only LANG is set).
    ``extra`` is added last and may override.
    """
    home = str(Path(workdir).resolve())
    lang = os.environ.get("LANG") or "C.UTF-8"
    env = {
        "PATH": os.environ.get("PATH") or os.defpath,
        "LANG": lang,
        "LC_ALL": os.environ.get("LC_ALL") or lang,
        "HOME": home,
        "TMPDIR": home,
        "PYTHONIOENCODING": "utf-8",
        "PYTHONUNBUFFERED": "1",
    }
    if os.environ.get("TZ"):
        env["TZ"] = os.environ["TZ"]
    env.update(extra or {})
    return env


def run_code(
    code: str,
    *,
    params: Mapping[str, Any],
    context: Mapping[str, Any],
    workdir: Path,
    timeout: float,
    memory_limit_mb: int | None,
    on_output: Callable[[str], None],
    should_cancel: Callable[[], bool] = lambda: False,
    cancel_poll_seconds: float = 1.0,
    on_start: Callable[[int], None] = lambda pid: None,
    env: Mapping[str, str] | None = None,
    python: str = sys.executable,
    cpu_seconds: int | None = None,
    max_processes: int | None = None,
    file_size_mb: int | None = None,
    command: Sequence[str] | None = None,
    command_env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    sandbox: Sandbox | None = None,
    run_id: int = 0,
    instances: Mapping[str, Mapping[str, Any]] | None = None,
    on_use: Callable[[str], None] = lambda name: None,
) -> CodeOutcome:
    """Run the ``execute_task`` of ``code`` (or, given ``command``, that argv) in a new process
    and wait for it to end.

    1. Start the launcher in its own session — inside ``sandbox`` when one is given and isolated
       (``isolation.Sandbox``), in a control group of its own where the machine allows it
       (``cgroups.RunGroup``: memory, processes and CPU time counted for all its processes) —
       in ``cwd`` or ``workdir`` (created if missing, 0700, the job's own), with ``env`` or else
       ``scrubbed_env(workdir)``; call ``on_start(pid)``. ``instances`` (name → connection
       details, passwords included) reach the launcher on its stdin only; ``on_use(name)`` is
       called when the job opens a connection to one of them.
    2. Feed it the job on stdin; pass each line of output to ``on_output`` as it arrives, on
       the calling thread: log records as "LEVEL message", other output as written.
    3. Stop when the process exits, ``timeout`` seconds pass ("timeout"), ``should_cancel()``,
       asked every ``cancel_poll_seconds``, returns true ("cancelled"), or the run's group went
       past its memory or CPU limit ("failed", naming the limit).
    4. SIGKILL the whole process group (and the control group) in every case, so nothing the
       job started outlives it, read what is left of its output, and report. A command's exit
       code is its outcome: 0 is success, anything else a failure saying the code.

    A report the job made (result or error) wins over a timeout or cancel that raced with it.
    Nothing the job does raises here: it is all in the outcome. Raises ``OSError`` when the
    process cannot be started and ``SandboxUnavailable`` when the sandbox cannot be set up; an
    exception from ``on_output``, ``should_cancel`` or ``on_start`` propagates once the process
    group is killed.
    """
    workdir = Path(workdir).resolve()
    isolated = sandbox is not None and sandbox.isolated
    if isolated:
        assert sandbox is not None
        sandbox.check()
        sandbox.prepare_workdir(workdir, run_id)
    else:
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    payload = json.dumps(
        {
            "code": code,
            "params": params,
            "context": context,
            "memory_limit_mb": memory_limit_mb,
            "cpu_seconds": cpu_seconds,
            "max_processes": max_processes,
            "file_size_mb": file_size_mb,
            "command": list(command) if command is not None else None,
            "env": dict(command_env or {}),
            "cwd": str(cwd or workdir),
            "sys_path": _site_packages(),
            "instances": {name: dict(spec) for name, spec in (instances or {}).items()},
        },
        ensure_ascii=False,
        default=_jsonable,
    ).encode("utf-8", "replace")
    group: RunGroup | None = None
    if isolated:
        assert sandbox is not None
        # Inside the sandbox the launcher's parent is the namespace's init, pid 1.
        argv = [python, "-I", "-S", "-c", _launcher_source(), "1"]
        argv = sandbox.wrap(argv, workdir=workdir, run_id=run_id)
        group = RunGroup.create(
            f"whalefall-run-{run_id}-{os.getpid()}",
            memory_bytes=memory_limit_mb * 1024 * 1024 if memory_limit_mb else None,
            max_pids=max_processes,
        )
        if group is not None:
            argv = ["/bin/sh", "-c", _JOIN_GROUP, "whalefall-join", *group.procs_files, "--", *argv]
    else:
        argv = [python, "-I", "-S", str(LAUNCHER), str(os.getpid())]
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=workdir if not isolated else "/",  # the launcher enters the job's cwd
            env=dict(env) if env is not None else scrubbed_env(workdir),
            start_new_session=True,
        )
    except BaseException:
        if group is not None:
            group.remove()
        raise
    output = _Output(on_output, lambda name: on_use(name) if name in (instances or {}) else None)
    pidfd = _open_pidfd(proc.pid)

    def should_stop() -> str | None:
        if group is not None:
            if group.memory_exceeded():
                return "memory"
            used = group.cpu_seconds()
            if cpu_seconds and used is not None and used > cpu_seconds:
                return "cpu"
        return "cancelled" if should_cancel() else None

    stopped: str | None = None
    pids_refused = False
    try:
        on_start(proc.pid)
        stopped = _supervise(
            proc, pidfd, payload, output, time.monotonic() + timeout, should_stop, cancel_poll_seconds
        )
        _kill_group(proc.pid)
        if group is not None:
            group.kill()
        _drain(proc, output)
    finally:
        _kill_group(proc.pid)
        exit_code = proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()
        if pidfd is not None:
            os.close(pidfd)
        if group is not None:
            if group.memory_exceeded():
                stopped = "memory"
            pids_refused = group.pids_exceeded()
            group.remove()
    limits = Limits(memory_limit_mb, cpu_seconds, max_processes)
    report = output.report
    if stopped in ("memory", "cpu"):
        return CodeOutcome("failed", None, limits.exceeded(stopped), None, exit_code)
    if report is not None and report.get("t") == "result":
        return CodeOutcome("success", str(report.get("value", "")), None, None, exit_code)
    if report is not None and report.get("t") == "error":
        message = str(report.get("error", ""))
        if group is not None and pids_refused:
            message += limits.note("processes")
        return CodeOutcome("failed", None, message, report.get("traceback"), exit_code)
    if stopped == "timeout":
        return CodeOutcome("timeout", None, f"timed out after {timeout:g} s", None, exit_code)
    if stopped == "cancelled":
        return CodeOutcome("cancelled", None, "cancelled", None, exit_code)
    if command is not None and exit_code == 0:
        return CodeOutcome("success", "", None, None, exit_code)
    if command is not None and exit_code > 0:
        message = f"the command exited with code {exit_code}"
        if group is not None and pids_refused:
            message += limits.note("processes")
        return CodeOutcome("failed", None, _with_tail(message, output.tail), None, exit_code)
    message = _crash_message(exit_code, output.tail, memory_limit_mb, cpu_seconds)
    if group is not None and pids_refused:
        message += limits.note("processes")
    return CodeOutcome("failed", None, message, None, exit_code)


# Joins the run's control group(s) (the files before "--"), then becomes the sandbox.
_JOIN_GROUP = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


@functools.lru_cache(maxsize=1)
def _site_packages() -> list[str]:
    # The launcher runs without ``site`` (see its docstring): it is told where packages are.
    return [path for path in site.getsitepackages() if os.path.isdir(path)]


@functools.lru_cache(maxsize=1)
def _launcher_source() -> str:
    # Given to ``python -c``: the package directory is hidden from the sandbox.
    return LAUNCHER.read_text(encoding="utf-8")


@dataclass(frozen=True)
class Limits:
    memory_mb: int | None
    cpu_seconds: int | None
    max_processes: int | None

    def exceeded(self, which: str) -> str:
        if which == "memory":
            return f"memory limit exceeded: the run's processes together used more than {self.memory_mb} MB"
        return f"CPU time limit exceeded: the run's processes together used more than {self.cpu_seconds} s"

    def note(self, which: str) -> str:
        return f" (the run reached its limit of {self.max_processes} processes and threads)"


def _supervise(
    proc: subprocess.Popen[bytes],
    pidfd: int | None,
    payload: bytes,
    output: _Output,
    deadline: float,
    should_stop: Callable[[], str | None],
    cancel_poll_seconds: float,
) -> str | None:
    """Feed stdin and read stdout until the process exits (None), the deadline passes
    ("timeout") or ``should_stop()`` gives a reason ("cancelled", "memory", "cpu")."""
    assert proc.stdin is not None and proc.stdout is not None
    stdin_fd, stdout_fd = proc.stdin.fileno(), proc.stdout.fileno()
    os.set_blocking(stdin_fd, False)  # a large job is written as the pipe takes it
    unsent = memoryview(payload)
    reading = True
    next_poll = time.monotonic() + cancel_poll_seconds
    while True:
        now = time.monotonic()
        if now >= deadline:
            return "timeout"
        if now >= next_poll:
            if reason := should_stop():
                return reason
            next_poll = now + cancel_poll_seconds
        wait = min(deadline, next_poll) - now
        readers = [stdout_fd] if reading else []
        if pidfd is not None:
            readers.append(pidfd)
        else:
            wait = min(wait, _POLL_SECONDS)
        writers = [stdin_fd] if not proc.stdin.closed else []
        readable, writable, _ = select.select(readers, writers, [], wait)
        if writable:
            try:
                unsent = unsent[os.write(stdin_fd, unsent) :]
            except BrokenPipeError:  # the process died before reading its job
                unsent = unsent[:0]
            if not unsent:
                proc.stdin.close()
        if stdout_fd in readable:
            data = os.read(stdout_fd, _READ_SIZE)
            if data:
                output.feed(data)
            else:  # every writer closed the pipe; the process may still be running
                reading = False
        # With a pidfd the exited process stays a zombie until wait(), so its pid (the
        # group's id) cannot be reused before the group is killed.
        exited = pidfd in readable if pidfd is not None else proc.poll() is not None
        if exited:
            return None


def _drain(proc: subprocess.Popen[bytes], output: _Output) -> None:
    # A process that left the group (setsid) may keep the pipe open: stop after a while.
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + _DRAIN_SECONDS
    while (wait := deadline - time.monotonic()) > 0:
        if not select.select([fd], [], [], wait)[0]:
            break
        data = os.read(fd, _READ_SIZE)
        if not data:
            break
        output.feed(data)
    output.finish()


class _Output:
    """Splits the launcher's output into records and lines of raw text."""

    def __init__(self, on_output: Callable[[str], None], on_use: Callable[[str], None] = lambda name: None):
        self._on_output = on_output
        self._on_use = on_use
        self._buffer = bytearray()
        self.report: dict[str, Any] | None = None  # the final "result" or "error" record
        self.tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)

    def feed(self, data: bytes) -> None:
        buffer = self._buffer
        scan = len(buffer)  # what was buffered before holds no newline
        start = 0
        buffer += data
        while (end := buffer.find(b"\n", scan)) >= 0:
            self._line(bytes(buffer[start:end]))
            start = scan = end + 1
        del buffer[:start]
        if len(buffer) > _MAX_LINE_BYTES:
            self.finish()

    def finish(self) -> None:
        if self._buffer:
            self._line(bytes(self._buffer))
            self._buffer.clear()

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").removesuffix("\r")
        # JSON escapes control characters, so the last RS is where a record starts.
        before, rs, after = text.rpartition(_RS.decode())
        record = _parse_record(after) if rs else None
        if record is None:
            self._text(text)
            return
        if before:
            self._text(before)
        kind = record.get("t")
        if kind == "log":
            self._text(f"{record.get('level', 'INFO')} {record.get('line', '')}")
        elif kind == "out":
            self._text(str(record.get("line", "")))
        elif kind == "use":
            self._on_use(str(record.get("instance", "")))
        elif kind in ("result", "error"):
            self.report = record
        else:
            self._text(text)

    def _text(self, line: str) -> None:
        self.tail.append(line)
        self._on_output(line)


def _parse_record(text: str) -> dict[str, Any] | None:
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _crash_message(
    exit_code: int, tail: collections.deque[str], memory_limit_mb: int | None, cpu_seconds: int | None
) -> str:
    if exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            name = f"signal {-exit_code}"
        message = f"the job process was killed by {name} without reporting a result"
        # The limits are the likely cause of these signals; name them.
        limits = []
        if cpu_seconds and name in ("SIGXCPU", "SIGKILL"):
            limits.append(f"CPU {cpu_seconds} s")
        if memory_limit_mb and name in ("SIGKILL", "SIGSEGV", "SIGABRT"):
            limits.append(f"memory {memory_limit_mb} MB")
        if limits:
            message += f" (limits: {', '.join(limits)})"
    else:
        message = f"the job process exited with code {exit_code} without reporting a result"
    return _with_tail(message, tail)


def _with_tail(message: str, tail: collections.deque[str]) -> str:
    if tail:
        message += "; last output:\n" + "\n".join(_clip(line, _TAIL_LINE_CHARS) for line in tail)
    return message


def _clip(line: str, limit: int) -> str:
    return line if len(line) <= limit else f"{line[:limit]}…"


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # the group is gone already
        pass


def _open_pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux, or a kernel before 5.3
        return None


def _jsonable(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)
