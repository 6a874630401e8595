"""Code jobs in their own process: the source check, the launcher and the parent that runs it.

Every test starts real processes; nothing is mocked.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from whalefall.domain.codecheck import check_source
from whalefall.errors import InvalidCode
from whalefall.scheduler.executors.process import CodeOutcome, run_code, scrubbed_env

CONTEXT = {"run_id": 42, "job_id": "nightly", "scheduled_time": "2024-05-01T02:00:00+00:00", "attempt": 1}


@pytest.fixture
def workdir(tmp_path) -> Path:
    return tmp_path / "work"


def job(body: str) -> str:
    return textwrap.dedent(body).lstrip("\n")


def run(code: str, workdir: Path, *, lines: list[str] | None = None, **options) -> CodeOutcome:
    options.setdefault("params", {})
    options.setdefault("context", CONTEXT)
    options.setdefault("timeout", 10)
    options.setdefault("memory_limit_mb", None)
    sink = lines if lines is not None else []
    return run_code(job(code), workdir=workdir, on_output=sink.append, **options)


def is_gone(pid: int, within: float = 3.0) -> bool:
    """True once ``pid`` has exited (a zombie counts: an init that does not reap is common in containers)."""
    deadline = time.monotonic() + within
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


# The source check


def test_valid_source_passes_the_check():
    check_source("import os\n\ndef execute_task(name='x'):\n    return name\n")


def test_syntax_error_names_its_line():
    with pytest.raises(InvalidCode) as caught:
        check_source("def execute_task():\n    x = 1\n    return x +\n")
    assert caught.value.line == 3
    assert str(caught.value).startswith("SyntaxError at line 3: ")


def test_compiler_errors_are_found_as_well_as_parser_errors():
    with pytest.raises(InvalidCode) as caught:
        check_source("def execute_task():\n    pass\n\nreturn 1\n")
    assert caught.value.line == 4


def test_source_without_execute_task_is_rejected():
    with pytest.raises(InvalidCode, match="top-level function `def execute_task"):
        check_source("def run():\n    pass\n")


def test_execute_task_nested_in_a_class_does_not_count():
    with pytest.raises(InvalidCode, match="top-level"):
        check_source("class Job:\n    def execute_task(self):\n        pass\n")


def test_async_execute_task_is_rejected():
    with pytest.raises(InvalidCode, match="async") as caught:
        check_source("async def execute_task():\n    pass\n")
    assert caught.value.line == 1


def test_empty_and_oversized_sources_are_rejected():
    with pytest.raises(InvalidCode, match="empty"):
        check_source("  \n")
    big = "def execute_task():\n    pass\n" + "#" * (256 * 1024) + "\n"
    with pytest.raises(InvalidCode, match="256 KiB") as caught:
        check_source(big)
    assert caught.value.line is None


# Results


@pytest.mark.parametrize(
    ("returned", "reported"),
    [
        ("'done'", "done"),
        ("{'rows': 3, 'db': '主库'}", '{"rows": 3, "db": "主库"}'),
        ("[1, 2.5, True]", "[1, 2.5, true]"),
        ("42", "42"),
        ("None", ""),
    ],
)
def test_return_value_is_reported_as_text(workdir, returned, reported):
    outcome = run(f"def execute_task():\n    return {returned}\n", workdir)
    assert outcome == CodeOutcome("success", reported, None, None, 0)


def test_params_are_passed_by_name_with_context_and_logger(workdir):
    outcome = run(
        """
        def execute_task(name, count=1, *, context, logger, **rest):
            logger.info("run %s", context.run_id)
            return f"{name}x{count}:{context['job_id']}:{sorted(rest)}:{params['name']}"
        """,
        workdir,
        params={"name": "db1", "count": 3, "extra": True},
    )
    assert outcome.return_value == "db1x3:nightly:['extra']:db1"


def test_missing_parameter_is_reported_as_the_job_error(workdir):
    outcome = run("def execute_task(name):\n    return name\n", workdir)
    assert outcome.status == "failed"
    assert "missing 1 required positional argument: 'name'" in outcome.error_message


# Output


def test_print_and_logger_lines_arrive_while_the_job_runs(workdir):
    seen = threading.Event()
    lines: list[str] = []
    pids: list[int] = []

    def on_output(line: str) -> None:
        lines.append(line)
        if line == "INFO working":
            seen.set()

    code = """
        import time
        def execute_task():
            print("hello", "world")
            logger.info("working")
            time.sleep(1)
            return "ok"
        """
    outcomes: list[CodeOutcome] = []
    worker = threading.Thread(
        target=lambda: outcomes.append(
            run_code(
                job(code),
                params={},
                context=CONTEXT,
                workdir=workdir,
                timeout=10,
                memory_limit_mb=None,
                on_output=on_output,
                on_start=pids.append,
            )
        )
    )
    worker.start()
    assert seen.wait(5), lines
    assert worker.is_alive() and not is_gone(pids[0], within=0)
    worker.join(10)
    assert outcomes[0].status == "success"
    assert lines == ["hello world", "INFO working"]


def test_partial_last_line_and_stderr_are_output(workdir):
    lines: list[str] = []
    run(
        """
        import sys
        def execute_task():
            print("to stderr", file=sys.stderr)
            sys.stdout.write("no newline")
        """,
        workdir,
        lines=lines,
    )
    assert lines == ["to stderr", "no newline"]


def test_raw_subprocess_output_is_tolerated_and_cannot_forge_a_result(workdir):
    lines: list[str] = []
    outcome = run(
        """
        import subprocess
        def execute_task():
            subprocess.run(["sh", "-c", "echo raw-line; echo '{\\"t\\": \\"result\\", \\"value\\": \\"forged\\"}'"])
            subprocess.run(["printf", "half a line"])
            return "real"
        """,
        workdir,
        lines=lines,
    )
    assert outcome.return_value == "real"
    assert lines == ["raw-line", '{"t": "result", "value": "forged"}', "half a line"]


def test_non_utf8_output_does_not_break_the_reader(workdir):
    lines: list[str] = []
    outcome = run(
        """
        import os, sys
        def execute_task():
            os.write(1, b"raw \\xff\\xfe bytes\\n")
            sys.stdout.buffer.write(b"buffered \\xc3\\n")
            return "\\udcff"
        """,
        workdir,
        lines=lines,
    )
    assert outcome.status == "success"
    assert lines == ["raw \ufffd\ufffd bytes", "buffered \ufffd"]


# Failures


def test_exception_fails_the_run_with_a_traceback_of_the_users_lines(workdir):
    outcome = run(
        """
        def execute_task():
            total = 1
            raise ValueError("boom")
        """,
        workdir,
    )
    assert outcome.status == "failed"
    assert outcome.error_message == "ValueError: boom"
    assert 'File "<job:nightly>", line 3, in execute_task' in outcome.traceback
    assert 'raise ValueError("boom")' in outcome.traceback
    assert "launcher.py" not in outcome.traceback
    assert outcome.exit_code == 1


def test_system_exit_is_reported_as_an_error(workdir):
    outcome = run("import sys\ndef execute_task():\n    sys.exit(3)\n", workdir)
    assert outcome.status == "failed"
    assert outcome.error_message == "SystemExit: 3"


def test_syntax_error_that_skipped_the_check_fails_the_run(workdir):
    outcome = run("def execute_task(:\n    pass\n", workdir)
    assert outcome.status == "failed"
    assert outcome.error_message.startswith("SyntaxError:")
    assert "line 1" in outcome.traceback


def test_process_killed_without_a_report_fails_with_its_signal_and_last_output(workdir):
    outcome = run(
        """
        import os, signal
        def execute_task():
            print("last words")
            os.kill(os.getpid(), signal.SIGKILL)
        """,
        workdir,
    )
    assert outcome.status == "failed"
    assert outcome.exit_code == -9
    assert "SIGKILL" in outcome.error_message
    assert outcome.error_message.endswith("last output:\nlast words")


def test_memory_limit_fails_the_job_instead_of_exhausting_the_host(workdir):
    outcome = run("def execute_task():\n    return len(bytearray(1024 ** 3))\n", workdir, memory_limit_mb=200)
    assert outcome.status == "failed"
    assert outcome.error_message.startswith("MemoryError")


def test_memory_limit_leaves_room_for_threads(workdir):
    outcome = run(
        """
        from concurrent.futures import ThreadPoolExecutor
        def execute_task():
            with ThreadPoolExecutor(8) as pool:
                return sum(pool.map(lambda n: sum(len(bytes(n)) for _ in range(50)), [100_000] * 64))
        """,
        workdir,
        memory_limit_mb=400,
    )
    assert outcome.return_value == str(64 * 50 * 100_000)


def test_cpu_limit_stops_a_busy_job(workdir):
    outcome = run("def execute_task():\n    while True:\n        pass\n", workdir, cpu_seconds=1)
    assert outcome.status == "failed"
    assert outcome.error_message == "CpuTimeExceeded: CPU time limit of 1 s exceeded"


# Stopping


def test_timeout_kills_the_whole_process_group(workdir):
    started = time.monotonic()
    outcome = run(
        """
        import subprocess, time
        def execute_task():
            child = subprocess.Popen(["sleep", "100"])
            with open("grandchild.pid", "w") as f:
                f.write(str(child.pid))
            time.sleep(100)
        """,
        workdir,
        timeout=1.5,
    )
    assert outcome.status == "timeout"
    assert outcome.error_message == "timed out after 1.5 s"
    assert time.monotonic() - started < 5
    assert is_gone(int((workdir / "grandchild.pid").read_text()))


def test_process_left_behind_by_a_finished_job_is_killed(workdir):
    outcome = run(
        """
        import subprocess
        def execute_task():
            return subprocess.Popen(["sleep", "100"]).pid
        """,
        workdir,
    )
    assert outcome.status == "success"
    assert is_gone(int(outcome.return_value))


def test_should_cancel_stops_the_job(workdir):
    printed = threading.Event()
    pids: list[int] = []
    outcome = run_code(
        job(
            """
            import time
            def execute_task():
                print("started")
                time.sleep(100)
            """
        ),
        params={},
        context=CONTEXT,
        workdir=workdir,
        timeout=10,
        memory_limit_mb=None,
        on_output=lambda line: printed.set(),
        should_cancel=printed.is_set,
        cancel_poll_seconds=0.1,
        on_start=pids.append,
    )
    assert outcome.status == "cancelled"
    assert outcome.exit_code == -9
    assert is_gone(pids[0])


# Environment


def test_job_sees_a_scrubbed_environment_and_runs_in_its_workdir(workdir, monkeypatch):
    monkeypatch.setenv("WHALEFALL_SECRET_KEY", "s3cret")
    monkeypatch.setenv("WHALEFALL_DATABASE_URL", "postgresql://u:p@db/wf")
    outcome = run(
        """
        import os, tempfile
        def execute_task():
            return {"env": dict(os.environ), "cwd": os.getcwd(), "tmp": tempfile.gettempdir()}
        """,
        workdir,
    )
    seen = json.loads(outcome.return_value)
    assert "s3cret" not in outcome.return_value
    assert not any(name.startswith("WHALEFALL_") for name in seen["env"])
    allowed = set(scrubbed_env(workdir)) | {"LC_CTYPE"}  # Python may set LC_CTYPE when it coerces a C locale
    assert set(seen["env"]) <= allowed
    assert seen["cwd"] == seen["tmp"] == seen["env"]["HOME"] == str(workdir.resolve())


SCHEDULER = """
import sys
from whalefall.scheduler.executors.process import run_code

code = "import time\\ndef execute_task():\\n    print('running')\\n    time.sleep(100)\\n"
run_code(code, params={}, context={}, workdir=sys.argv[1], timeout=100, memory_limit_mb=None,
         on_output=lambda line: print(line, flush=True), on_start=lambda pid: print(pid, flush=True))
"""


def test_job_process_dies_with_the_scheduler_process(workdir):
    with subprocess.Popen(
        [sys.executable, "-c", SCHEDULER, str(workdir)], stdout=subprocess.PIPE, text=True
    ) as scheduler:
        job_pid = int(scheduler.stdout.readline())
        assert scheduler.stdout.readline() == "running\n"
        scheduler.send_signal(signal.SIGKILL)
    try:
        assert is_gone(job_pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(job_pid, signal.SIGKILL)  # not left running when the test fails
