"""PostgreSQL through psycopg 3.

Accounts are roles with their attributes, the roles they are members of, and
the database privileges granted to them by name (``CONNECT``, ``CREATE``,
``TEMPORARY`` from each database's ACL, the owner's implicit ones included;
what ``PUBLIC`` holds is reported once per instance in the session details,
not copied onto every role). Sizes come from ``pg_database_size``; a database
the login may not connect to is listed without a size (``pg_read_all_stats``
lets it measure every one).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from whalefall.fleet.base import (
    Account,
    Adapter,
    Capacity,
    DatabaseSize,
    Facts,
    TableSize,
    seconds,
    sorted_unique,
)

ROLES_SQL = """
SELECT r.oid, r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
       r.rolreplication, r.rolbypassrls, r.rolconnlimit, r.rolvaliduntil,
       ARRAY(SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid
             WHERE m.member = r.oid ORDER BY b.rolname) AS member_of
FROM pg_roles r ORDER BY r.rolname
"""

DATABASE_ACL_SQL = """
SELECT d.datname, a.grantee, a.privilege_type, a.is_grantable, d.datdba
FROM pg_database d, LATERAL aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a
WHERE NOT d.datistemplate
ORDER BY d.datname
"""

# Each table with its TOAST and indexes: pg_total_relation_size is the files' size, like
# pg_database_size; pg_relation_size of the main fork is the data, pg_indexes_size the indexes.
TABLES_SQL = """
SELECT n.nspname || '.' || c.relname, pg_total_relation_size(c.oid), pg_table_size(c.oid),
       pg_indexes_size(c.oid), GREATEST(c.reltuples, 0)::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%%'
ORDER BY 2 DESC, 1 LIMIT %s
"""
FACTS_SQL = """
SELECT pg_is_in_recovery(),
       EXTRACT(EPOCH FROM now() - pg_postmaster_start_time())::bigint,
       CASE WHEN pg_is_in_recovery() THEN
         CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
              ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END
       END
"""
# Readable by superusers only (pg_roles masks the password): login roles with none at all.
NO_PASSWORD_SQL = "SELECT rolname FROM pg_authid WHERE rolcanlogin AND rolpassword IS NULL"

SIZES_SQL = """
SELECT datname,
       CASE WHEN has_database_privilege(oid, 'CONNECT') THEN pg_database_size(oid) END
