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


def is_driver_error(exc: BaseException) -> bool:
    """Raised by a database driver (or the network under it), not by our own code."""
    return type(exc).__module__.split(".")[0] in DRIVER_PACKAGES or isinstance(exc, (OSError, TimeoutError))


def parse_sizes(rows: Iterable[Sequence[Any]]) -> list[DatabaseSize]:
    """``(name, bytes)`` rows as sizes; a NULL size (nothing allocated yet) is 0."""
    return [
        DatabaseSize(name.decode() if isinstance(name, bytes) else str(name), int(size or 0))
        for name, size in rows
    ]


def sorted_unique(values: Iterable[str]) -> list[str]:
    return sorted(set(values))
