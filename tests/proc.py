"""Start, watch and stop real ``whalefall`` processes; talk to them over HTTP.

Used by ``test_process.py``. Every process is started in its own session (so
its process group can be killed as a whole) with its output in files, and is
owned by a :class:`Processes` registry whose ``close()`` kills whatever is
still alive — a test that fails half-way leaves nothing behind.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

WHALEFALL = Path(sys.executable).parent / "whalefall"
CLOCK_AHEAD = Path(__file__).with_name("clock_ahead.py")
SECRET_KEY = "test"

T = TypeVar("T")


# --- waiting ---------------------------------------------------------------------


def wait_until(fn: Callable[[], T], timeout: float, *, interval: float = 0.1, what: str = "") -> T:
    """Call ``fn`` until it returns something truthy (returned), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what or fn.__name__}; last: {value!r}"
            )
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the environment and the one-shot commands -------------------------------------


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any WHALEFALL_* of the caller, plus the test's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHALEFALL_")}
    env.update(WHALEFALL_DATA_DIR=str(data_dir), WHALEFALL_SECRET_KEY=SECRET_KEY)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def cli(
    env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 30, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``whalefall ARGS`` to completion; with ``check``, fail showing its output unless it exits 0."""
    done = subprocess.run(
        [str(WHALEFALL), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"`whalefall {' '.join(args)}` exited {done.returncode}\n"
            f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
    return done


# --- long-running processes ---------------------------------------------------------


class Proc:
    """One ``whalefall`` process started in its own session, output going to files.

    With ``clock_ahead`` (seconds) its clock runs that far ahead of the test's (``clock_ahead.py``).
    """

    def __init__(
        self, name: str, args: list[str], env: dict[str, str], log_dir: Path, clock_ahead: float = 0
    ):
        self.name = name
        self.args = args
        log_dir.mkdir(parents=True, exist_ok=True)
        self.out_path = log_dir / f"{name}.out"
        self.err_path = log_dir / f"{name}.err"
        command = [str(WHALEFALL)]
        if clock_ahead:
            command = [sys.executable, str(CLOCK_AHEAD), str(clock_ahead)]
        with open(self.out_path, "ab") as out, open(self.err_path, "ab") as err:
            self.popen = subprocess.Popen(
                [*command, *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def describe(self) -> str:
        tail = "\n".join(self.stderr().splitlines()[-40:])
        return f"[{self.name} pid {self.pid} rc {self.returncode}] {' '.join(self.args)}\n{tail}"

    def terminate(self, timeout: float = 15) -> int:
        """SIGTERM, as a user's Ctrl-C or systemd would; the exit code (fails when it does not exit)."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"{self.name} did not exit within {timeout} s of SIGTERM\n{self.describe()}"
            ) from None

    def kill(self) -> None:
        """SIGKILL the whole process group (the process and anything in its group), then reap it."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not wait
            pass


class Processes:
    """The processes one test started; :meth:`close` kills every one still running."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.started: list[Proc] = []
        self._names: dict[str, int] = {}

    def start(self, name: str, *args: str, env: dict[str, str], clock_ahead: float = 0) -> Proc:
        n = self._names[name] = self._names.get(name, 0) + 1
        proc = Proc(f"{name}-{n}", list(args), env, self.log_dir, clock_ahead)
        self.started.append(proc)
        return proc

    def report(self) -> str:
        return "\n\n".join(p.describe() for p in self.started)

    def close(self) -> None:
        for proc in reversed(self.started):
            if proc.alive():
                proc.kill()


def host_pid_of(marker: str) -> int | None:
    """The host pid of a live process whose command line contains ``marker`` (a sandboxed job's)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and not pid_gone(int(entry.name)):
            return int(entry.name)
    return None


def pid_gone(pid: int) -> bool:
    """True when no process ``pid`` exists any more (a zombie counts as gone: it runs nothing)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    state = next((line.split()[1] for line in status.splitlines() if line.startswith("State:")), "?")
    return state in ("Z", "X")


# --- HTTP -----------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    body: Any
    text: str

    @property
    def data(self) -> Any:
        return self.body.get("data") if isinstance(self.body, dict) else None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Api:
    """A client of one process's HTTP port, with a bearer token or a cookie session."""

    def __init__(self, port: int, token: str | None = None, *, cookies: bool = False):
        self.base = f"http://127.0.0.1:{port}"
        self.token = token
        handlers: list[Any] = [_NoRedirect()]
        if cookies:
            handlers.append(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.opener = urllib.request.build_opener(*handlers)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        form: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> Response:
        headers = {"Accept": "application/json"}
        data = None
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        text = raw.decode("utf-8", "replace")
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        return Response(status, parsed, text)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        """The ``data`` of a request that must answer 200 with ``success: true``."""
        resp = self.request(method, "/scheduler/api" + path, body)
        assert resp.status == 200 and isinstance(resp.body, dict) and resp.body.get("success") is True, (
            f"{method} {path} answered {resp.status}: {resp.text[:2000]}"
        )
        return resp.data

    def health_status(self) -> int | None:
        """The status code of /scheduler/api/health, or None while nothing answers."""
        try:
            return self.request("GET", "/scheduler/api/health", timeout=2).status
        except OSError:
            return None
