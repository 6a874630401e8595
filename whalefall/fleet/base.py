"""The adapter interface every engine implements, and what adapters return.

An adapter is opened on a :class:`Target` (where to connect, with which
timeouts) and used as a context manager; it reads and never writes. Every
timeout is the driver's own (connect, read or call timeout), plus a
server-side statement limit where the engine has one — never a signal, so
adapters are safe in worker threads.

Each engine module keeps its SQL next to a pure ``parse_*``/``build_*``
function that turns result rows into :class:`Account` and
:class:`DatabaseSize` objects; those are tested on recorded rows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

from whalefall.fleet.errors import FleetUnreachable

SCRUBBED = "******"
DRIVER_PACKAGES = frozenset({"pymysql", "psycopg", "pymssql", "_mssql", "oracledb"})


@dataclass(frozen=True)
class Target:
    db_type: str
    host: str
    port: int
    database: str
    username: str
    password: str = field(repr=False)
    connect_timeout: int = 10
    statement_timeout: int = 300

    def scrub(self, text: str) -> str:
        """``text`` without the password, for messages that leave the adapter."""
        if self.password and len(self.password) >= 4:
            return text.replace(self.password, SCRUBBED)
        return text


@dataclass
class Account:
    key: str  # unique on the instance: 'user'@'host', a role name, …
    username: str
    host: str = ""
    kind: str = "user"  # user, role, login, database_user
    is_superuser: bool = False
    is_locked: bool = False
    can_login: bool = True
    attributes: dict[str, Any] = field(default_factory=dict)
    privileges: dict[str, Any] = field(default_factory=dict)
    roles: list[str] = field(default_factory=list)
    system: bool = False  # shipped with the engine (mysql.sys, pg_*, ##MS_…##, Oracle-maintained)


@dataclass(frozen=True)
class DatabaseSize:
    name: str
    size_bytes: int | None  # None: the database exists but this login may not measure it
    # The split the engine reports (MySQL: its table statistics; None where it reports none).
    data_bytes: int | None = None
    index_bytes: int | None = None
    free_bytes: int | None = None


@dataclass(frozen=True)
class TableSize:
    """One table of a database: the space it takes (``total_bytes``), as the engine splits it."""

    database: str
    name: str
    total_bytes: int
    data_bytes: int | None = None
    index_bytes: int | None = None
    rows: int | None = None  # the engine's estimate (MySQL TABLE_ROWS, PostgreSQL reltuples)
    engine: str | None = None


@dataclass(frozen=True)
class Facts:
    """What a server says about itself: version, time since start, replication role and lag."""

    version: str
    uptime_seconds: int | None = None
    role: str | None = None  # "primary", "replica", or None when the login may not see it
    replica_lag_seconds: float | None = None  # a replica's delay, where the engine reports it

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "uptime_seconds": self.uptime_seconds,
            "role": self.role,
            "replica_lag_seconds": self.replica_lag_seconds,
        }


@dataclass
class Capacity:
    """Database sizes and, per database, its largest tables."""

    databases: list[DatabaseSize]
    tables: list[TableSize] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the collection could not measure, in words


class Adapter(ABC):
    db_type: ClassVar[str]
    default_port: ClassVar[int]
    default_database: ClassVar[str] = ""
    # Databases (or tablespaces) left out of capacity unless asked for.
    system_databases: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, target: Target):
        self.target = target
        self.conn: Any = None

    # -- connection -------------------------------------------------------------

    @abstractmethod
    def connect(self) -> Any:
        """A DB-API connection with the target's timeouts; raises the driver's error."""

    def describe_error(self, exc: BaseException) -> str:
        """The driver's error in words (no tuple reprs, no bytes)."""
        args = exc.args
        if len(args) >= 2 and isinstance(args[0], int):
            message = args[1].decode("utf-8", "replace") if isinstance(args[1], bytes) else str(args[1])
            return f"error {args[0]}: {message}"
        text = str(exc).strip() or exc.__class__.__name__
        return " ".join(text.split())

    def __enter__(self) -> Adapter:
        try:
            self.conn = self.connect()
        except Exception as exc:  # noqa: BLE001 - every driver has its own hierarchy: say what it said
            raise self.unreachable(exc) from None
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail; nothing to do
                pass
            self.conn = None
        if exc is not None and is_driver_error(exc):
            # A driver's error while reading: say it in words, without the password.
            raise self.unreachable(exc) from None

    def unreachable(self, exc: BaseException) -> FleetUnreachable:
        t = self.target
        where = f"{t.db_type} {t.host}:{t.port}"
        return FleetUnreachable(t.scrub(f"{where}: {self.describe_error(exc)}"))

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        cur = self.conn.cursor()
        try:
            cur.execute(sql, params) if params is not None else cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()

    def dict_rows(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        cur = self.conn.cursor()
        try:
            cur.execute(sql, params) if params is not None else cur.execute(sql)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        finally:
            cur.close()

    # -- reading ----------------------------------------------------------------

    @abstractmethod
    def version(self) -> str:
        """The server's product and version, e.g. ``MariaDB 10.11.6``."""

    @abstractmethod
    def accounts(self) -> list[Account]:
        """Every account with its flags, attributes, privileges and roles (system ones marked)."""

    @abstractmethod
    def database_sizes(self) -> list[DatabaseSize]:
        """Each database's size in bytes, system databases included (the caller filters)."""

    def capacity(self, top_tables: int) -> Capacity:
        """Database sizes and the ``top_tables`` largest tables of each database (engines that
        cannot list tables from one connection give none)."""
        return Capacity(self.database_sizes())

    def facts(self) -> Facts:
        """Version, uptime and replication role; a fact this login may not read is None."""
        return Facts(self.version())


def is_driver_error(exc: BaseException) -> bool:
    """Raised by a database driver (or the network under it), not by our own code."""
    return type(exc).__module__.split(".")[0] in DRIVER_PACKAGES or isinstance(exc, (OSError, TimeoutError))


def parse_sizes(rows: Iterable[Sequence[Any]]) -> list[DatabaseSize]:
    """``(name, bytes[, data, index, free])`` rows as sizes; a NULL size (nothing allocated yet) is 0,
    a NULL or missing part unknown."""

    def part(row: Sequence[Any], i: int) -> int | None:
        return None if len(row) <= i or row[i] is None else int(row[i])

    return [
        DatabaseSize(
            row[0].decode() if isinstance(row[0], bytes) else str(row[0]),
            int(row[1] or 0),
            part(row, 2),
            part(row, 3),
            part(row, 4),
        )
        for row in rows
    ]


def seconds(value: Any) -> float | None:
    """A lag or an uptime as seconds: numbers as they are, ``timedelta`` in seconds, Oracle's
    interval text ``+00 00:00:05`` (days hours:minutes:seconds) parsed; None when unknown."""
    if value is None or value == "":
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float | Decimal):
        return float(value)
    text = str(value).strip()
    sign = -1.0 if text.startswith("-") else 1.0
    days, _, clock_part = text.lstrip("+-").partition(" ")
    if not clock_part:
        days, clock_part = "0", days
    try:
        h, m, s = clock_part.split(":")
        return sign * (int(days) * 86400 + int(h) * 3600 + int(m) * 60 + float(s))
    except ValueError:
        return None


def sorted_unique(values: Iterable[str]) -> list[str]:
    return sorted(set(values))
