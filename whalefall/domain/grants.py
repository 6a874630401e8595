"""An account's stored privileges as the statements a DBA reads (SPEC §14): pure, no database.

MySQL/MariaDB in ``SHOW GRANTS`` form (``GRANT SELECT, INSERT ON `db`.* TO 'u'@'h'``);
PostgreSQL as ``ALTER ROLE … SUPERUSER …``, ``GRANT CONNECT ON DATABASE …`` and
``GRANT role TO …``; Oracle as ``GRANT privilege TO user``; SQL Server as
``GRANT``/``DENY … TO [login]``, ``ALTER SERVER ROLE … ADD MEMBER`` and, per database,
``USE [db]; ALTER ROLE … ADD MEMBER …``. Other engines give none: the console then shows the
structured form.

:func:`notable_attributes` drops the attributes left at their engine's default
(``plugin: mysql_native_password``, ``max_statement_time: 0``, ``inherit: true`` …).
"""

from __future__ import annotations

import re
from typing import Any

from whalefall.domain.accountrisk import AccountFacts

GRANT_OPTION = "GRANT OPTION"
WITH_GRANT = " WITH GRANT OPTION"
WITH_ADMIN = " WITH ADMIN OPTION"

# Attributes at these values say nothing: the engine's defaults.
DEFAULTS: dict[str, dict[str, tuple[Any, ...]]] = {
    "mysql": {
        "plugin": ("mysql_native_password", "caching_sha2_password", ""),
        "max_connections": (0, "0"),
        "max_user_connections": (0, "0"),
        "max_questions": (0, "0"),
        "max_updates": (0, "0"),
        "max_statement_time": (0, "0", "0.000000", 0.0),
        "password_lifetime": (None, -1, "-1", ""),
        "ssl_type": ("", None),
        "default_role": ("", None),
        "password_expired": (False,),
        "password_empty": (False,),
    },
    "postgresql": {
        "superuser": (False,),
        "createrole": (False,),
        "createdb": (False,),
        "replication": (False,),
        "bypassrls": (False,),
        "login": (False, True),  # said by the account's kind
        "inherit": (True,),
        "connection_limit": (-1,),
        "valid_until": (None, "infinity"),
        "password_empty": (False,),
    },
}
PG_FLAGS = ("superuser", "createdb", "createrole", "login", "replication", "bypassrls")
PG_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_$]*")
PG_RESERVED = frozenset(
    {"all", "user", "public", "role", "group", "grant", "select", "table", "order", "default", "session_user"}
)


def notable_attributes(db_type: str, attributes: dict[str, Any] | None) -> dict[str, Any]:
    """``attributes`` without those at their engine's default (every attribute for other engines)."""
    defaults = DEFAULTS.get(db_type, {})
    return {k: v for k, v in (attributes or {}).items() if not (k in defaults and v in defaults[k])}


# --- MySQL / MariaDB -----------------------------------------------------------------------


def mysql_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def mysql_account(text: str) -> str:
    """``u@h`` (as ``SHOW GRANTS`` parsing stores a role or a proxy) → ``'u'@'h'``; a bare role → ```r```."""
    user, sep, host = text.rpartition("@")
    if not sep:
        return mysql_name(text)
    return _quoted(user) + "@" + _quoted(host)


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _mysql_object(scope: str, name: str) -> str:
    if scope == "global" or name == "*":
        return "*.*"
    if scope == "databases":
        return f"{mysql_name(name)}.*"
    if scope == "routines":
        kind, _, rest = name.rpartition(" ")
        db, _, routine = rest.partition(".")
        return f"{kind} {mysql_name(db)}.{mysql_name(routine)}"
    db, _, table = name.partition(".")
    return f"{mysql_name(db)}.{mysql_name(table)}" if table else f"{mysql_name(db)}.*"


def _mysql_grant(privileges: list[str], on: str, grantee: str) -> str:
    names = [p for p in privileges if p != GRANT_OPTION]
    option = WITH_GRANT if GRANT_OPTION in privileges else ""
    return f"GRANT {', '.join(names) or 'USAGE'} ON {on} TO {grantee}{option}"


def mysql_statements(account: AccountFacts) -> list[str]:
    """``SHOW GRANTS`` for one stored account: global first (``USAGE`` when nothing), then databases,
    tables, routines, proxies, partial revokes and roles."""
    if account.kind == "role" and not account.host:
        grantee = mysql_name(account.username)
    else:
        grantee = _quoted(account.username) + "@" + _quoted(account.host)
    privileges = account.privileges or {}
    out = [_mysql_grant(list(privileges.get("global", [])), "*.*", grantee)]
    for scope in ("databases", "tables", "routines"):
        for name, names in (privileges.get(scope) or {}).items():
            out.append(_mysql_grant(list(names), _mysql_object(scope, name), grantee))
    for proxied in privileges.get("proxy") or []:
        out.append(f"GRANT PROXY ON {mysql_account(proxied)} TO {grantee}")
    for name, names in (privileges.get("revoked") or {}).items():
        scope = "global" if name == "*" else ("tables" if "." in name else "databases")
        out.append(f"REVOKE {', '.join(names)} ON {_mysql_object(scope, name)} FROM {grantee}")
    for role in account.roles or []:
        out.append(f"GRANT {mysql_account(role)} TO {grantee}")
    return out


