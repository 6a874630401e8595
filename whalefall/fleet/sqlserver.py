"""SQL Server through pymssql.

Accounts are server logins with their server roles and server permissions,
and, per database, the database user mapped to each login with its database
roles and permissions; database users with no login (contained or orphaned
users) are accounts of their own, keyed ``database\\user``. Sizes are the space
the data and log files take (``sys.master_files``, allocated pages), the data
files alone being the data part; the largest tables come from each database's
allocation units.

Not yet exercised against a live server: tested on recorded result rows.
"""

from __future__ import annotations

from typing import Any

from whalefall.fleet.base import (
    Account,
    Adapter,
    Capacity,
    DatabaseSize,
    Facts,
    TableSize,
    is_driver_error,
    parse_sizes,
    seconds,
    sorted_unique,
)

LOGINS_SQL = """
SELECT sp.name, sp.type_desc, sp.is_disabled, CAST(LOGINPROPERTY(sp.name, 'IsLocked') AS INT),
       sp.default_database_name
FROM sys.server_principals sp
WHERE sp.type IN ('S', 'U', 'G', 'E', 'X')
ORDER BY sp.name
"""
SERVER_ROLES_SQL = """
SELECT r.name, m.name
FROM sys.server_role_members rm
JOIN sys.server_principals r ON r.principal_id = rm.role_principal_id
JOIN sys.server_principals m ON m.principal_id = rm.member_principal_id
"""
SERVER_PERMISSIONS_SQL = """
SELECT pr.name, pe.permission_name, pe.state_desc
FROM sys.server_permissions pe
JOIN sys.server_principals pr ON pr.principal_id = pe.grantee_principal_id
WHERE pr.type IN ('S', 'U', 'G', 'E', 'X')
"""
DATABASES_SQL = "SELECT name FROM sys.databases WHERE state = 0 AND HAS_DBACCESS(name) = 1 ORDER BY name"
# Formatted with a database name quoted by quote_name().
DATABASE_USERS_SQL = """
SELECT dp.name, dp.type_desc, sp.name
FROM {db}.sys.database_principals dp
LEFT JOIN sys.server_principals sp ON sp.sid = dp.sid
WHERE dp.type IN ('S', 'U', 'G', 'E', 'X') AND dp.name NOT IN ('guest', 'INFORMATION_SCHEMA', 'sys')
"""
DATABASE_ROLES_SQL = """
SELECT r.name, m.name
FROM {db}.sys.database_role_members rm
JOIN {db}.sys.database_principals r ON r.principal_id = rm.role_principal_id
JOIN {db}.sys.database_principals m ON m.principal_id = rm.member_principal_id
"""
DATABASE_PERMISSIONS_SQL = """
SELECT pr.name, pe.permission_name, pe.state_desc
FROM {db}.sys.database_permissions pe
JOIN {db}.sys.database_principals pr ON pr.principal_id = pe.grantee_principal_id
WHERE pe.class = 0
"""
# sys.master_files.size is each file's current size in 8 KiB pages: what it takes on disk. The
# size counts the data (ROWS) and the log files — both fill the disk; the data files alone
# are the data part. FILESTREAM/full-text containers report no meaningful size and are left out.
SIZES_SQL = """
SELECT d.name, SUM(CAST(mf.size AS BIGINT)) * 8192,
       SUM(CASE WHEN mf.type = 0 THEN CAST(mf.size AS BIGINT) ELSE 0 END) * 8192
FROM sys.master_files mf JOIN sys.databases d ON d.database_id = mf.database_id
WHERE mf.type IN (0, 1)
GROUP BY d.name
ORDER BY d.name
"""
# Each table's allocated pages (total), the pages its heap or clustered index uses (data) and its
# other indexes use (index), and its rows (counted once per partition, from the in-row data).
TABLES_SQL = """
SELECT TOP ({top}) s.name + '.' + t.name,
       SUM(CAST(a.total_pages AS BIGINT)) * 8192,
       SUM(CASE WHEN i.index_id IN (0, 1) THEN CAST(a.used_pages AS BIGINT) ELSE 0 END) * 8192,
       SUM(CASE WHEN i.index_id > 1 THEN CAST(a.used_pages AS BIGINT) ELSE 0 END) * 8192,
       SUM(CASE WHEN i.index_id IN (0, 1) AND a.type = 1 THEN p.rows ELSE 0 END)
FROM {db}.sys.tables t
JOIN {db}.sys.schemas s ON s.schema_id = t.schema_id
JOIN {db}.sys.indexes i ON i.object_id = t.object_id
JOIN {db}.sys.partitions p ON p.object_id = i.object_id AND p.index_id = i.index_id
JOIN {db}.sys.allocation_units a ON a.container_id = p.partition_id
GROUP BY s.name, t.name
ORDER BY 2 DESC, 1
"""
UPTIME_SQL = "SELECT DATEDIFF(SECOND, sqlserver_start_time, SYSDATETIME()) FROM sys.dm_os_sys_info"
# An availability group replica's role, and on a secondary the largest lag of its databases
# (secondary_lag_seconds, SQL Server 2016 and later). No row: not in an availability group.
ROLE_SQL = """
SELECT ars.role_desc,
       (SELECT MAX(drs.secondary_lag_seconds) FROM sys.dm_hadr_database_replica_states drs
        WHERE drs.is_local = 1)
FROM sys.dm_hadr_availability_replica_states ars
WHERE ars.is_local = 1
"""
SUPER_ROLES = frozenset({"sysadmin"})
SUPER_PERMISSIONS = frozenset({"CONTROL SERVER"})


