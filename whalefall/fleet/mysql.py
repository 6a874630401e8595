"""MySQL and MariaDB through PyMySQL.

Accounts are ``'user'@'host'`` (and MariaDB roles), with privileges parsed
from ``SHOW GRANTS`` — the server's own account of what each one may do —
and flags from ``mysql.user`` and ``SHOW CREATE USER``.

Sizes are the space on disk: an InnoDB table in its own tablespace counts
its file (``ALLOCATED_SIZE``, else ``FILE_SIZE``, of
``information_schema.INNODB_TABLESPACES`` on MySQL 8 or
``INNODB_SYS_TABLESPACES`` on MariaDB and MySQL 5.7), which grows as rows are
written — ``DATA_LENGTH`` of an InnoDB table is a statistic that lags until
the table is analysed. Every other table (MyISAM, Aria, an InnoDB table in the
system or a general tablespace) counts ``DATA_LENGTH + INDEX_LENGTH``. Those
views need the ``PROCESS`` privilege; without it every table counts its
statistics, and the collection says so.
"""

from __future__ import annotations

import re
import ssl
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from whalefall.fleet.base import Account, Adapter, Capacity, DatabaseSize, Facts, TableSize, sorted_unique

SYSTEM_USERS = frozenset({"mariadb.sys", "mysql.sys", "mysql.session", "mysql.infoschema"})
# Errors SHOW GRANTS / SHOW CREATE USER give for an account that no longer exists: no such grant
# (1141), no matching row in the user table (1133), the operation failed for it (1396).
DROPPED_MEANWHILE = frozenset({1133, 1141, 1396})
# Columns of mysql.user worth keeping as attributes (never the password hash).
ATTRIBUTE_COLUMNS = (
    "plugin",
    "max_connections",
    "max_user_connections",
    "max_questions",
    "max_updates",
    "ssl_type",
    "default_role",
    "max_statement_time",
    "password_lifetime",
)
SUPER_PRIVILEGES = frozenset({"ALL PRIVILEGES", "SUPER"})
# Plugins that check a password: with an empty hash, anyone who knows the name gets in.
# (unix_socket, gssapi, pam … ask something else; an empty string there is normal.)
PASSWORD_PLUGINS = frozenset(
    {"", "mysql_native_password", "caching_sha2_password", "sha256_password", "mysql_old_password"}
)


def password_empty(row: dict[str, Any]) -> bool:
    """Whether a ``mysql.user`` row (column names in lower case) has a password plugin and no password."""
    plugin = _plain(row.get("plugin") or "")
    secret = row.get("authentication_string") or row.get("password") or ""
    return str(plugin) in PASSWORD_PLUGINS and not _plain(secret)


# --- SHOW GRANTS, parsed ------------------------------------------------------------------


def _top_level(text: str) -> list[bool]:
    """For each character of ``text``: is it outside backquotes, quotes and parentheses?"""
    flags, depth, quote, i = [False] * len(text), 0, "", 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                if i + 1 < len(text) and text[i + 1] == quote:  # a doubled quote inside a name
                    i += 2
                    continue
                quote = ""
        elif ch in "`'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        else:
            flags[i] = depth == 0
        i += 1
    return flags


def find_top(text: str, sep: str, start: int = 0) -> int:
    """The index of ``sep`` in ``text`` outside quotes and parentheses, or -1."""
    flags = _top_level(text)
    i = text.find(sep, start)
    while i >= 0 and not all(flags[i : i + len(sep)]):
        i = text.find(sep, i + 1)
    return i


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split ``text`` on ``sep`` outside backquotes, quotes and parentheses."""
    parts, start = [], 0
    while (i := find_top(text, sep, start)) >= 0:
        parts.append(text[start:i].strip())
        start = i + len(sep)
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def unquote(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "`'\"":
        q = name[0]
        return name[1:-1].replace(q + q, q)
    return name


def account_name(text: str) -> str:
    """```r`@`%``` → ``r@%``; ```r``` → ``r``."""
    parts = split_top(text, "@")
    return "@".join(unquote(p) for p in parts)


def _object(text: str) -> tuple[str, str]:
    """The scope and name of a grant's object: ``*.*`` → (global, ""), ```db`.*`` → (databases, db), …"""
    kind = ""
    for prefix in ("PROCEDURE ", "FUNCTION ", "PACKAGE BODY ", "PACKAGE ", "TABLE "):
        if text.upper().startswith(prefix):
            kind, text = prefix.strip().upper(), text[len(prefix) :]
            break
    parts = split_top(text, ".")
    db = unquote(parts[0]) if parts else ""
    obj = unquote(parts[1]) if len(parts) > 1 else "*"
    if kind in ("PROCEDURE", "FUNCTION", "PACKAGE", "PACKAGE BODY"):
        return "routines", f"{kind} {db}.{obj}"
    if db == "*" and obj == "*":
        return "global", ""
    if obj == "*":
        return "databases", db
    return "tables", f"{db}.{obj}"


