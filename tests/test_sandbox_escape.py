"""Code jobs that try to escape the sandbox, each in the real bubblewrap sandbox the runner uses.

The test process stands in for the server: the sandbox is the one ``Runtime.sandbox`` builds from
the settings (data dir, secret key, SQLite database), and each job reports what it could reach.
Every attempt must fail. Needs bubblewrap (installed by ``.ci/run``).
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import pytest

import whalefall
from tests.conftest import make_runtime, unavailable
from whalefall.sandbox.isolation import Sandbox, SandboxUnavailable
from whalefall.scheduler.executors.process import CodeOutcome, run_code

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/ns/pid"), reason="Linux namespaces only")


@pytest.fixture
def runtime(tmp_path):
    rt = make_runtime(tmp_path)
    try:
        rt.sandbox.check()
    except SandboxUnavailable as exc:
        unavailable(f"no sandbox here: {exc}")
    yield rt
    rt.close()


def attempt(
    runtime, body: str, *, run_id: int = 1, memory_mb: int = 256, processes: int = 64, **kw
) -> CodeOutcome:
    lines: list[str] = []
    outcome = run_code(
        textwrap.dedent(body),
        params=kw.pop("params", {}),
        context={"run_id": run_id},
        workdir=runtime.settings.data_dir / "work" / f"run-{run_id}",
        timeout=kw.pop("timeout", 30),
        memory_limit_mb=memory_mb,
        max_processes=processes,
        on_output=lines.append,
        sandbox=kw.pop("sandbox", runtime.sandbox),
        run_id=run_id,
        cancel_poll_seconds=0.1,
        **kw,
    )
    outcome.lines = lines  # type: ignore[attr-defined]
    return outcome


def reached(outcome: CodeOutcome):
    assert outcome.status == "success", (outcome.error_message, outcome.traceback)
    try:
        return json.loads(outcome.return_value or "{}")
    except ValueError:  # a plain string
        return outcome.return_value


PROBE = """
import os

def tried(fn):
    try:
        return ["reached", repr(fn())[:80]]
    except BaseException as exc:
        return ["refused", type(exc).__name__]

def execute_task(targets):
    return {name: tried(lambda p=path: open(p, "rb").read(64)) for name, path in targets.items()}
