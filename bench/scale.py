"""How the API and the scheduler's start-up hold up at 10,000 jobs and 1,000,000 runs.

Usage: .venv/bin/python bench/scale.py [--jobs 10000] [--runs 1000000] [--database-url URL]
           [--load 500] [--load-seconds 20]

Seeds a fresh database (SQLite in a temporary directory by default) with jobs
and finished runs in bulk, then times the requests a console page makes and the
scheduler's first reconcile. Prints one line per measurement (median of 5).

With ``--load N``, the same requests are timed again while a ``whalefall scheduler`` process
fires N ``heartbeat`` jobs a second (interval jobs spread across the second) into the same
database, every run recorded: the two columns side by side, and the rate it really fired at
while the pages were read.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.proc import SECRET_KEY, Processes, environment, wait_until
from whalefall import clock
from whalefall.app import create_app
from whalefall.migrate import upgrade
from whalefall.models import Job, Run
from whalefall.models.user import Role
from whalefall.runtime import Runtime
from whalefall.services import tokens, users
from whalefall.services.audit import Actor

STATUSES = ["success"] * 90 + ["failed"] * 6 + ["timeout", "skipped", "missed", "cancelled"]


def seed(runtime: Runtime, n_jobs: int, n_runs: int) -> None:
    now = clock.now()
    jobs = [
        dict(
            id=f"job_{i:05d}",
            name=f"任务 {i}",
            description="bench",
            category=f"cat{i % 20}",
            kind="builtin",
            func_name="heartbeat",
            params={},
            code=None,
            trigger_type="cron",
            trigger_params={"hour": str(i % 24), "minute": str(i % 60)},
            timezone=None,
            state="active" if i % 10 else "paused",
            misfire_grace_time=300,
            coalesce=True,
            max_instances=1,
            timeout_seconds=None,
            max_retries=0,
            retry_delay_seconds=60,
            depends_on=[],
            notify={},
            is_default=False,
            broken_reason=None,
            version=0,
            created_by="bench",
            updated_by="bench",
            created_at=now,
            updated_at=now,
            next_run_time=now + timedelta(minutes=i % 1440),
        )
        for i in range(n_jobs)
    ]
    with runtime.db.begin() as session:
        session.execute(Job.__table__.insert(), jobs)
    rng = random.Random(7)
    batch = 20_000
    start = now - timedelta(days=30)
    for offset in range(0, n_runs, batch):
        rows = []
        for k in range(offset, min(offset + batch, n_runs)):
            created = start + timedelta(seconds=k * (30 * 86400 / n_runs))
            job = rng.randrange(n_jobs)
            rows.append(
                dict(
                    job_id=f"job_{job:05d}",
                    job_name=f"任务 {job}",
                    trigger_source="schedule",
                    scheduled_time=created,
                    created_at=created,
                    started_at=created,
                    finished_at=created + timedelta(seconds=1),
                    duration_seconds=1.0,
                    status=rng.choice(STATUSES),
                    attempt=1,
                    log="ok\n",
                    log_start=0,
                    cancel_requested=False,
                )
            )
        with runtime.db.begin() as session:
            session.execute(Run.__table__.insert(), rows)


def under_load(
    runtime: Runtime, data: Path, args: argparse.Namespace, checks
) -> tuple[dict[str, float], float]:
    """The checks timed again while a scheduler process fires ``args.load`` heartbeat jobs a second."""
    from sqlalchemy import func, select

    from whalefall.domain.jobspec import JobCreate
    from whalefall.services import jobs as job_service

    base = clock.now().replace(microsecond=0) + timedelta(seconds=2)
    for i in range(args.load):
        job_service.create(
            runtime,
            JobCreate(
                id=f"load-{i:05d}",
                name=f"load {i}",
                function="heartbeat",
                trigger_type="interval",
                interval_seconds=1,
                start_date=(base + timedelta(seconds=i / args.load)).isoformat(),
            ),
            Actor.system(),
        )
    extra = {"WHALEFALL_DATABASE_URL": args.database_url} if args.database_url else {}
    env = environment(data, **extra)
    procs = Processes(data / "logs")
    scheduler = procs.start("scheduler", "scheduler", env=env)
    fired = select(func.count()).select_from(Run).where(Run.job_id.like("load-%"), Run.status == "success")
    try:
        with runtime.db.read() as session:
            wait_until(lambda: session.scalar(fired), 120, interval=0.1, what="the first fire")
        time.sleep(5)  # warmed up: every job fired, the schedule is steady
        with runtime.db.read() as session:
            before, t0 = session.scalar(fired), time.perf_counter()
        samples: dict[str, list[float]] = {name: [] for name, _ in checks}
        until = time.perf_counter() + args.load_seconds
        while True:  # the checks again and again for the window; each its median
            for name, fn in checks:
                samples[name].append(timed(fn, repeat=1))
            if time.perf_counter() >= until:
                break
        with runtime.db.read() as session:
            after, t1 = session.scalar(fired), time.perf_counter()
    finally:
        scheduler.terminate(timeout=60)
        procs.close()
    return {name: statistics.median(times) for name, times in samples.items()}, (after - before) / (t1 - t0)


def timed(fn, repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--database-url")
    parser.add_argument("--load", type=int, default=0, help="fires/s of heartbeat jobs while timing again")
    parser.add_argument("--load-seconds", type=int, default=20)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="wf-bench-"))
    settings = {"data_dir": data, "secret_key": SECRET_KEY}
    if args.database_url:
        settings["database_url"] = args.database_url
    runtime = Runtime.from_env(settings)
    upgrade(runtime.db.engine)
    t0 = time.perf_counter()
    seed(runtime, args.jobs, args.runs)
    print(
        f"seeded {args.jobs} jobs and {args.runs} runs on {runtime.db.backend} in {time.perf_counter() - t0:.1f} s"
    )
    users.create(runtime.db, "bench", "bench-password", Role.ADMIN, Actor.system())
    _tok, plain = tokens.create(runtime.db, "bench", "bench", Actor.system())
    client = create_app(runtime=runtime).test_client()
    headers = {"Authorization": f"Bearer {plain}"}

    def get(path: str):
        return lambda: (
            client.get("/scheduler/api" + path, headers=headers).status_code == 200 or sys.exit(path)
        )

    checks = [
        ("GET /jobs (page 1 of 20)", get("/jobs?per_page=20")),
        ("GET /jobs?page=400", get("/jobs?per_page=20&page=400")),
        ("GET /jobs?q=任务 99", get("/jobs?q=%E4%BB%BB%E5%8A%A1%2099")),
        ("GET /jobs?category=cat3&state=paused", get("/jobs?category=cat3&state=paused")),
        ("GET /runs (newest 20)", get("/runs?per_page=20")),
        ("GET /runs?status=failed", get("/runs?status=failed")),
        ("GET /runs?job_id=job_00042", get("/runs?job_id=job_00042")),
        ("GET /jobs/job_00042/runs", get("/jobs/job_00042/runs")),
        (
            "GET /runs?since=…&until=… (one day)",
            get(
                "/runs?since="
                + (clock.now() - timedelta(days=3)).isoformat().replace("+", "%2B")
                + "&until="
                + (clock.now() - timedelta(days=2)).isoformat().replace("+", "%2B")
            ),
        ),
        ("GET /stats", get("/stats")),
        ("GET /health", lambda: client.get("/scheduler/api/health")),
    ]
    quiet = {name: timed(fn) for name, fn in checks}

    from whalefall.scheduler.service import SchedulerService

    service = SchedulerService(runtime)
    service.start(thread=False)
    t0 = time.perf_counter()
    service.step()
    reconcile = (time.perf_counter() - t0) * 1000
    service.stop(wait_seconds=1)

    if not args.load:
        for name, ms in quiet.items():
            print(f"{name:45} {ms:8.1f} ms")
    else:
        loaded, rate = under_load(runtime, data, args, checks)
        print(f"{'':45} {'quiet':>8}    {'while firing ' + str(args.load) + '/s':>20}")
        for name, ms in quiet.items():
            print(f"{name:45} {ms:8.1f} ms {loaded[name]:14.1f} ms")
        print(f"the scheduler fired {rate:.0f} runs/s (recorded as success) while the pages were read")
    print(f"{'scheduler start (reconcile ' + str(args.jobs) + ' jobs)':45} {reconcile:8.1f} ms")


if __name__ == "__main__":
    main()