FROM pg_database WHERE NOT datistemplate AND datallowconn ORDER BY datname
"""


def build_accounts(
    role_rows: list[tuple],
    acl_rows: list[tuple],
    now: datetime | None = None,
    without_password: frozenset[str] = frozenset(),
) -> list[Account]:
    """Accounts from the rows of :data:`ROLES_SQL` and :data:`DATABASE_ACL_SQL`; ``without_password``:
    the login roles :data:`NO_PASSWORD_SQL` found (when the login may read it)."""
    now = now or datetime.now(UTC)
    names = {oid: name for oid, name, *_ in role_rows}
    grants: dict[str, dict[str, list[str]]] = {}
    owns: dict[str, list[str]] = {}
    for datname, grantee, privilege, grantable, owner in acl_rows:
        if grantee == 0:
            continue  # PUBLIC
        role = names.get(grantee)
        if role is None:
            continue
        grants.setdefault(role, {}).setdefault(datname, []).append(
            f"{privilege} WITH GRANT OPTION" if grantable else privilege
        )
        if owner == grantee and datname not in owns.get(role, []):
            owns.setdefault(role, []).append(datname)
    accounts = []
    for (
        _oid,
        name,
        superuser,
        inherit,
        createrole,
        createdb,
        login,
        replication,
        bypassrls,
        connlimit,
        valid_until,
        member_of,
    ) in role_rows:
        expired = valid_until is not None and _aware(valid_until) < now
        attributes = {
            "superuser": bool(superuser),
            "createrole": bool(createrole),
            "createdb": bool(createdb),
            "replication": bool(replication),
            "bypassrls": bool(bypassrls),
            "login": bool(login),
            "inherit": bool(inherit),
            "connection_limit": int(connlimit),
            "valid_until": None if valid_until is None else _aware(valid_until).isoformat(),
        }
        if name in without_password:  # only when true: the accounts stored before it was read stay unchanged
            attributes["password_empty"] = True
        privileges: dict[str, Any] = {}
        if grants.get(name):
            privileges["databases"] = {db: sorted_unique(p) for db, p in sorted(grants[name].items())}
        if owns.get(name):
            privileges["owner_of"] = sorted(owns[name])
        accounts.append(
            Account(
                key=name,
                username=name,
                kind="user" if login else "role",
                is_superuser=bool(superuser),
                is_locked=expired,
                can_login=bool(login) and not expired,
                attributes=attributes,
                privileges=privileges,
                roles=list(member_of or []),
                system=name.startswith("pg_"),
            )
        )
    return accounts


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def public_privileges(acl_rows: list[tuple]) -> dict[str, list[str]]:
    """What PUBLIC may do in each database (CONNECT and TEMPORARY by default)."""
    public: dict[str, list[str]] = {}
    for datname, grantee, privilege, _grantable, _owner in acl_rows:
        if grantee == 0:
            public.setdefault(datname, []).append(privilege)
    return {db: sorted_unique(p) for db, p in sorted(public.items())}


# Never send a password in clear text: with ``require_auth=!password`` libpq (16 and later) drops
# the connection when the server asks for ``password`` authentication, before sending anything,
# and still accepts every other method (trust, md5, SCRAM, GSS, SSPI, certificates).
REQUIRE_AUTH = "!password"
LIBPQ_WITH_REQUIRE_AUTH = 160000


def refuse_cleartext() -> dict[str, Any]:
    """The connection option that refuses cleartext passwords, or nothing with a libpq older than 16
    (which does not know it and would refuse the option itself)."""
    import psycopg

    return {"require_auth": REQUIRE_AUTH} if psycopg.pq.version() >= LIBPQ_WITH_REQUIRE_AUTH else {}


class PostgreSQLAdapter(Adapter):
    db_type = "postgresql"
    default_port = 5432
    default_database = "postgres"
    system_databases = frozenset()  # template databases are never listed

    def connect(self) -> Any:
        import psycopg

        t = self.target
        return psycopg.connect(
            host=t.host,
            port=t.port,
            user=t.username,
            password=t.password,
            dbname=t.database or "postgres",
            connect_timeout=t.connect_timeout,
            options=f"-c statement_timeout={int(t.statement_timeout) * 1000}",
            autocommit=True,
            application_name="whalefall",
            **refuse_cleartext(),
        )

    def describe_error(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split())
        return text or exc.__class__.__name__

    def version(self) -> str:
        return "PostgreSQL " + str(self.rows("SHOW server_version")[0][0])

    def accounts(self) -> list[Account]:
        self.acl_rows = self.rows(DATABASE_ACL_SQL)
        return build_accounts(self.rows(ROLES_SQL), self.acl_rows, without_password=self._without_password())

    def _without_password(self) -> frozenset[str]:
        import psycopg

        try:
            return frozenset(name for (name,) in self.rows(NO_PASSWORD_SQL))
        except psycopg.errors.InsufficientPrivilege:
            return frozenset()  # not a superuser: whether a password is set stays unknown

    def database_sizes(self) -> list[DatabaseSize]:
        return [
            DatabaseSize(name, None if size is None else int(size)) for name, size in self.rows(SIZES_SQL)
        ]

    def capacity(self, top_tables: int) -> Capacity:
        """Sizes, and each measured database's largest tables (one short connection per database:
        PostgreSQL lists the tables of the database it is connected to only)."""
        databases = self.database_sizes()
        capacity = Capacity(databases)
        if top_tables <= 0:
            return capacity
        for db in databases:
            if db.size_bytes is None:
                continue
            try:
                with type(self)(replace(self.target, database=db.name)) as other:
                    rows = other.rows(TABLES_SQL, (int(top_tables),))
            except Exception as exc:  # noqa: BLE001 - one database's tables are not worth the others
                capacity.notes.append(f"{db.name}: tables not read: {self.target.scrub(str(exc))[:200]}")
                continue
            capacity.tables.extend(build_tables(db.name, rows))
        return capacity

    def facts(self) -> Facts:
        recovery, uptime, lag = self.rows(FACTS_SQL)[0]
        return parse_facts(self.version(), recovery, uptime, lag)


def build_tables(database: str, rows: list[tuple]) -> list[TableSize]:
    """``(schema.table, total, table, indexes, estimated rows)`` rows as tables of ``database``."""
    return [
        TableSize(database, name, int(total or 0), int(data or 0), int(index or 0), int(count or 0))
        for name, total, data, index, count in rows
    ]


def parse_facts(version: str, in_recovery: Any, uptime: Any, lag: Any) -> Facts:
    """A server in recovery is a replica (a standby); its lag is the time since the last replayed
    transaction, 0 when it has replayed all it received, unknown when it never replayed one."""
    uptime_seconds = seconds(uptime)
    return Facts(
        version,
        None if uptime_seconds is None else int(uptime_seconds),
        "replica" if in_recovery else "primary",
        seconds(lag) if in_recovery else None,
    )