"""


def test_the_secret_key_database_and_admin_password_cannot_be_read(runtime):
    data = runtime.settings.data_dir
    (data / "secret_key").write_text("the-key\n")  # as ensure_secret_key leaves it
    (data / "initial_admin_password").write_text("hunter2hunter2\n")
    targets = {
        "secret_key": str(data / "secret_key"),
        "database": str(data / "whalefall.db"),
        "admin_password": str(data / "initial_admin_password"),
    }
    assert all(Path(p).exists() for p in targets.values())
    found = reached(attempt(runtime, PROBE, params={"targets": targets}))
    assert {name: result[0] for name, result in found.items()} == dict.fromkeys(targets, "refused")


def test_the_servers_proc_environ_and_memory_cannot_be_read(runtime):
    server = os.getpid()
    targets = {
        "environ": f"/proc/{server}/environ",
        "mem": f"/proc/{server}/mem",
        "cmdline": f"/proc/{server}/cmdline",
        "parent_environ": f"/proc/{os.getppid()}/environ",
    }
    found = reached(attempt(runtime, PROBE, params={"targets": targets}))
    assert {name: result[0] for name, result in found.items()} == dict.fromkeys(targets, "refused")


def test_the_job_sees_only_its_own_processes(runtime):
    found = reached(
        attempt(
            runtime,
            """
            import os
            def execute_task():
                return {"pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()), "me": os.getpid()}
            """,
        )
    )
    assert found["me"] == 2  # bubblewrap's init is 1
    assert found["pids"] == [1, 2]


def test_the_job_runs_as_another_uid_without_privileges(runtime):
    found = reached(
        attempt(
            runtime,
            """
            import os
            def execute_task():
                status = dict(line.split(":", 1) for line in open("/proc/self/status"))
                return {"uid": os.getuid(), "caps": status["CapEff"].strip(), "nnp": status["NoNewPrivs"].strip()}
            """,
            run_id=7,
        )
    )
    assert found["uid"] != os.getuid() or os.getuid() != 0
    assert found["uid"] != 0
    assert int(found["caps"], 16) == 0
    assert found["nnp"] == "1"


def test_the_package_cannot_be_written_nor_even_seen(runtime):
    package = Path(whalefall.__file__).resolve().parent
    found = reached(
        attempt(
            runtime,
            """
            import os
            def execute_task(package):
                try:
                    with open(os.path.join(package, "__init__.py"), "a") as fh:
                        fh.write("print('owned')\\n")
                    return "written"
                except OSError as exc:
                    return type(exc).__name__
            """,
            params={"package": str(package)},
        )
    )
    assert found != "written"
    assert "owned" not in (package / "__init__.py").read_text()


def test_the_server_cannot_be_signalled(runtime):
    found = reached(
        attempt(
            runtime,
            """
            import os, signal
            def execute_task(server):
                results = {}
                for name, target in (("server", server), ("everyone", -1)):
                    try:
                        os.kill(target, signal.SIGTERM if name == "server" else 0)
                        results[name] = "sent"
                    except OSError as exc:
                        results[name] = type(exc).__name__
                return results
            """,
            params={"server": os.getpid()},
        )
    )
    assert found["server"] != "sent"  # no such pid in the job's namespace
    # kill(-1) reaches only the job's own processes; the test process is still here to assert it.


def test_another_runs_workdir_cannot_be_reached(runtime):
    other = runtime.settings.data_dir / "work" / "run-99"
    runtime.sandbox.prepare_workdir(other, 99)
    (other / "secret.txt").write_text("other run's data")
    found = reached(
        attempt(runtime, PROBE, params={"targets": {"other": str(other / "secret.txt")}}, run_id=5)
    )
    assert found["other"][0] == "refused"


def test_the_workdir_is_private_and_removed_by_the_runner_after_the_run(runtime):
    workdir = runtime.settings.data_dir / "work" / "run-3"
    found = reached(
        attempt(
            runtime,
            """
            import os, stat
            def execute_task():
                open("note.txt", "w").write("x")
                open("/tmp/scratch", "w").write("y")
                return {"cwd": os.getcwd(), "mode": oct(stat.S_IMODE(os.stat(".").st_mode))}
            """,
            run_id=3,
        )
    )
    assert found == {"cwd": str(workdir.resolve()), "mode": "0o700"}
    assert not Path("/tmp/scratch").exists() or Path("/tmp/scratch").read_text() != "y"


def test_a_setsid_daemon_does_not_outlive_the_run(runtime):
    marker = f"wf-daemon-{os.getpid()}-{time.monotonic_ns()}"
    outcome = attempt(
        runtime,
        """
        import subprocess, time
        def execute_task(marker):
            subprocess.Popen(["setsid", "sh", "-c", "sleep 300; : " + marker], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)
            return "left a daemon"
        """,
        params={"marker": marker},
    )
    assert outcome.status == "success"
    deadline = time.monotonic() + 5
    while _pids_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _pids_with(marker) == []


def test_three_children_cannot_use_more_memory_than_the_run_may(runtime):
    outcome = attempt(
        runtime,
        """
        import subprocess, sys
        def execute_task():
            hog = "import time; b = bytearray(150 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); time.sleep(10)"
            children = [subprocess.Popen([sys.executable, "-c", hog]) for _ in range(3)]
            return [child.wait() for child in children]
        """,
        memory_mb=256,
    )
    if _no_control_groups():
        pytest.skip("no writable control groups here: memory is limited per process only")
    assert outcome.status == "failed"
    assert "memory limit" in (outcome.error_message or "")
    assert "256 MB" in (outcome.error_message or "")


def test_the_process_limit_holds_for_the_whole_run(runtime):
    found = reached(
        attempt(
            runtime,
            """
            import os, time
            def execute_task():
                started = 0
                try:
                    for _ in range(500):
                        if os.fork() == 0:
                            time.sleep(5)
                            os._exit(0)
                        started += 1
                except OSError as exc:
                    return {"started": started, "error": type(exc).__name__}
                return {"started": started, "error": None}
            """,
            processes=32,
        )
    )
    assert found["error"] == "BlockingIOError"
    assert found["started"] < 32


def test_a_job_without_network_has_only_its_own_loopback(runtime):
    sandbox = Sandbox(**{**runtime.sandbox.__dict__, "network": "none"})
    found = reached(
        attempt(
            runtime,
            """
            import os
            def execute_task():
                lines = open("/proc/net/dev").read().splitlines()[2:]
                return sorted(line.split(":")[0].strip() for line in lines)
            """,
            sandbox=sandbox,
        )
    )
    assert found == ["lo"]


def test_a_missing_bubblewrap_refuses_the_run_saying_why(runtime):
    sandbox = Sandbox(**{**runtime.sandbox.__dict__, "bwrap": "/nonexistent/bwrap"})
    with pytest.raises(SandboxUnavailable, match="bubblewrap"):
        attempt(runtime, "def execute_task():\n    return 1\n", sandbox=sandbox)


def _pids_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state not in ("Z", "X"):
                        found.append(int(entry.name))
            except OSError:
                continue
    return found


def _no_control_groups() -> bool:
    from whalefall.sandbox.cgroups import RunGroup

    group = RunGroup.create(f"whalefall-probe-{os.getpid()}", memory_bytes=None, max_pids=None)
    if group is None:
        return True
    group.remove()
    return False


def test_the_job_imports_the_drivers_installed_beside_whalefall_but_not_whalefall(runtime):
    found = reached(
        attempt(
            runtime,
            """
            import importlib
            def execute_task():
                results = {}
                for name in ("pymysql", "psycopg", "whalefall"):
                    try:
                        importlib.import_module(name)
                        results[name] = "imported"
                    except ImportError as exc:
                        results[name] = type(exc).__name__
                return results
            """,
        )
    )
    assert found == {"pymysql": "imported", "psycopg": "imported", "whalefall": "ModuleNotFoundError"}
