"""A burst: thousands of jobs due on the same second (every job at 02:00:00), Whalefall beside raw
APScheduler, in one run; and a cold start with ten thousand jobs.

Usage: .venv/bin/python bench/burst.py [--jobs 5000] [--cold-jobs 10000] [--workers 20] [--no-peer]

Burst: ``--jobs`` ``heartbeat`` jobs with a date trigger on one whole second, created through the
jobs service into a fresh embedded SQLite, fired by one ``whalefall scheduler``. Printed: how many
runs were recorded and succeeded, how long after that second the last one *started*, start
lateness p50/p99, and how many were coalesced, missed or skipped (all must be 0). The peer:
APScheduler 3 with a SQLAlchemyJobStore on SQLite, a 20-thread pool and its defaults (a 1 s
``misfire_grace_time``): how many of the burst it ran, how long it took to start the last, and
how many it dropped as misfired.

Cold start: ``--cold-jobs`` jobs (hourly, none due) and one ``tick`` every second in a fresh data
dir; ``whalefall serve`` is started — web and scheduler, the scheduler's first ever start — and
timed to the tick's first run; its resident memory is read
10 s later, idle.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.throughput import cpu_seconds, percentile  # noqa: E402
from tests.proc import Processes, environment, free_port, wait_until  # noqa: E402
from whalefall import defaults  # noqa: E402


def _with_runtime(env: dict[str, str], fn) -> None:  # type: ignore[no-untyped-def]
    from whalefall import bootstrap
    from whalefall.runtime import Runtime

    saved = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if k.startswith("WHALEFALL_")})
    runtime = Runtime.from_env()
    try:
        bootstrap.migrate_and_seed(runtime)
        fn(runtime)
    finally:
        runtime.close()
        os.environ.clear()
        os.environ.update(saved)


def _create(runtime, ids_and_specs) -> None:  # type: ignore[no-untyped-def]
    from whalefall.domain.jobspec import JobCreate
    from whalefall.services import jobs as job_service
    from whalefall.services.audit import Actor

    for job_id, spec in ids_and_specs:
        job_service.create(
            runtime, JobCreate(id=job_id, name=job_id, function="heartbeat", **spec), Actor.system()
        )


# --- the burst ----------------------------------------------------------------------------


def whalefall_burst(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    env = environment(
        tmp / "burst", **({"WHALEFALL_EXECUTOR_MAX_WORKERS": str(args.workers)} if args.workers else {})
    )
    (tmp / "burst").mkdir()
    lead = args.jobs * 0.015 + 12  # creating the jobs (generously), then the scheduler's start
    at = datetime.fromtimestamp(int(time.time() + lead), UTC)

    def setup(runtime) -> None:  # type: ignore[no-untyped-def]
        with runtime.db.begin() as session:  # the seeded jobs stay out of the figures
            session.execute(sa.text("UPDATE jobs SET state = 'paused', next_run_time = NULL"))
        spec = {"trigger_type": "date", "run_date": at.isoformat()}
        _create(runtime, [(f"burst-{i:05d}", spec) for i in range(args.jobs)])

    _with_runtime(env, setup)
    if datetime.now(UTC) > at - timedelta(seconds=4):
        raise SystemExit("creating the jobs took too long for the chosen second; try fewer --jobs")
    procs = Processes(tmp / "logs")
    scheduler = procs.start("scheduler", "scheduler", env=env)
    engine = sa.create_engine(f"sqlite:///{tmp / 'burst' / 'whalefall.db'}", poolclass=sa.pool.NullPool)
    try:
        count = "SELECT count(*) FROM runs WHERE job_id LIKE 'burst-%' AND status = 'success'"
        # The scheduler's CPU time from just before the second until every run has succeeded.
        time.sleep(max(0.0, at.timestamp() - 0.5 - time.time()))
        cpu_before = cpu_seconds(scheduler.pid)
        with engine.connect() as conn:
            wait_until(lambda: conn.execute(sa.text(count)).scalar() >= args.jobs, lead + 120, interval=0.2)
        cpu = cpu_seconds(scheduler.pid) - cpu_before
        time.sleep(1)
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT status, started_at, coalesced FROM runs WHERE job_id LIKE 'burst-%'")
            ).all()
    finally:
        scheduler.terminate(timeout=60)
        procs.close()
        engine.dispose()
    naive = at.replace(tzinfo=None)
    late = [
        (datetime.fromisoformat(str(started)) - naive).total_seconds() * 1000
        for _, started, _ in rows
        if started is not None
    ]
    return {
        "recorded": len(rows),
        "success": sum(1 for status, *_ in rows if status == "success"),
        "not_success": sum(1 for status, *_ in rows if status != "success"),
        "coalesced": sum(int(c or 0) for *_, c in rows),
        "cpu_ms_per_run": cpu * 1000 / max(1, len(rows)),
        "first_start_ms": min(late) if late else float("nan"),
        "last_start_ms": max(late) if late else float("nan"),
        "p50": percentile(late, 50),
        "p99": percentile(late, 99),
    }


_PEER_STARTS: list[float] = []
_PEER_LOCK = threading.Lock()


def _peer_job() -> None:
    with _PEER_LOCK:
        _PEER_STARTS.append(time.time())


def apscheduler_burst(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    from apscheduler.events import EVENT_JOB_MISSED
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    aps = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{tmp / 'aps-burst.db'}")},
        executors={"default": ThreadPoolExecutor(20)},
        timezone="UTC",
    )
    missed = []
    aps.add_listener(lambda event: missed.append(event.job_id), EVENT_JOB_MISSED)
    at = datetime.fromtimestamp(int(time.time() + args.jobs * 0.01 + 5), UTC)
    for i in range(args.jobs):
        aps.add_job(_peer_job, "date", run_date=at, id=f"burst-{i}")
    if datetime.now(UTC) > at - timedelta(seconds=1):
        raise SystemExit("adding the peer's jobs took too long for the chosen second")
    aps.start()
    deadline = time.time() + (at - datetime.now(UTC)).total_seconds() + 60
    while time.time() < deadline and len(_PEER_STARTS) + len(missed) < args.jobs:
        time.sleep(0.2)
    aps.shutdown(wait=True)
    late = [(t - at.timestamp()) * 1000 for t in _PEER_STARTS]
    return {
        "ran": len(_PEER_STARTS),
        "missed": len(missed),
        "last_start_ms": max(late) if late else float("nan"),
        "p50": percentile(late, 50),
        "p99": percentile(late, 99),
    }


# --- the cold start ----------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cold_start(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    port = free_port()
    env = environment(
        tmp / "cold",
        WHALEFALL_PORT=str(port),
        **({"WHALEFALL_EXECUTOR_MAX_WORKERS": str(args.workers)} if args.workers else {}),
    )
    (tmp / "cold").mkdir()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30)
    spec = {"trigger_type": "interval", "interval_seconds": 3600, "start_date": start.isoformat()}
    tick = {"trigger_type": "interval", "interval_seconds": 1}
    jobs = [("tick", tick)] + [(f"hourly-{i:05d}", spec) for i in range(args.cold_jobs)]
    _with_runtime(env, lambda runtime: _create(runtime, jobs))
    # The first ever start: nothing of the scheduler's is in the database yet but the jobs.
    procs = Processes(tmp / "logs")
    engine = sa.create_engine(f"sqlite:///{tmp / 'cold' / 'whalefall.db'}", poolclass=sa.pool.NullPool)
    t0 = time.monotonic()
    serve = procs.start("serve", "serve", env=env)
    try:
        beat = "SELECT count(*) FROM runs WHERE job_id = 'tick' AND started_at IS NOT NULL"
        with engine.connect() as conn:
            wait_until(
                lambda: conn.execute(sa.text(beat)).scalar(), 120, interval=0.02, what="the first fire"
            )
        first_fire = time.monotonic() - t0
        time.sleep(10)
        rss = rss_mb(serve.pid)
    finally:
        serve.terminate(timeout=60)
        procs.close()
        engine.dispose()
    return {"first_fire_s": first_fire, "rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--cold-jobs", type=int, default=10_000)
    parser.add_argument(
        "--workers", type=int, default=None, help="WHALEFALL_EXECUTOR_MAX_WORKERS (default: the product's)"
    )
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--no-cold", action="store_true")
    parser.add_argument("--no-burst", action="store_true")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}; embedded SQLite")
    with tempfile.TemporaryDirectory(prefix="wf-burst-") as tmp_name:
        tmp = Path(tmp_name)
        if not args.no_burst:
            report_burst(args, tmp)
        if not args.no_cold:
            cold = cold_start(args, tmp)
            print(
                f"Cold start of `whalefall serve` with {args.cold_jobs} jobs (first ever start): first fire "
                f"{cold['first_fire_s']:.2f} s after the process started; idle RSS {cold['rss_mb']:.0f} MB"
            )


def report_burst(args: argparse.Namespace, tmp: Path) -> None:
    ours = whalefall_burst(args, tmp)
    print(
        f"Burst of {args.jobs} jobs due on one second — Whalefall ({args.workers or defaults.EXECUTOR_MAX_WORKERS} workers): "
        f"{ours['success']} of {ours['recorded']} recorded runs succeeded; first started "
        f"{ours['first_start_ms']:.0f} ms, last started "
        f"{ours['last_start_ms']:.0f} ms after the second (p50 {ours['p50']:.0f} ms, p99 {ours['p99']:.0f} ms); "
        f"not success {ours['not_success']}, coalesced {ours['coalesced']}; "
        f"{ours['cpu_ms_per_run']:.2f} ms of CPU per run"
    )
    if not args.no_peer:
        peer = apscheduler_burst(args, tmp)
        print(
            f"Burst of {args.jobs} — APScheduler 3 + SQLAlchemyJobStore(SQLite), 20 threads, default grace: "
            f"ran {peer['ran']}, dropped as misfired {peer['missed']}; last started "
            f"{peer['last_start_ms']:.0f} ms after the second (p50 {peer['p50']:.0f} ms, p99 {peer['p99']:.0f} ms)"
        )


if __name__ == "__main__":
    main()
