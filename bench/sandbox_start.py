"""What the job sandbox costs at start: from starting a code job's process to its first line of code.

Usage: .venv/bin/python bench/sandbox_start.py [--runs 50]

Runs the same one-line code job ``--runs`` times with no isolation (the launcher alone, as with
WHALEFALL_SANDBOX=none) and in the bubblewrap sandbox the scheduler uses (namespaces, another uid,
a control group with the run's limits), and prints p50 / p95 of the time from just before the
process is started to the job's first line (read from the job's own clock: the host and the
sandbox share CLOCK_REALTIME), and of the whole run until its outcome is known.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from whalefall.runtime import Runtime
from whalefall.scheduler.executors.process import run_code

CODE = "import time\nFIRST = time.time()\n\ndef execute_task():\n    return repr(FIRST)\n"


def measure(runtime: Runtime, isolated: bool, runs: int) -> tuple[list[float], list[float]]:
    to_first, whole = [], []
    for run_id in range(1, runs + 1):
        started = time.time()
        outcome = run_code(
            CODE,
            params={},
            context={"run_id": run_id},
            workdir=runtime.settings.data_dir / "work" / f"run-{run_id}",
            timeout=30,
            memory_limit_mb=runtime.settings.code_memory_limit_mb,
            cpu_seconds=runtime.settings.code_cpu_seconds,
            max_processes=runtime.settings.code_max_processes,
            file_size_mb=runtime.settings.code_file_size_mb,
            on_output=lambda line: None,
            sandbox=runtime.sandbox if isolated else None,
            run_id=run_id,
        )
        ended = time.time()
        assert outcome.status == "success", outcome.error_message
        to_first.append((float(outcome.return_value or 0) - started) * 1000)
        whole.append((ended - started) * 1000)
    return to_first, whole


def quantiles(values: list[float]) -> str:
    cuts = statistics.quantiles(values, n=20)
    return f"p50 {statistics.median(values):6.1f} ms   p95 {cuts[18]:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime.from_env({"data_dir": Path(tmp) / "data", "secret_key": "bench"})
        runtime.sandbox.check()
        measure(runtime, True, 3)  # warm the page cache and the sandbox probe
        plain_first, plain_whole = measure(runtime, False, args.runs)
        boxed_first, boxed_whole = measure(runtime, True, args.runs)
        print(f"code job start, {args.runs} runs each (process start → first line of the job's code)")
        print(f"  no isolation (launcher only):   {quantiles(plain_first)}")
        print(f"  bubblewrap sandbox + cgroup:    {quantiles(boxed_first)}")
        print(
            f"  isolation overhead at p50:      {statistics.median(boxed_first) - statistics.median(plain_first):6.1f} ms"
        )
        print("whole run (start → outcome known)")
        print(f"  no isolation:                   {quantiles(plain_whole)}")
        print(f"  bubblewrap sandbox + cgroup:    {quantiles(boxed_whole)}")
        runtime.close()


if __name__ == "__main__":
    main()
