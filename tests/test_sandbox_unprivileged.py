"""The sandbox when the server runs as an ordinary user: the suite runs as root on CI, so this test
starts a small "server" as ``nobody`` (through ``setpriv``) that runs a code job the way the runner
does, and checks what the job could reach. (When the whole suite runs unprivileged, every sandbox
test already takes this path.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest

import whalefall

SERVER = textwrap.dedent(
    """
    import json, os, sys, textwrap
    from pathlib import Path
    from whalefall.sandbox.isolation import Sandbox
    from whalefall.scheduler.executors.process import run_code

    root = Path(sys.argv[1])
    data = root / "data"
    data.mkdir(mode=0o700)
    (data / "secret_key").write_text("the-key")
    sandbox = Sandbox(hidden=(data, root / "whalefall"))
    sandbox.check()
    code = '''
    import os
    def execute_task(server, targets):
        found = {"uid": os.getuid(), "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}
        for name, path in targets.items():
            try:
                open(path).read()
                found[name] = "reached"
            except OSError as exc:
                found[name] = type(exc).__name__
        try:
            os.kill(server, 0)
            found["signal"] = "sent"
        except OSError as exc:
            found["signal"] = type(exc).__name__
        return found
    '''
    targets = {
        "key": str(data / "secret_key"),
        "environ": f"/proc/{os.getpid()}/environ",
        "package": str(root / "whalefall" / "__init__.py"),
    }
    outcome = run_code(
        textwrap.dedent(code),
        params={"server": os.getpid(), "targets": targets},
        context={},
        workdir=data / "work" / "run-1",
        timeout=30,
        memory_limit_mb=256,
        max_processes=32,
        on_output=lambda line: None,
        sandbox=sandbox,
        run_id=1,
    )
    print(json.dumps({"uid": os.getuid(), "status": outcome.status, "value": outcome.return_value,
                      "error": outcome.error_message}))
    """
)


@pytest.mark.skipif(
    os.geteuid() != 0, reason="the suite runs unprivileged: the other sandbox tests cover this"
)
def test_a_server_running_as_an_ordinary_user_sandboxes_its_jobs_as_well():
    python = shutil.which("python3", path="/usr/bin:/bin")
    if python is None or shutil.which("setpriv") is None:
        pytest.skip("needs the system's python3 and setpriv")
    root = Path(tempfile.mkdtemp(prefix="wf-unprivileged-", dir="/tmp"))
    try:
        shutil.copytree(Path(whalefall.__file__).parent, root / "whalefall")
        (root / "server.py").write_text(SERVER)
        for path in [root, *root.rglob("*")]:
            os.chown(path, 65534, 65534)
        done = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                python,
                "-S",
                "server.py",
                str(root),
            ],
            cwd=root,
            env={"PATH": "/usr/bin:/bin", "HOME": str(root)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout.strip().splitlines()[-1])
        assert report["uid"] == 65534
        assert report["status"] == "success", report["error"]
        found = json.loads(report["value"])
        assert found["uid"] == 65534  # nobody inside its own user namespace
        assert found["pids"] == [1, 2]
        assert found["key"] == found["environ"] == found["package"] == "FileNotFoundError"
        assert found["signal"] == "ProcessLookupError"
    finally:
        shutil.rmtree(root, ignore_errors=True)
