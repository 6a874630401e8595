"""What the fleet tests share: the servers on this machine as fleet instances, and a task context.

The live tests create their own databases, users and roles under a unique
prefix per test, register the server as an instance, and drop everything
with that prefix afterwards.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from tests.conftest import SERVER_URLS, unavailable
from whalefall.domain.instancespec import InstanceCreate
from whalefall.services import instances
from whalefall.services.audit import Actor
from whalefall.tasks.registry import TaskContext

ADMIN = Actor("admin", "admin")
MARIADB = sa.engine.make_url(os.environ.get("WHALEFALL_TEST_MARIADB_URL", SERVER_URLS["mariadb"]))
POSTGRES = sa.engine.make_url(os.environ.get("WHALEFALL_TEST_POSTGRES_URL", SERVER_URLS["postgresql"]))


def context(rt, job_id: str = "fleet", cancel=lambda: False, scheduled_time=None) -> TaskContext:
    return TaskContext(
        runtime=rt,
        run_id=0,
        job_id=job_id,
        scheduled_time=scheduled_time,
        attempt=1,
        logger=logging.getLogger(f"whalefall.test.{job_id}"),
        cancel_requested=cancel,
    )


def register(rt, name: str, db_type: str, url: sa.URL, **overrides) -> int:
    fields = {
        "name": name,
        "db_type": db_type,
        "host": url.host or "127.0.0.1",
        "port": url.port,
        "username": url.username,
        "password": url.password or "",
        **overrides,
    }
    return instances.create(rt, InstanceCreate(**fields), ADMIN).id


@dataclass
class Server:
    """A live server with a unique prefix for what a test creates on it."""

    kind: str
    url: sa.URL
    prefix: str
    engine: sa.Engine

    def run(self, *statements: str) -> None:
        for statement in statements:
            self.rows(statement)

    def scoped(self) -> sa.URL:
        """A login that sees only this test's databases (``<prefix>_*``), so what other tests
        create on the shared server meanwhile does not change its totals."""
        user, password = f"{self.prefix}_scoped", "scoped-pw-1"
        self.run(
            f"CREATE USER `{user}`@'%' IDENTIFIED BY '{password}'",
            f"GRANT SELECT, SHOW VIEW ON `{self.prefix}\\_%`.* TO `{user}`@'%'",
            f"GRANT PROCESS ON *.* TO `{user}`@'%'",
        )
        return self.url.set(username=user, password=password, database=None)

    def on(self, database: str) -> Server:
        """The same server, connected to ``database``."""
        url = self.url.set(database=database)
        return Server(self.kind, url, self.prefix, sa.create_engine(url, poolclass=sa.pool.NullPool))

    def rows(self, statement: str) -> list[tuple]:
        """Run one statement as it is (no parameter markers) on the driver's own connection."""
        raw = self.engine.raw_connection()
        try:
            if self.kind == "postgresql":  # CREATE DATABASE refuses to run inside a transaction
                raw.driver_connection.autocommit = True
            else:
                raw.driver_connection.autocommit(True)
            cur = raw.cursor()
            cur.execute(statement)
            rows = list(cur.fetchall()) if cur.description else []
            cur.close()
            return rows
        finally:
            raw.close()


def _server(kind: str, url: sa.URL) -> Iterator[Server]:
    prefix = f"wft_{uuid.uuid4().hex[:6]}"
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3}, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as exc:
        engine.dispose()
        unavailable(f"{kind} is not reachable at {url.render_as_string()}: {exc.orig}")
    server = Server(kind, url, prefix, engine)
    try:
        yield server
    finally:
        _clean(server)
        engine.dispose()


def _clean(server: Server) -> None:
    like = server.prefix + "%"
    if server.kind == "mariadb":
        for (name,) in server.rows(f"SHOW DATABASES LIKE '{like}'"):
            server.run(f"DROP DATABASE `{name}`")
        for user, host, is_role in server.rows(
            f"SELECT User, Host, is_role FROM mysql.user WHERE User LIKE '{like}'"
        ):
            server.run(f"DROP ROLE `{user}`" if is_role == "Y" else f"DROP USER `{user}`@`{host}`")
    else:
        for (name,) in server.rows(f"SELECT datname FROM pg_database WHERE datname LIKE '{like}'"):
            server.run(f'DROP DATABASE "{name}" WITH (FORCE)')
        roles = [r[0] for r in server.rows(f"SELECT rolname FROM pg_roles WHERE rolname LIKE '{like}'")]
        for role in roles:
            server.run(f'DROP OWNED BY "{role}"')
        for role in roles:
            server.run(f'DROP ROLE "{role}"')


# Imported by name into the test modules; used as ``mariadb`` and ``postgres``.
@pytest.fixture(name="mariadb")
def mariadb_server() -> Iterator[Server]:
    yield from _server("mariadb", MARIADB)


@pytest.fixture(name="postgres")
def postgres_server() -> Iterator[Server]:
    yield from _server("postgresql", POSTGRES)


@contextmanager
def mariadb_database(name: str, *statements: str) -> Iterator[sa.URL]:
    """The local MariaDB with a database ``name`` of a test's own (made by ``statements``, run
    after it is created), dropped afterwards; skips the test when the server is not there."""
    url = sa.engine.make_url(SERVER_URLS["mariadb"])
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
            for statement in statements:
                conn.exec_driver_sql(statement)
    except Exception as exc:  # noqa: BLE001  (any failure means: no server to point at)
        unavailable(f"MariaDB is not reachable at {url.host}:{url.port}: {exc}")
    try:
        yield url
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        engine.dispose()
