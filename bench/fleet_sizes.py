"""collect_database_sizes over 200 databases on the local servers: one instance at a time versus the pool.

Usage: .venv/bin/python bench/fleet_sizes.py [--instances 20] [--databases 10] [--rounds 3] [--workers 8]
                                              [--latency-ms 0 20]

Creates, on the local MariaDB and PostgreSQL, one login per instance and that
many databases each (each with a small table), so that every registered
instance sees only its own databases — 10 + 10 instances × 10 databases = 200
by default. Registers them in a fresh SQLite product database, runs the real
task with ``fleet_max_connections`` = 1 and then = ``--workers``, alternating,
and prints the median wall time of each and the speed-up. Drops everything
it created, even when interrupted.

On loopback every instance costs CPU only, on both sides of a 2-core machine,
so the pool has little to overlap. ``--latency-ms`` repeats the measurement
through a local TCP relay that holds each chunk for half that time in each
direction — a stand-in for servers across a network, where a fleet task
mostly waits and the pool pays off.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
import pymysql
from sqlalchemy import func, select

from whalefall.domain.instancespec import InstanceCreate, InstancePatch
from whalefall.migrate import upgrade
from whalefall.models.fleet import DatabaseSize
from whalefall.runtime import Runtime
from whalefall.services import instances
from whalefall.services.audit import Actor
from whalefall.tasks import collect_database_sizes
from whalefall.tasks.registry import TaskContext

MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
PASSWORD = "Bench-pw-1"


class DelayingRelay:
    """A TCP relay on 127.0.0.1 that adds ``latency`` seconds to every round trip to ``port``."""

    def __init__(self, port: int, latency: float):
        self.target, self.half = port, latency / 2
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), daemon=True).start()
        ready.wait()

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _pipe(self, reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                await asyncio.sleep(self.half)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _client(self, reader, writer) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)


def maria():
    return pymysql.connect(**MARIADB, autocommit=True)


def pg(dbname: str = "postgres"):
    return psycopg.connect(**POSTGRES, dbname=dbname, autocommit=True)


def setup(prefix: str, per_server: int, per_instance: int) -> list[dict]:
    """Logins and databases on both servers; returns the instances to register."""
    made = []
    with maria() as conn, conn.cursor() as cur:
        for i in range(per_server):
            user = f"{prefix}_m{i}"
            cur.execute(f"CREATE USER `{user}`@'%' IDENTIFIED BY '{PASSWORD}'")
            for d in range(per_instance):
                db = f"{user}_d{d}"
                cur.execute(f"CREATE DATABASE `{db}`")
                cur.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, pad VARCHAR(200))")
                cur.execute(f"USE `{db}`")
                cur.execute(f"INSERT INTO `{db}`.t SELECT seq, REPEAT('x', 200) FROM seq_1_to_{50 * (d + 1)}")
                cur.execute(f"GRANT SELECT ON `{db}`.* TO `{user}`@'%'")
            made.append(
                {"name": user, "db_type": "mysql", "host": "127.0.0.1", "port": 3306, "username": user}
            )
    with pg() as conn:
        for i in range(per_server):
            user = f"{prefix}_p{i}"
            conn.execute(f"CREATE ROLE \"{user}\" LOGIN PASSWORD '{PASSWORD}'")
            for d in range(per_instance):
                db = f"{user}_d{d}"
                conn.execute(f'CREATE DATABASE "{db}"')
                conn.execute(f'REVOKE CONNECT ON DATABASE "{db}" FROM PUBLIC')
                conn.execute(f'GRANT CONNECT ON DATABASE "{db}" TO "{user}"')
            made.append(
                {
                    "name": user,
                    "db_type": "postgresql",
                    "host": "127.0.0.1",
                    "port": 5432,
                    "username": user,
                    "database": f"{user}_d0",
                }
            )
    return made


def cleanup(prefix: str) -> None:
    with maria() as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES LIKE %s", (prefix + "%",))
        for (db,) in cur.fetchall():
            cur.execute(f"DROP DATABASE `{db}`")
        cur.execute("SELECT User, Host FROM mysql.user WHERE User LIKE %s", (prefix + "%",))
        for user, host in cur.fetchall():
            cur.execute(f"DROP USER `{user}`@`{host}`")
    with pg() as conn:
        for (db,) in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",)
        ).fetchall():
            conn.execute(f'DROP DATABASE "{db}" WITH (FORCE)')
        for (role,) in conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (prefix + "%",)
        ).fetchall():
            conn.execute(f'DROP ROLE "{role}"')


def collect(runtime: Runtime, workers: int, prefix: str) -> tuple[float, int]:
    runtime.settings.fleet_max_connections = workers
    ctx = TaskContext(
        runtime=runtime,
        run_id=0,
        job_id="bench",
        scheduled_time=None,
        attempt=1,
        logger=logging.getLogger("bench"),
    )
    started = time.perf_counter()
    summary = collect_database_sizes.run(ctx)
    elapsed = time.perf_counter() - started
    with runtime.db.read() as session:
        count = session.scalar(
            select(func.count())
            .select_from(DatabaseSize)
            .where(DatabaseSize.database_name.like(prefix + "%"))
        )
    if "失败 0 个" not in summary:
        raise SystemExit(f"collection failed: {summary}")
    return elapsed, count


def measure(runtime: Runtime, prefix: str, rounds: int, workers: int) -> tuple[float, float, int]:
    times: dict[str, list[float]] = {"serial": [], "pool": []}
    count = 0
    for _ in range(rounds):
        for label, n in (("serial", 1), ("pool", workers)):
            elapsed, count = collect(runtime, n, prefix)
            times[label].append(elapsed)
    return statistics.median(times["serial"]), statistics.median(times["pool"]), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=20, help="instances, half on each server")
    parser.add_argument("--databases", type=int, default=10, help="databases per instance")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument(
        "--latency-ms",
        type=float,
        nargs="*",
        default=[0.0, 20.0],
        help="round-trip latencies to measure at (0: straight to the servers)",
    )
    args = parser.parse_args()
    prefix = f"wfb_{uuid.uuid4().hex[:6]}"
    per_server = args.instances // 2
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime.from_env(
            {"data_dir": Path(tmp), "secret_key": "bench", "timezone": "Asia/Shanghai"}
        )
        upgrade(runtime.db.engine)
        relays: list[DelayingRelay] = []
        try:
            t0 = time.perf_counter()
            made = setup(prefix, per_server, args.databases)
            ids = [
                instances.create(runtime, InstanceCreate(password=PASSWORD, **f), Actor.system()).id
                for f in made
            ]
            print(
                f"set up {len(made)} instances × {args.databases} databases = {len(made) * args.databases} "
                f"databases in {time.perf_counter() - t0:.1f} s (MariaDB and PostgreSQL on 127.0.0.1, "
                f"{os.cpu_count()} cores); median of {args.rounds} runs each, alternating"
            )
            for latency in args.latency_ms:
                ports = {3306: 3306, 5432: 5432}
                if latency:
                    relays = [DelayingRelay(port, latency / 1000) for port in ports]
                    ports = {r.target: r.port for r in relays}
                for iid, fields in zip(ids, made, strict=True):
                    instances.update(runtime, iid, InstancePatch(port=ports[fields["port"]]), Actor.system())
                serial, pool, count = measure(runtime, prefix, args.rounds, args.workers)
                where = f"+{latency:g} ms per round trip" if latency else "loopback"
                print(
                    f"{where:>24}: {count} databases  serial {serial:6.2f} s   pool of {args.workers} "
                    f"{pool:6.2f} s   speed-up {serial / pool:4.1f}x   (load average {os.getloadavg()[0]:.2f})"
                )
                for relay in relays:
                    relay.close()
                relays = []
        finally:
            for relay in relays:
                relay.close()
            runtime.close()
            cleanup(prefix)


if __name__ == "__main__":
    main()