def quote_name(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def is_system_login(name: str) -> bool:
    return name.startswith("##") or name.upper().startswith(("NT SERVICE\\", "NT AUTHORITY\\"))


def _permission(name: str, state: str) -> str:
    state = (state or "GRANT").upper()
    if state == "GRANT":
        return name
    if state == "GRANT_WITH_GRANT_OPTION":
        return f"{name} WITH GRANT OPTION"
    return f"{state} {name}"  # DENY …


def build_accounts(
    logins: list[tuple],
    server_roles: list[tuple],
    server_permissions: list[tuple],
    database_users: list[tuple],
    database_roles: list[tuple],
    database_permissions: list[tuple],
) -> list[Account]:
    """Accounts from recorded rows.

    ``logins``: (name, type_desc, is_disabled, is_locked, default_database);
    ``server_roles``: (role, member); ``server_permissions``: (grantee, permission, state);
    ``database_users``: (database, user, type_desc, login or None);
    ``database_roles``: (database, role, member); ``database_permissions``: (database, grantee, permission, state).
    """
    roles_of: dict[str, list[str]] = {}
    for role, member in server_roles:
        roles_of.setdefault(member, []).append(role)
    perms_of: dict[str, list[str]] = {}
    for grantee, permission, state in server_permissions:
        perms_of.setdefault(grantee, []).append(_permission(permission, state))
    db_roles: dict[tuple[str, str], list[str]] = {}
    for db, role, member in database_roles:
        db_roles.setdefault((db, member), []).append(role)
    db_perms: dict[tuple[str, str], list[str]] = {}
    for db, grantee, permission, state in database_permissions:
        db_perms.setdefault((db, grantee), []).append(_permission(permission, state))

    per_login: dict[str, dict[str, Any]] = {}
    orphans: list[Account] = []
    for db, user, type_desc, login in database_users:
        entry = {
            "user": user,
            "roles": sorted_unique(db_roles.get((db, user), [])),
            "permissions": sorted_unique(db_perms.get((db, user), [])),
        }
        if login:
            per_login.setdefault(login, {})[db] = entry
        else:
            orphans.append(
                Account(
                    key=f"{db}\\{user}",
                    username=user,
                    kind="database_user",
                    attributes={"database": db, "type": type_desc, "login": None},
                    privileges={"databases": {db: entry}},
                    roles=entry["roles"],
                )
            )

    accounts = []
    for name, type_desc, disabled, locked, default_db in logins:
        server_roles_list = sorted_unique(roles_of.get(name, []))
        server_perms = sorted_unique(perms_of.get(name, []))
        privileges: dict[str, Any] = {}
        if server_perms:
            privileges["server"] = server_perms
        if per_login.get(name):
            privileges["databases"] = dict(sorted(per_login[name].items()))
        is_locked = bool(disabled) or bool(locked)
        accounts.append(
            Account(
                key=name,
                username=name,
                kind="login",
                is_superuser=bool(SUPER_ROLES & set(server_roles_list))
                or bool(SUPER_PERMISSIONS & set(server_perms)),
                is_locked=is_locked,
                can_login=not is_locked,
                attributes={
                    "type": type_desc,
                    "disabled": bool(disabled),
                    "locked": bool(locked),
                    "default_database": default_db,
                },
                privileges=privileges,
                roles=server_roles_list,
                system=is_system_login(name),
            )
        )
    return accounts + orphans


class SQLServerAdapter(Adapter):
    db_type = "sqlserver"
    default_port = 1433
    default_database = "master"
    system_databases = frozenset({"master", "model", "msdb", "tempdb"})

    def connect(self) -> Any:
        import pymssql

        t = self.target
        return pymssql.connect(
            server=t.host,
            port=str(t.port),
            user=t.username,
            password=t.password,
            database=t.database or "master",
            login_timeout=t.connect_timeout,
            timeout=t.statement_timeout,
            appname="whalefall",
            autocommit=True,
        )

    def version(self) -> str:
        text = str(self.rows("SELECT @@VERSION")[0][0])
        return " ".join(text.splitlines()[0].split())

    def accounts(self) -> list[Account]:
        users, roles, perms = [], [], []
        for (db,) in self.rows(DATABASES_SQL):
            q = quote_name(db)
            users += [(db, *r) for r in self.rows(DATABASE_USERS_SQL.format(db=q))]
            roles += [(db, *r) for r in self.rows(DATABASE_ROLES_SQL.format(db=q))]
            perms += [(db, *r) for r in self.rows(DATABASE_PERMISSIONS_SQL.format(db=q))]
        return build_accounts(
            self.rows(LOGINS_SQL),
            self.rows(SERVER_ROLES_SQL),
            self.rows(SERVER_PERMISSIONS_SQL),
            users,
            roles,
            perms,
        )

    def database_sizes(self) -> list[DatabaseSize]:
        return parse_sizes(self.rows(SIZES_SQL))

    def capacity(self, top_tables: int) -> Capacity:
        """Sizes, and each accessible database's largest tables (three-part names, one query each)."""
        capacity = Capacity(self.database_sizes())
        if top_tables <= 0:
            return capacity
        for (db,) in self.rows(DATABASES_SQL):
            sql = TABLES_SQL.format(top=int(top_tables), db=quote_name(db))
            try:
                capacity.tables.extend(build_tables(db, self.rows(sql)))
            except Exception as exc:
                if not is_driver_error(exc):
                    raise
                capacity.notes.append(f"{db}: tables not read: {self.describe_error(exc)[:200]}")
        return capacity

    def facts(self) -> Facts:
        version = self.version()
        uptime = role_rows = None
        try:
            uptime = self.rows(UPTIME_SQL)[0][0]
            role_rows = self.rows(ROLE_SQL)
        except Exception as exc:
            if not is_driver_error(exc):  # VIEW SERVER STATE is needed: without it, unknown
                raise
        return parse_facts(version, uptime, role_rows)


def build_tables(database: str, rows: list[tuple]) -> list[TableSize]:
    """``(schema.table, total, data, index, rows)`` rows as tables of ``database``."""
    return [
        TableSize(database, str(name), int(total or 0), int(data or 0), int(index or 0), int(count or 0))
        for name, total, data, index, count in rows
    ]


def parse_facts(version: str, uptime: Any, role_rows: list[tuple] | None) -> Facts:
    """Role from the local availability replica: PRIMARY, SECONDARY (a replica, with its lag);
    no row is a server outside any availability group (primary); None: not allowed to see."""
    role, lag = None, None
    if role_rows is not None:
        role = "primary"
        for role_desc, secondary_lag in role_rows:
            if str(role_desc or "").upper() == "SECONDARY":
                role, lag = "replica", seconds(secondary_lag)
    up = seconds(uptime)
    return Facts(version, None if up is None else int(up), role, lag)
