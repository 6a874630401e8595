"""Fires per second and start lateness: Whalefall beside raw APScheduler, in one run.

Usage: .venv/bin/python bench/throughput.py [--jobs 1000] [--seconds 20] [--spread]
           [--database sqlite|postgresql] [--no-peer] [--workers N]

``--jobs`` ``heartbeat`` interval jobs every second, created through the jobs service into a fresh
database (the embedded SQLite by default, a scratch database on the local PostgreSQL with
``--database postgresql``); all due on the same whole second, or with ``--spread`` spread evenly
across the second (``start_date`` keeps its fraction). One ``whalefall scheduler`` process fires
them; after a warm-up the next ``--seconds`` seconds of scheduled times are counted from the runs
table: every run must go queued → running → success. Printed:

- sustained fires/s (successful runs per second of scheduled time) and how many were wanted;
- start lateness (``started_at - scheduled_time``) p50 / p99 / max;
- runs that did not succeed, were coalesced, missed or skipped — all 0 when the scheduler keeps up.

The peer is APScheduler 3 alone, as a home-grown scheduler page uses it: a BackgroundScheduler
with a SQLAlchemyJobStore on SQLite and a 20-thread pool, the same jobs with a function that
does nothing but note when it started. Its lateness is measured the same way (function start
minus scheduled time), and it records nothing anywhere.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from tests.proc import Processes, environment, wait_until  # noqa: E402
from whalefall import defaults  # noqa: E402

WARM_UP = 4.0  # seconds of scheduled time not counted, after the first fire


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def first_second(lead: float) -> datetime:
    """A whole second at least ``lead`` seconds from now."""
    return datetime.fromtimestamp(int(time.time() + lead) + 1, UTC)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_of(i: int, jobs: int, base: datetime, spread: bool) -> datetime:
    return base + timedelta(seconds=i / jobs) if spread else base


# --- Whalefall ------------------------------------------------------------------------


def _make_jobs(env: dict[str, str], jobs: int, base: datetime, spread: bool) -> None:
    from whalefall import bootstrap
    from whalefall.domain.jobspec import JobCreate
    from whalefall.runtime import Runtime
    from whalefall.services import jobs as job_service
    from whalefall.services.audit import Actor

    saved = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if k.startswith("WHALEFALL_")})
    runtime = Runtime.from_env()
    try:
        bootstrap.migrate_and_seed(runtime)
        with runtime.db.begin() as session:  # the seeded jobs stay out of the figures
            session.execute(sa.text("UPDATE jobs SET state = 'paused', next_run_time = NULL"))
        for i in range(jobs):
            job_service.create(
                runtime,
                JobCreate(
                    id=f"beat-{i:05d}",
                    name=f"beat {i}",
                    function="heartbeat",
                    trigger_type="interval",
                    interval_seconds=1,
                    start_date=start_of(i, jobs, base, spread).isoformat(),
                ),
                Actor.system(),
            )
    finally:
        runtime.close()
        os.environ.clear()
        os.environ.update(saved)


def whalefall(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    url = None
    admin = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    name = f"wf_bench_{uuid.uuid4().hex[:8]}"
    if args.database == "postgresql":
        with sa.create_engine(admin, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    extra = {"WHALEFALL_EXECUTOR_MAX_WORKERS": str(args.workers)} if args.workers else {}
    if url:
        extra["WHALEFALL_DATABASE_URL"] = url
    env = environment(tmp / "wf", **extra)
    (tmp / "wf").mkdir()
    try:
        base = first_second(args.jobs / 2000 + 6)
        _make_jobs(env, args.jobs, base, args.spread)
        engine = sa.create_engine(
            url or f"sqlite:///{tmp / 'wf' / 'whalefall.db'}", poolclass=sa.pool.NullPool
        )
        procs = Processes(tmp / "logs")
        t_start = time.monotonic()
        scheduler = procs.start("scheduler", "scheduler", env=env)
        try:
            with engine.connect() as conn:
                wait_until(
                    lambda: conn.execute(
                        sa.text("SELECT count(*) FROM runs WHERE job_id LIKE 'beat-%'")
                    ).scalar(),
                    120,
                    interval=0.05,
                    what="the first fire",
                )
            first_fire = time.monotonic() - t_start
            # The window: whole seconds of scheduled time after the warm-up.
            now = datetime.now(UTC)
            window_start = max(base, now) + timedelta(seconds=WARM_UP)
            window_start = window_start.replace(microsecond=0)
            window_end = window_start + timedelta(seconds=args.seconds)
            time.sleep(max(0.0, (window_start - datetime.now(UTC)).total_seconds()))
            cpu_before = cpu_seconds(scheduler.pid)
            time.sleep(max(0.0, (window_end - datetime.now(UTC)).total_seconds()))
            cpu = cpu_seconds(scheduler.pid) - cpu_before
            time.sleep(3)
        finally:
            scheduler.terminate(timeout=60)
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT status, scheduled_time, started_at, coalesced FROM runs "
                    "WHERE job_id LIKE 'beat-%' AND scheduled_time >= :a AND scheduled_time < :b"
                ),
                {"a": window_start.replace(tzinfo=None), "b": window_end.replace(tzinfo=None)},
            ).all()
        engine.dispose()
    finally:
        if url:
            with sa.create_engine(admin, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def as_dt(value: object) -> datetime:
        return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))

    late = [
        (as_dt(started) - as_dt(scheduled)).total_seconds() * 1000
        for status, scheduled, started, _ in rows
        if started is not None
    ]
    ok = sum(1 for status, *_ in rows if status == "success")
    return {
        "wanted": args.jobs,
        "fires_per_s": ok / args.seconds,
        "p50": percentile(late, 50),
        "p99": percentile(late, 99),
        "max": max(late) if late else float("nan"),
        "not_success": len(rows) - ok,
        "by_status": ", ".join(
            f"{s} {n}" for s, n in sorted(Counter(status for status, *_ in rows).items()) if s != "success"
        ),
        "coalesced": sum(int(c or 0) for *_, c in rows),
        "lost": args.jobs * args.seconds - len(rows) - sum(int(c or 0) for *_, c in rows),
        "first_fire_s": first_fire,
        "cpu_ms_per_fire": cpu * 1000 / max(1, len(rows)),
    }


# --- raw APScheduler ------------------------------------------------------------------

_PEER_STARTS: dict[int, list[float]] = {}


def _peer_job(i: int) -> None:
    _PEER_STARTS[i].append(time.time())


def apscheduler(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    store = SQLAlchemyJobStore(url=f"sqlite:///{tmp / 'aps.db'}")
    aps = BackgroundScheduler(
        jobstores={"default": store},
        executors={"default": ThreadPoolExecutor(20)},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone="UTC",
    )
    base = first_second(args.jobs / 2000 + 3)
    for i in range(args.jobs):
        _PEER_STARTS[i] = []
        aps.add_job(
            _peer_job,
            "interval",
            seconds=1,
            start_date=start_of(i, args.jobs, base, args.spread),
            args=[i],
            id=f"beat-{i}",
        )
    aps.start()
    window_start = base + timedelta(seconds=WARM_UP)
    window_end = window_start + timedelta(seconds=args.seconds)
    time.sleep(max(0.0, (window_end - datetime.now(UTC)).total_seconds()) + 2)
    aps.shutdown(wait=True)
    late = []
    count = 0
    a, b = window_start.timestamp(), window_end.timestamp()
    for i, starts in _PEER_STARTS.items():
        offset = start_of(i, args.jobs, base, args.spread).timestamp() % 1
        for started in starts:
            # Interval jobs every second: the scheduled time is the last phase point before the start
            scheduled = int(started - offset) + offset
            if a <= scheduled < b:
                count += 1
                late.append((started - scheduled) * 1000)
    return {
        "wanted": args.jobs,
        "fires_per_s": count / args.seconds,
        "p50": percentile(late, 50),
        "p99": percentile(late, 99),
        "max": max(late) if late else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--spread", action="store_true", help="spread the jobs' start across the second")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--workers", type=int, default=None, help="WHALEFALL_EXECUTOR_MAX_WORKERS (default: the product's)"
    )
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()
    shape = "spread across the second" if args.spread else "all due on the same whole second"
    print(
        f"{args.jobs} heartbeat jobs every 1 s, {shape}; {args.seconds} s counted; "
        f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory(prefix="wf-throughput-") as tmp_name:
        tmp = Path(tmp_name)
        ours = whalefall(args, tmp)
        print(
            f"Whalefall ({args.database}, {args.workers or defaults.EXECUTOR_MAX_WORKERS} workers): {ours['fires_per_s']:.0f} fires/s of "
            f"{ours['wanted']} wanted; start lateness p50 {ours['p50']:.1f} ms, p99 {ours['p99']:.1f} ms, "
            f"max {ours['max']:.1f} ms; not success {ours['not_success']}"
            f"{' (' + ours['by_status'] + ')' if ours['by_status'] else ''}, coalesced {ours['coalesced']}, "
            f"unaccounted {ours['lost']}; first fire {ours['first_fire_s']:.1f} s after start; "
            f"{ours['cpu_ms_per_fire']:.2f} ms of CPU per fire"
        )
        if not args.no_peer:
            peer = apscheduler(args, tmp)
            ratio = ours["fires_per_s"] / peer["fires_per_s"] if peer["fires_per_s"] else float("inf")
            print(
                f"APScheduler 3 + SQLAlchemyJobStore(SQLite), 20 threads: {peer['fires_per_s']:.0f} fires/s; "
                f"start lateness p50 {peer['p50']:.1f} ms, p99 {peer['p99']:.1f} ms, max {peer['max']:.1f} ms"
            )
            print(f"Whalefall / APScheduler: {ratio:.2f}×")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
