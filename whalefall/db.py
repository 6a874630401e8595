"""The product's database: one engine, one session factory, short transactions.

Every table is ours (the scheduler's job store included), on SQLite by
default and on PostgreSQL or MySQL/MariaDB for several machines.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict = {"pool_pre_ping": True, "future": True}
    if backend == "sqlite":
        kwargs["pool_pre_ping"] = False  # an embedded file: no server to have dropped the connection
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    elif backend == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": 10}
        kwargs["pool_size"] = 10
    elif backend in ("mysql", "mariadb"):
        kwargs["connect_args"] = {"connect_timeout": 10, "charset": "utf8mb4"}
        kwargs["pool_recycle"] = 3600
        kwargs["pool_size"] = 10
    engine = create_engine(parsed, **kwargs)
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the web process read while the scheduler writes; busy_timeout
    # waits for a lock instead of failing at once.
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class Database:
    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, future=True)
        # SQLite has one writer. Threads of this process queue for it here, where a release wakes
        # the next at once, rather than in SQLite's busy handler, which sleeps in growing steps
        # (up to 100 ms) between tries: under load that sleeping, not the writing, was the cost.
        self._writer = threading.RLock() if self.backend == "sqlite" else None

    @property
    def backend(self) -> str:
        return self.engine.url.get_backend_name()

    @contextmanager
    def begin(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        if self._writer is None:
            with self.sessions() as session, session.begin():
                yield session
            return
        with self._writer, self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.sessions() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