def _privilege_names(text: str) -> list[str]:
    names = []
    for item in split_top(text):
        item = " ".join(item.split())
        names.append("ALL PRIVILEGES" if item.upper() in ("ALL", "ALL PRIVILEGES") else item)
    return names


def parse_grants(lines: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Privileges and roles from ``SHOW GRANTS`` lines.

    Privileges: ``{"global": [...], "databases": {db: [...]}, "tables": {"db.t": [...]},
    "routines": {...}, "proxy": [...], "revoked": {db: [...]}}`` (empty scopes left out);
    ``WITH GRANT OPTION`` adds ``GRANT OPTION`` to that scope. Roles: the names granted.
    """
    privileges: dict[str, Any] = {}
    roles: list[str] = []
    for raw in lines:
        line = " ".join(raw.strip().rstrip(";").split())
        upper = line.upper()
        if upper.startswith("REVOKE "):
            on = find_top(line, " ON ")
            frm = find_top(line, " FROM ")
            if on < 0 or frm < 0:
                continue
            _scope, name = _object(line[on + 4 : frm].strip())
            privileges.setdefault("revoked", {}).setdefault(name or "*", []).extend(
                _privilege_names(line[7:on])
            )
            continue
        if not upper.startswith("GRANT "):
            continue  # SET DEFAULT ROLE …: the default role is an attribute
        body = line[6:]
        to = find_top(body, " TO ")
        if to < 0:
            continue
        on = find_top(body[:to], " ON ")
        if on < 0:  # GRANT role[, role] TO user
            roles.extend(account_name(r) for r in split_top(body[:to]))
            continue
        names = _privilege_names(body[:on])
        target = body[on + 4 : to].strip()
        if names == ["PROXY"]:
            privileges.setdefault("proxy", []).append(account_name(target))
            continue
        if "WITH GRANT OPTION" in body[to:].upper():
            names.append("GRANT OPTION")
        scope, name = _object(target)
        if scope == "global":
            privileges.setdefault("global", []).extend(names)
        else:
            privileges.setdefault(scope, {}).setdefault(name, []).extend(names)
    for scope, value in list(privileges.items()):
        if isinstance(value, list):
            privileges[scope] = sorted_unique(value)
        else:
            privileges[scope] = {k: sorted_unique(v) for k, v in sorted(value.items())}
    # USAGE means "no privileges": it only clutters the list and every diff.
    global_privileges = [p for p in privileges.pop("global", []) if p != "USAGE"]
    if global_privileges:
        privileges = {"global": global_privileges, **privileges}
    return privileges, sorted_unique(roles)


def build_account(
    user: str,
    host: str,
    grants: list[str],
    *,
    is_role: bool = False,
    create_user: str | None = None,
    columns: dict[str, Any] | None = None,
) -> Account:
    """One account from its ``mysql.user`` row, ``SHOW GRANTS`` and ``SHOW CREATE USER``."""
    columns = {k.lower(): v for k, v in (columns or {}).items()}
    privileges, roles = parse_grants(grants)
    create = (create_user or "").upper()
    locked = " ACCOUNT LOCK" in create or str(columns.get("account_locked", "")).upper() == "Y"
    expired = (
        "PASSWORD EXPIRE" in create
        and "PASSWORD EXPIRE INTERVAL" not in create
        and "PASSWORD EXPIRE NEVER" not in create
        and "PASSWORD EXPIRE DEFAULT" not in create
    )
    if str(columns.get("password_expired", "")).upper() == "Y":
        expired = True
    attributes = {
        name: _plain(columns[name])
        for name in ATTRIBUTE_COLUMNS
        if name in columns and columns[name] not in (None, "")
    }
    attributes["password_expired"] = expired
    if (
        columns.get("password_empty") and not is_role
    ):  # only when true: the accounts stored before it was read stay unchanged
        attributes["password_empty"] = True
    key = user if is_role else f"'{user}'@'{host}'"
    return Account(
        key=key,
        username=user,
        host="" if is_role else host,
        kind="role" if is_role else "user",
        is_superuser=bool(SUPER_PRIVILEGES & set(privileges.get("global", []))),
        is_locked=locked,
        can_login=not is_role and not locked,
        attributes=attributes,
        privileges=privileges,
        roles=roles,
        system=user in SYSTEM_USERS,
    )


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (int, float, str, bool)):
        return value
    return str(value)


_tls_lock = threading.Lock()
_tls_context: ssl.SSLContext | None = None


def _preferred_tls() -> ssl.SSLContext:
    """One client context for opportunistic TLS, as PyMySQL's "preferred" mode builds it: no verification."""
    global _tls_context
    with _tls_lock:
        if _tls_context is None:
            ctx = ssl.create_default_context()
            ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            _tls_context = ctx
        return _tls_context


class RefuseCleartext:
    """PyMySQL's handler for the plugins that would send the password as it is typed: refuse.

    PyMySQL answers ``mysql_clear_password`` and ``dialog`` (PAM's "Password: " prompt) with the
    bare password when a server asks for them, over TLS or not; the fleet never does. The
    other methods send a hash (``mysql_native_password``, ``client_ed25519``, the
    ``caching_sha2_password`` fast path) or an RSA-encrypted password, or send it inside TLS
    (``sha256_password``/``caching_sha2_password`` full authentication).
    """

    PLUGINS = ("mysql_clear_password", "dialog")

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def authenticate(self, packet: Any) -> Any:
        import pymysql

        raise pymysql.err.OperationalError(
            2059,  # CR_AUTH_PLUGIN_CANNOT_LOAD
            "the server asked for the password in clear text (mysql_clear_password or dialog); "
            "refused, nothing was sent",
        )


class MySQLAdapter(Adapter):
    db_type = "mysql"
    default_port = 3306
    default_database = ""
    system_databases = frozenset({"information_schema", "performance_schema", "sys", "mysql"})

    def connect(self) -> Any:
        import pymysql

        t = self.target
        # PyMySQL's connect_timeout covers only the TCP connect; the greeting and the
        # authentication are reads. Bound them by the connect timeout as well, then
        # let statements have the statement timeout (PyMySQL reads _read_timeout
        # before every read).
        conn = pymysql.connect(
            host=t.host,
            port=t.port,
            user=t.username,
            password=t.password,
            database=t.database or None,
            connect_timeout=t.connect_timeout,
            read_timeout=t.connect_timeout,
            write_timeout=t.connect_timeout,
            charset="utf8mb4",
            autocommit=True,
            ssl_disabled=True,
            defer_connect=True,
            auth_plugin_map=dict.fromkeys(RefuseCleartext.PLUGINS, RefuseCleartext),
        )
        if hasattr(conn, "_ssl_required"):
            # PyMySQL 1.2 prefers TLS (unverified) and builds a new SSL context per
            # connection — ~50 ms of CPU loading CA certificates, under the GIL, which
            # serialised the fleet pool. Same mode, one shared context.
            # (ctx and the read/write timeouts are PyMySQL internals its stubs leave out.)
            conn.ssl, conn._ssl_required, conn.ctx = True, False, _preferred_tls()  # type: ignore[attr-defined]
        conn.connect()
        conn._read_timeout = conn._write_timeout = t.statement_timeout  # type: ignore[attr-defined]
        self._server_limit(conn)
        return conn

    def _server_limit(self, conn: Any) -> None:
        """Also ask the server to stop a statement past the timeout (MariaDB seconds, MySQL ms)."""
        import pymysql

        t = self.target
        cur = conn.cursor()
        try:
            # No try around this one: without the version, MariaDB would be taken for MySQL.
            cur.execute("SELECT VERSION()")
            self._version = str(cur.fetchone()[0])
            try:
                if "mariadb" in self._version.lower():
                    cur.execute(f"SET SESSION max_statement_time = {int(t.statement_timeout)}")
                else:
                    cur.execute(f"SET SESSION max_execution_time = {int(t.statement_timeout) * 1000}")
            except pymysql.MySQLError:
                pass  # old servers lack the variable; the driver's timeout still holds
        finally:
            cur.close()

    @property
    def is_mariadb(self) -> bool:
        return "mariadb" in getattr(self, "_version", "").lower()

    def version(self) -> str:
        text = self.rows("SELECT VERSION()")[0][0]
        return f"MariaDB {text}" if "mariadb" in text.lower() else f"MySQL {text}"

    def _mysql8_roles(self) -> set[tuple[str, str]]:
        """MySQL 8 roles are locked accounts granted to others (mysql.role_edges); MariaDB marks is_role."""
        if self.is_mariadb:
            return set()
        try:
            return {
                (_plain(u), _plain(h))
                for u, h in self.rows("SELECT FROM_USER, FROM_HOST FROM mysql.role_edges")
            }
        except Exception as exc:
            if getattr(exc, "args", (0,))[0] in (1146, 1142):  # no such table (before 8.0) / not allowed
                return set()
            raise

    def accounts(self) -> list[Account]:
        # One read of mysql.user, then one SHOW GRANTS per account: an account dropped in between
        # is skipped, not a failed sync of the whole instance.
        rows = self.dict_rows("SELECT * FROM mysql.user")
        granted_roles = self._mysql8_roles()
        accounts = []
        for row in rows:
            lower = {k.lower(): v for k, v in row.items()}
            columns = {k: v for k, v in lower.items() if k not in ("password", "authentication_string")}
            columns["password_empty"] = password_empty(lower)
            user, host = _plain(columns["user"]), _plain(columns["host"])
            is_role = str(columns.get("is_role", "N")).upper() == "Y"
            try:
                if is_role:
                    grants = [r[0] for r in self.rows("SHOW GRANTS FOR %s", (user,))]
                    create = None
                else:
                    grants = [r[0] for r in self.rows("SHOW GRANTS FOR %s@%s", (user, host))]
                    create = self._create_user(user, host)
            except Exception as exc:
                if getattr(exc, "args", (0,))[0] in DROPPED_MEANWHILE:
                    continue  # dropped since mysql.user was read: it is not there to sync
                raise
            account = build_account(user, host, grants, is_role=is_role, create_user=create, columns=columns)
            if (user, host) in granted_roles:
                account.kind, account.can_login = "role", False
            accounts.append(account)
        return accounts

    def _create_user(self, user: str, host: str) -> str | None:
        try:
            return self.rows("SHOW CREATE USER %s@%s", (user, host))[0][0]
        except Exception as exc:  # before MySQL 5.7 / MariaDB 10.2 there is no SHOW CREATE USER
            if getattr(exc, "args", (0,))[0] in (1064, 1142, 1227):
                return None
            raise

    def database_sizes(self) -> list[DatabaseSize]:
        return self.capacity(0).databases

    def capacity(self, top_tables: int) -> Capacity:
        import pymysql

        try:  # MySQL 8 caches table statistics for a day by default
            self.rows("SET SESSION information_schema_stats_expiry = 0")
        except pymysql.MySQLError:
            pass  # MariaDB and MySQL 5.7 have no such cache
        schemas = [_plain(r[0]) for r in self.rows(SCHEMATA_SQL)]
        tables = self.rows(TABLES_SQL)
        spaces = self._tablespaces()
        return build_capacity(schemas, tables, spaces, top_tables)

    def _tablespaces(self) -> list[tuple] | None:
        """``(NAME, FILE_SIZE, ALLOCATED_SIZE)`` of InnoDB's tablespaces, or None when not allowed."""
        views = TABLESPACE_SQL if not self.is_mariadb else TABLESPACE_SQL[1:]
        for sql in views:
            try:
                return self.rows(sql)
            except Exception as exc:
                # 1109 unknown table (the other server's view), 1227/1142 no PROCESS privilege
                if getattr(exc, "args", (0,))[0] in (1109, 1146, 1227, 1142, 1044):
                    continue
                raise
        return None

    def facts(self) -> Facts:
        version = self.version()
        uptime = None
        for _name, value in self.rows("SHOW GLOBAL STATUS LIKE 'Uptime'"):
            uptime = int(value)
        role, lag = None, None
        for sql in ("SHOW REPLICA STATUS", "SHOW SLAVE STATUS"):
            try:
                role, lag = parse_replica_status(self.dict_rows(sql))
                break
            except Exception as exc:
                # 1064 no such statement (older servers), 1227 not allowed (needs REPLICATION CLIENT)
                if getattr(exc, "args", (0,))[0] in (1064, 1227, 1142):
                    continue
                raise
        return Facts(version, uptime, role, lag)


SCHEMATA_SQL = "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA"
TABLES_SQL = (
    "SELECT TABLE_SCHEMA, TABLE_NAME, ENGINE, TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH, DATA_FREE "
    "FROM information_schema.TABLES WHERE ENGINE IS NOT NULL"
)
TABLESPACE_SQL = (
    "SELECT NAME, FILE_SIZE, ALLOCATED_SIZE FROM information_schema.INNODB_TABLESPACES",
    "SELECT NAME, FILE_SIZE, ALLOCATED_SIZE FROM information_schema.INNODB_SYS_TABLESPACES",
)
_ENCODED = re.compile(r"@([0-9a-fA-F]{4})")
_PARTITION = re.compile(r"#(p|sp)#.*$", re.IGNORECASE)


def tablespace_table(name: str) -> tuple[str, str] | None:
    """``db/t#P#p0`` → ``("db", "t")``: the table a file-per-table tablespace belongs to.

    Names are in the server's file-name encoding: ``@002d`` is ``-`` and so on (the
    four-hex-digit form; the short forms for accented letters are left as they are, and
    such a table then counts its statistics). None for the system, undo and general ones.
    """
    if "/" not in name:
        return None
    schema, _, table = name.partition("/")
    table = _PARTITION.sub("", table)

    def decode(text: str) -> str:
        return _ENCODED.sub(lambda m: chr(int(m.group(1), 16)), text)

    return decode(schema), decode(table)


def build_capacity(
    schemas: Iterable[str],
    tables: Iterable[Sequence[Any]],
    spaces: Iterable[Sequence[Any]] | None,
    top_tables: int,
) -> Capacity:
    """Sizes per schema and its largest tables, from ``information_schema`` rows.

    ``tables``: ``(schema, table, engine, rows, data, index, free)``; ``spaces``:
    ``(name, file_size, allocated_size)`` of InnoDB's tablespaces, or None when the login
    may not read them (then every table counts its statistics).
    """
    on_disk: dict[tuple[str, str], int] = {}
    for name, file_size, allocated in spaces or []:
        owner = tablespace_table(_plain(name))
        if owner is not None:
            size = int(allocated or 0) or int(file_size or 0)
            on_disk[owner] = on_disk.get(owner, 0) + size
    totals: dict[str, list[int]] = {_plain(s): [0, 0, 0, 0] for s in schemas}
    per_schema: dict[str, list[TableSize]] = {}
    for schema, table, engine, rows, data, index, free in tables:
        schema, table, engine = _plain(schema), _plain(table), _plain(engine or "")
        data, index, free = int(data or 0), int(index or 0), int(free or 0)
        total = data + index
        if engine.lower() == "innodb" and (schema, table) in on_disk:
            total = on_disk[(schema, table)]
        figures = totals.setdefault(schema, [0, 0, 0, 0])
        figures[0] += total
        figures[1] += data
        figures[2] += index
        figures[3] += free
        per_schema.setdefault(schema, []).append(
            TableSize(schema, table, total, data, index, None if rows is None else int(rows), engine or None)
        )
    databases = [
        DatabaseSize(name, total, data, index, free) for name, (total, data, index, free) in totals.items()
    ]
    largest: list[TableSize] = []
    if top_tables > 0:
        for listed in per_schema.values():
            largest.extend(sorted(listed, key=lambda t: (-t.total_bytes, t.name))[:top_tables])
    capacity = Capacity(databases, largest)
    if spaces is None:
        capacity.notes.append("no PROCESS privilege: InnoDB tables count their statistics, not their files")
    return capacity


def parse_replica_status(rows: list[dict[str, Any]]) -> tuple[str, float | None]:
    """The role and lag from ``SHOW REPLICA STATUS`` (or ``SHOW SLAVE STATUS``) rows.

    No row: not a replica ("primary"). A row: "replica", with ``Seconds_Behind_Source``
    (``_Master`` before MySQL 8.0.22 / on MariaDB) as the lag — NULL when replication is
    stopped, the lag then unknown. With several sources (MariaDB), the largest lag.
    """
    if not rows:
        return "primary", None
    lags = []
    for row in rows:
        value = row.get("Seconds_Behind_Source", row.get("Seconds_Behind_Master"))
        if value is not None and str(value) != "":
            lags.append(float(value))
    return "replica", max(lags) if lags else None
