"""Oracle through python-oracledb in thin mode (no Oracle client libraries needed).

Accounts are users with their status, profile and authentication, the roles
granted to them directly and their system privileges; users Oracle maintains
itself (``ORACLE_MAINTAINED = 'Y'``, 12c and later) are system accounts.
Sizes are tablespaces: the size of their data files (temp files for the
temporary ones), with the free space inside; the largest tables are their
segments (``dba_segments``). The instance's
``database`` field is the service name.

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

USERS_SQL = """
SELECT username, account_status, lock_date, expiry_date, default_tablespace, profile,
       authentication_type, oracle_maintained
FROM dba_users ORDER BY username
"""
# Before 12c there is no ORACLE_MAINTAINED column.
USERS_SQL_11G = """
SELECT username, account_status, lock_date, expiry_date, default_tablespace, profile,
       authentication_type, 'N'
FROM dba_users ORDER BY username
"""
ROLES_SQL = "SELECT grantee, granted_role, admin_option FROM dba_role_privs"
SYS_PRIVS_SQL = "SELECT grantee, privilege, admin_option FROM dba_sys_privs"
# Each tablespace's data files (dba_data_files.bytes: the files' size on disk) with the free
# space inside them (dba_free_space), and the temporary tablespaces' temp files, which take
# the disk as well.
SIZES_SQL = """
SELECT df.tablespace_name, SUM(df.bytes), NULL, NULL,
       (SELECT SUM(fs.bytes) FROM dba_free_space fs WHERE fs.tablespace_name = df.tablespace_name)