# --- PostgreSQL ------------------------------------------------------------------------------


def pg_name(name: str) -> str:
    """An identifier as ``quote_ident`` would write it: bare when it may be, else double-quoted."""
    if PG_PLAIN_NAME.fullmatch(name) and name not in PG_RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def pg_statements(account: AccountFacts) -> list[str]:
    """``ALTER ROLE`` with the attributes that differ from a plain role, the memberships, the
    database privileges (those held WITH GRANT OPTION apart) and the databases owned."""
    role = pg_name(account.username)
    attributes = account.attributes or {}
    options = [flag.upper() for flag in PG_FLAGS if attributes.get(flag)]
    if attributes.get("inherit") is False:
        options.append("NOINHERIT")
    limit = attributes.get("connection_limit")
    if isinstance(limit, int) and limit != -1:
        options.append(f"CONNECTION LIMIT {limit}")
    if attributes.get("valid_until") not in (None, "infinity"):
        options.append(f"VALID UNTIL '{attributes['valid_until']}'")
    out = [f"ALTER ROLE {role} WITH {' '.join(options)}"] if options else []
    for member_of in account.roles or []:
        out.append(f"GRANT {pg_name(member_of)} TO {role}")
    for database, names in ((account.privileges or {}).get("databases") or {}).items():
        plain = [p for p in names if not p.endswith(WITH_GRANT)]
        grantable = [p.removesuffix(WITH_GRANT) for p in names if p.endswith(WITH_GRANT)]
        if plain:
            out.append(f"GRANT {', '.join(plain)} ON DATABASE {pg_name(database)} TO {role}")
        if grantable:
            out.append(f"GRANT {', '.join(grantable)} ON DATABASE {pg_name(database)} TO {role}{WITH_GRANT}")
    for database in (account.privileges or {}).get("owner_of") or []:
        out.append(f"ALTER DATABASE {pg_name(database)} OWNER TO {role}")
    return out


# --- Oracle ----------------------------------------------------------------------------------


def oracle_statements(account: AccountFacts) -> list[str]:
    user = '"' + account.username.replace('"', '""') + '"'
    out = []
    for privilege in (account.privileges or {}).get("system") or []:
        name = privilege.removesuffix(WITH_ADMIN)
        out.append(f"GRANT {name} TO {user}{WITH_ADMIN if name != privilege else ''}")
    out.extend(f"GRANT {role} TO {user}" for role in account.roles or [])
    return out


# --- SQL Server ------------------------------------------------------------------------------


def mssql_name(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def _mssql_permission(permission: str, grantee: str) -> str:
    """``CONTROL SERVER`` → ``GRANT CONTROL SERVER TO [x]``; ``DENY …`` and ``… WITH GRANT OPTION`` kept."""
    if permission.startswith("DENY "):
        return f"DENY {permission.removeprefix('DENY ')} TO {grantee}"
    if permission.endswith(WITH_GRANT):
        return f"GRANT {permission.removesuffix(WITH_GRANT)} TO {grantee}{WITH_GRANT}"
    return f"GRANT {permission} TO {grantee}"


def mssql_statements(account: AccountFacts) -> list[str]:
    """A login's server permissions and roles, then each database's user: its roles and permissions."""
    privileges = account.privileges or {}
    out: list[str] = []
    if account.kind != "database_user":
        login = mssql_name(account.username)
        out.extend(_mssql_permission(p, login) for p in privileges.get("server") or [])
        out.extend(f"ALTER SERVER ROLE {mssql_name(r)} ADD MEMBER {login}" for r in account.roles or [])
    for database, entry in (privileges.get("databases") or {}).items():
        if not isinstance(entry, dict):
            continue
        use, user = f"USE {mssql_name(database)}; ", mssql_name(str(entry.get("user") or account.username))
        out.extend(f"{use}ALTER ROLE {mssql_name(r)} ADD MEMBER {user}" for r in entry.get("roles") or [])
        out.extend(use + _mssql_permission(p, user) for p in entry.get("permissions") or [])
    return out


def statements(account: AccountFacts) -> list[str]:
    """The account's privileges as statements of its engine; empty when the engine has no one form."""
    render = {
        "mysql": mysql_statements,
        "postgresql": pg_statements,
        "oracle": oracle_statements,
        "sqlserver": mssql_statements,
    }
    return render[account.db_type](account) if account.db_type in render else []
