"""Chaos on PostgreSQL: kill, stall and cut the database under three schedulers, then count.

Usage: .venv/bin/python bench/chaos.py [--minutes 2] [--jobs 150] [--kills 5] [--postgres URL]

A fresh database on the local PostgreSQL, reached through a TCP proxy this script controls;
``--jobs`` heartbeat jobs every second; three ``whalefall scheduler`` processes and one
``whalefall web``. During the run the leader is killed with SIGKILL ``--kills`` times, stalled
once with SIGSTOP past its lease, and the database is cut once for a few seconds. Meanwhile the
lease is watched (which node held which epoch) and the API is asked for health and a job list
every 0.2 s. Then every scheduler is stopped, one is started alone to recover, and it prints:

- duplicate (job, scheduled time) claims — must be 0;
- scheduled runs started by a node without the lease (its epoch's holder was another) — 0;
- runs stuck queued or running after recovery — 0;
- fire times not accounted for: neither a run's own time, nor among the times coalesced into
  one, nor covered by a missed record — 0;
- server errors (5xx other than 503) from the API — 0;
- takeover times (from the kill or stall to the next epoch's first claim).

``tests/test_chaos.py`` runs it for about a minute; run it longer by hand.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from tests.proc import Processes, environment, free_port, wait_until  # noqa: E402
from tests.tcp_proxy import TcpProxy  # noqa: E402

LEASE_SECONDS = 4
FAST = {
    "WHALEFALL_LEASE_SECONDS": str(LEASE_SECONDS),
    "WHALEFALL_NODE_STALE_SECONDS": str(LEASE_SECONDS),
    "WHALEFALL_SHUTDOWN_GRACE_SECONDS": "2",
    "WHALEFALL_EXECUTOR_MAX_WORKERS": "10",
}


@dataclass
class Report:
    duplicates: int = 0
    unfenced: int = 0
    unverified: int = 0
    stuck: int = 0
    unaccounted: int = 0
    expected_fires: int = 0
    server_errors: int = 0
    api_answers: int = 0
    takeovers: list[float] = field(default_factory=list)
    stuck_detail: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def ok(self) -> bool:
        return not (self.duplicates or self.unfenced or self.stuck or self.unaccounted or self.server_errors)

    def lines(self) -> list[str]:
        takeovers = (
            f"median {statistics.median(self.takeovers):.1f} s, max {max(self.takeovers):.1f} s "
            f"over {len(self.takeovers)}"
            if self.takeovers
            else "none measured"
        )
        return [
            f"events:                          {', '.join(self.events)}",
            f"fire times expected:             {self.expected_fires}",
            f"  not accounted for:             {self.unaccounted}",
            f"duplicate claims:                {self.duplicates}",
            f"runs claimed without the lease:  {self.unfenced} (unverified: {self.unverified})",
            f"runs stuck after recovery:       {self.stuck}",
            *(f"  {line}" for line in self.stuck_detail),
            f"API answers / server errors:     {self.api_answers} / {self.server_errors}",
            f"takeovers:                       {takeovers}",
        ]


class LeaseWatch(threading.Thread):
    """Remembers which node held each epoch, and when each epoch began."""

    def __init__(self, engine: sa.Engine):
        super().__init__(daemon=True)
        self.engine = engine
        self.holders: dict[int, str] = {}
        self.began: dict[int, float] = {}
        self.began_wall: dict[int, float] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.05):
            try:
                with self.engine.connect() as conn:
                    row = conn.execute(
                        sa.text("SELECT epoch, holder FROM leases WHERE name = 'scheduler'")
                    ).first()
            except sa.exc.SQLAlchemyError:
                continue
            if row and row.holder and row.epoch not in self.holders:
                self.holders[row.epoch] = row.holder
                self.began[row.epoch] = time.monotonic()
                self.began_wall[row.epoch] = time.time()

    def leader(self) -> str | None:
        return self.holders[max(self.holders)] if self.holders else None


class ApiWatch(threading.Thread):
    def __init__(self, port: int, token: str):
        super().__init__(daemon=True)
        self.port, self.token = port, token
        self.statuses: list[int] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        paths = ["/scheduler/api/health", "/scheduler/api/jobs?per_page=1", "/scheduler/api/runs?per_page=5"]
        i = 0
        while not self.stopping.wait(0.2):
            path = paths[i % len(paths)]
            i += 1
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.port}{path}", headers={"Authorization": f"Bearer {self.token}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    self.statuses.append(answer.status)
            except urllib.error.HTTPError as exc:
                self.statuses.append(exc.code)
            except OSError:
                continue  # the web process restarting is not an answer


def _database(admin_url: str) -> tuple[str, str]:
    name = f"wf_chaos_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return name, sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop(admin_url: str, name: str) -> None:
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def run(
    minutes: float, jobs: int, kills: int, admin_url: str, log: bool = True, keep: bool = False
) -> Report:
    report = Report()
    name, direct_url = _database(admin_url)
    direct = sa.engine.make_url(direct_url)
    proxy = TcpProxy(direct.host or "127.0.0.1", direct.port or 5432).start()
    via_proxy = direct.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    tmp = Path(tempfile.mkdtemp(prefix="wf-chaos-"))
    procs = Processes(tmp / "logs")
    engine = sa.create_engine(direct_url, poolclass=sa.pool.NullPool)
    try:
        env = environment(tmp / "data", WHALEFALL_DATABASE_URL=via_proxy, **FAST)
        from tests.proc import cli

        cli(env, "db", "upgrade", timeout=120)
        cli(
            env,
            "user",
            "create",
            "chaos-admin",
            "--role",
            "admin",
            "--password-stdin",
            stdin="chaos-Passw0rd-long\n",
        )
        token = cli(env, "token", "create", "chaos-admin", "--label", "chaos")
        bearer = token.stdout.strip().splitlines()[-1]
        _make_jobs(env, jobs)
        port = free_port()
        procs.start("web", "web", "--port", str(port), env=env)
        schedulers = [procs.start(f"sched{i}", "scheduler", env=env) for i in range(3)]
        lease = LeaseWatch(engine)
        lease.start()
        api = ApiWatch(port, bearer)
        wait_until(lambda: lease.leader(), 30, what="a leader")
        api.start()
        started = time.monotonic()
        total = minutes * 60
        plan = _plan(total, kills)
        by_node = {}

        def node_proc(node: str):
            for proc in schedulers:
                if proc.alive and f":{proc.popen.pid}:" in node:
                    return proc
            return None

        for at, action in plan:
            time.sleep(max(0.0, started + at - time.monotonic()))
            leader = lease.leader()
            target = node_proc(leader) if leader else None
            epoch_before = max(lease.holders) if lease.holders else 0
            t0 = time.monotonic()
            if action == "kill" and target is not None:
                target.popen.send_signal(signal.SIGKILL)
                target.popen.wait()
                schedulers[schedulers.index(target)] = procs.start(
                    f"sched-r{len(by_node)}", "scheduler", env=env
                )
                by_node[leader] = "killed"
                report.events.append("kill")
            elif action == "stall" and target is not None:
                os.kill(target.popen.pid, signal.SIGSTOP)
                time.sleep(LEASE_SECONDS * 2.5)
                os.kill(target.popen.pid, signal.SIGCONT)
                report.events.append("stall")
            elif action == "cut":
                proxy.stop()
                time.sleep(5)
                proxy.start()
                report.events.append("db cut 5 s")
                continue
            else:
                continue
            try:
                wait_until(
                    lambda before=epoch_before: max(lease.holders, default=0) > before, 60, what="a takeover"
                )
                report.takeovers.append(lease.began[max(lease.holders)] - t0)
            except AssertionError:
                report.events.append("no takeover!")
        time.sleep(max(0.0, started + total - time.monotonic()))
        ended_at = time.monotonic()
        api.stopping.set()
        for proc in schedulers:
            if proc.alive:
                proc.terminate(timeout=30)
        # One scheduler alone recovers what the others left.
        alone = procs.start("recover", "scheduler", env=env)
        # (stuck runs are counted while it still runs: its own last claims, at its stop, are the
        # next scheduler's to recover)
        time.sleep(LEASE_SECONDS * 3 + 12)
        _count_stuck(engine, report)
        alone.terminate(timeout=30)
        lease.stopping.set()
        _count(engine, report, lease, seconds=ended_at - started)
        report.server_errors = sum(1 for s in api.statuses if s >= 500 and s != 503)
        report.api_answers = len(api.statuses)
    finally:
        procs.close()
        proxy.stop()
        engine.dispose()
        if keep:
            print(f"(the database is kept: {direct_url})")
        else:
            _drop(admin_url, name)
        if log:
            print(f"(logs of the processes in {tmp / 'logs'})")
    return report


def _make_jobs(env: dict[str, str], jobs: int) -> None:
    from whalefall.domain.jobspec import JobCreate
    from whalefall.runtime import Runtime
    from whalefall.services import jobs as job_service
    from whalefall.services.audit import Actor

    os.environ.update({k: v for k, v in env.items() if k.startswith("WHALEFALL_")})
    runtime = Runtime.from_env()
    try:
        for i in range(jobs):
            job_service.create(
                runtime,
                JobCreate(
                    id=f"beat-{i:04d}",
                    name=f"beat {i}",
                    function="heartbeat",
                    trigger_type="interval",
                    interval_seconds=1,
                ),
                Actor.system(),
            )
    finally:
        runtime.close()
        for k in list(os.environ):
            if k.startswith("WHALEFALL_"):
                del os.environ[k]


def _plan(total: float, kills: int) -> list[tuple[float, str]]:
    """Evenly spread: kills, one stall and one database cut, none in the first or last 10 s."""
    order = ["kill"] * (kills // 2) + ["stall"] + ["kill"] * (kills - kills // 2) + ["cut"]
    span = max(total - 20, 1)
    return [(10 + span * (i + 0.5) / len(order), action) for i, action in enumerate(order)]


def _count_stuck(engine: sa.Engine, report: Report) -> None:
    """Runs still owned and unfinished once a scheduler had time to recover (older than 10 s)."""
    with engine.connect() as conn:
        # Queued runs nobody owns wait for whichever scheduler runs next: only owned ones are stuck.
        stuck = conn.execute(
            sa.text(
                "SELECT status, node, trigger_source, created_at, started_at FROM runs "
                "WHERE (status = 'running' OR (status = 'queued' AND node IS NOT NULL)) "
                "AND created_at < (now() AT TIME ZONE 'UTC') - interval '10 seconds' ORDER BY id"
            )
        ).all()
        report.stuck = len(stuck)
        report.stuck_detail = [" ".join(str(v) for v in row) for row in stuck[:5]]


def _count(engine: sa.Engine, report: Report, lease: LeaseWatch, *, seconds: float) -> None:
    with engine.connect() as conn:
        report.duplicates = conn.execute(
            sa.text(
                "SELECT count(*) FROM (SELECT job_id, scheduled_time FROM runs WHERE scheduled_time IS NOT NULL "
                "GROUP BY job_id, scheduled_time HAVING count(*) > 1) d"
            )
        ).scalar_one()
        # A claim under epoch e must have been made before epoch e+1 began (the watch polls every
        # 0.05 s: allow that much); a run's node may differ from its claimer when a dead node's
        # queued run was freed and taken by the next leader, so the claim's time is what is checked.
        for epoch, created in conn.execute(
            sa.text("SELECT epoch, created_at FROM runs WHERE epoch IS NOT NULL")
        ):
            successor = lease.began_wall.get(epoch + 1)
            if epoch not in lease.began_wall:
                report.unverified += 1
            elif successor is not None and created.replace(tzinfo=UTC).timestamp() > successor + 0.1:
                report.unfenced += 1
        starts = dict(conn.execute(sa.text("SELECT id, created_at FROM jobs WHERE id LIKE 'beat-%'")).all())
        covered: dict[str, set] = {}
        for job_id, scheduled, folded, folded_from in conn.execute(
            sa.text(
                "SELECT job_id, scheduled_time, coalesced, coalesced_from FROM runs WHERE scheduled_time IS NOT NULL"
            )
        ):
            # A run accounts for its own time and the `coalesced` times (a second apart) it absorbed.
            have = covered.setdefault(job_id, set())
            have.add(scheduled.replace(microsecond=0))
            for k in range(folded or 0):
                have.add((folded_from + timedelta(seconds=k)).replace(microsecond=0))
        # Every whole second of each job's schedule, from 20 s after the start to 15 s before the end
        # of the chaos (the schedulers are stopped after it).
        begin = max(starts.values()).replace(microsecond=0) + timedelta(seconds=20)
        end = min(starts.values()).replace(microsecond=0) + timedelta(seconds=max(seconds - 15, 0))
        for job_id in starts:
            have = covered.get(job_id, set())
            t = begin
            while t <= end:
                report.expected_fires += 1
                if t not in have:
                    report.unaccounted += 1
                t += timedelta(seconds=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2)
    parser.add_argument("--jobs", type=int, default=150)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "WHALEFALL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--keep", action="store_true", help="keep the database to look into")
    args = parser.parse_args()
    report = run(args.minutes, args.jobs, args.kills, args.postgres, keep=args.keep)
    print("\n".join(report.lines()))
    sys.exit(0 if report.ok() else 1)


if __name__ == "__main__":
    main()