FROM dba_data_files df GROUP BY df.tablespace_name
UNION ALL
SELECT tf.tablespace_name, SUM(tf.bytes), NULL, NULL, NULL FROM dba_temp_files tf GROUP BY tf.tablespace_name
ORDER BY 1
"""
# Each tablespace's largest tables: their segments (partitions summed), with the optimizer's row
# count (a statistic, like MySQL's TABLE_ROWS). Indexes are segments of their own: not counted here.
TABLES_SQL = """
SELECT tablespace_name, name, total, num_rows FROM (
  SELECT s.tablespace_name, s.owner || '.' || s.segment_name AS name, SUM(s.bytes) AS total,
         MAX(t.num_rows) AS num_rows,
         ROW_NUMBER() OVER (PARTITION BY s.tablespace_name ORDER BY SUM(s.bytes) DESC) AS rn
  FROM dba_segments s
  LEFT JOIN dba_tables t ON t.owner = s.owner AND t.table_name = s.segment_name
  WHERE s.segment_type IN ('TABLE', 'TABLE PARTITION', 'TABLE SUBPARTITION')
  GROUP BY s.tablespace_name, s.owner, s.segment_name
) WHERE rn <= :top
ORDER BY tablespace_name, total DESC
"""
UPTIME_SQL = "SELECT ROUND((SYSDATE - startup_time) * 86400) FROM v$instance"
ROLE_SQL = "SELECT database_role FROM v$database"
LAG_SQL = "SELECT value FROM v$dataguard_stats WHERE name = 'apply lag'"
SUPER_ROLES = frozenset({"DBA"})
SUPER_PRIVILEGES = frozenset({"SYSDBA", "SYSOPER"})


def _with_admin(name: str, admin: Any) -> str:
    return f"{name} WITH ADMIN OPTION" if str(admin or "").upper() == "YES" else name


def build_accounts(users: list[tuple], role_rows: list[tuple], sys_priv_rows: list[tuple]) -> list[Account]:
    """Accounts from recorded rows: ``users`` as :data:`USERS_SQL`, roles (grantee, role, admin option),
    system privileges (grantee, privilege, admin option)."""
    roles: dict[str, list[str]] = {}
    for grantee, role, _admin in role_rows:
        roles.setdefault(grantee, []).append(role)
    privs: dict[str, list[str]] = {}
    for grantee, privilege, admin in sys_priv_rows:
        privs.setdefault(grantee, []).append(_with_admin(privilege, admin))
    accounts = []
    for name, status, lock_date, expiry_date, tablespace, profile, auth, maintained in users:
        status = str(status or "")
        user_roles = sorted_unique(roles.get(name, []))
        user_privs = sorted_unique(privs.get(name, []))
        locked = "LOCKED" in status.upper()
        plain_privs = {p.split(" WITH ")[0] for p in user_privs}
        accounts.append(
            Account(
                key=name,
                username=name,
                kind="user",
                is_superuser=bool(SUPER_ROLES & set(user_roles)) or bool(SUPER_PRIVILEGES & plain_privs),
                is_locked=locked,
                can_login=status.upper() == "OPEN" or status.upper().startswith("EXPIRED(GRACE)"),
                attributes={
                    "account_status": status,
                    "lock_date": _iso(lock_date),
                    "expiry_date": _iso(expiry_date),
                    "default_tablespace": tablespace,
                    "profile": profile,
                    "authentication_type": auth,
                },
                privileges={"system": user_privs} if user_privs else {},
                roles=user_roles,
                system=str(maintained or "N").upper() == "Y",
            )
        )
    return accounts


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)


class OracleAdapter(Adapter):
    db_type = "oracle"
    default_port = 1521
    default_database = ""  # the service name is required
    system_databases = frozenset()

    def connect(self) -> Any:
        import oracledb  # thin mode unless init_oracle_client() is called: nothing else to install

        t = self.target
        conn = oracledb.connect(
            user=t.username,
            password=t.password,
            host=t.host,
            port=t.port,
            service_name=t.database,
            tcp_connect_timeout=float(t.connect_timeout),
        )
        conn.call_timeout = int(t.statement_timeout) * 1000  # milliseconds, per round trip
        return conn

    def version(self) -> str:
        return f"Oracle {self.conn.version}"

    def accounts(self) -> list[Account]:
        try:
            users = self.rows(USERS_SQL)
        except Exception as exc:
            if "ORA-00904" not in str(exc):  # invalid identifier: an 11g server
                raise
            users = self.rows(USERS_SQL_11G)
        return build_accounts(users, self.rows(ROLES_SQL), self.rows(SYS_PRIVS_SQL))

    def database_sizes(self) -> list[DatabaseSize]:
        return parse_sizes(self.rows(SIZES_SQL))

    def capacity(self, top_tables: int) -> Capacity:
        capacity = Capacity(self.database_sizes())
        if top_tables > 0:
            capacity.tables = build_tables(self.rows(TABLES_SQL, (int(top_tables),)))
        return capacity

    def facts(self) -> Facts:
        version = self.version()
        uptime = role = lag = None
        try:  # v$ views need SELECT_CATALOG_ROLE (or SELECT ANY DICTIONARY): without it, unknown
            uptime = self.rows(UPTIME_SQL)[0][0]
            role = self.rows(ROLE_SQL)[0][0]
            if "STANDBY" in str(role).upper():
                lag_rows = self.rows(LAG_SQL)
                lag = lag_rows[0][0] if lag_rows else None
        except Exception as exc:
            if not is_driver_error(exc):
                raise
        return parse_facts(version, uptime, role, lag)


def build_tables(rows: list[tuple]) -> list[TableSize]:
    """``(tablespace, owner.table, bytes, num_rows)`` rows as tables of their tablespace."""
    return [
        TableSize(
            str(space),
            str(name),
            int(total or 0),
            int(total or 0),
            None,
            None if count is None else int(count),
        )
        for space, name, total, count in rows
    ]


def parse_facts(version: str, uptime: Any, database_role: Any, apply_lag: Any) -> Facts:
    """``PRIMARY`` is a primary, ``PHYSICAL STANDBY``/``LOGICAL STANDBY``/``SNAPSHOT STANDBY`` a replica
    with Data Guard's apply lag (``+00 00:00:05``) as its lag."""
    role = None
    if database_role is not None:
        role = "replica" if "STANDBY" in str(database_role).upper() else "primary"
    up = seconds(uptime)
    return Facts(
        version, None if up is None else int(up), role, seconds(apply_lag) if role == "replica" else None
    )
