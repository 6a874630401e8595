"""Adapters' parsing of recorded result rows: SQL Server and Oracle (no servers here), and MySQL 8's
``SHOW GRANTS`` forms that the local MariaDB does not produce."""

from __future__ import annotations

from datetime import UTC, datetime

from whalefall.fleet import adapter_class, mysql, oracle, postgresql, sqlserver
from whalefall.fleet.base import Target

NOW = datetime(2026, 11, 28, tzinfo=UTC)


# --- SQL Server ----------------------------------------------------------------------------------

SQLSERVER_LOGINS = [
    ("sa", "SQL_LOGIN", False, 0, "master"),
    ("app_rw", "SQL_LOGIN", False, 0, "orders"),
    ("old_app", "SQL_LOGIN", True, 0, "master"),
    ("locked_out", "SQL_LOGIN", False, 1, "master"),
    ("CORP\\dba", "WINDOWS_LOGIN", False, None, "master"),
    ("##MS_PolicyEventProcessingLogin##", "SQL_LOGIN", True, 0, "master"),
    ("NT SERVICE\\SQLWriter", "WINDOWS_LOGIN", False, None, "master"),
]
SQLSERVER_SERVER_ROLES = [
    ("sysadmin", "sa"),
    ("sysadmin", "CORP\\dba"),
    ("securityadmin", "app_rw"),
    ("sysadmin", "NT SERVICE\\SQLWriter"),
]
SQLSERVER_SERVER_PERMISSIONS = [
    ("app_rw", "CONNECT SQL", "GRANT"),
    ("app_rw", "VIEW SERVER STATE", "GRANT"),
    ("old_app", "CONNECT SQL", "DENY"),
    ("locked_out", "CONTROL SERVER", "GRANT"),
]
SQLSERVER_DB_USERS = [
    ("orders", "app_rw", "SQL_USER", "app_rw"),
    ("orders", "dbo", "SQL_USER", "sa"),
    ("orders", "contained", "SQL_USER", None),
    ("reports", "app_rw", "SQL_USER", "app_rw"),
]
SQLSERVER_DB_ROLES = [
    ("orders", "db_datareader", "app_rw"),
    ("orders", "db_datawriter", "app_rw"),
    ("orders", "db_owner", "dbo"),
    ("reports", "db_datareader", "app_rw"),
    ("orders", "db_datareader", "contained"),
]
SQLSERVER_DB_PERMISSIONS = [
    ("orders", "app_rw", "EXECUTE", "GRANT"),
    ("orders", "app_rw", "CONNECT", "GRANT"),
    ("reports", "app_rw", "CONNECT", "GRANT_WITH_GRANT_OPTION"),
]


def sqlserver_accounts():
    return {
        a.key: a
        for a in sqlserver.build_accounts(
            SQLSERVER_LOGINS,
            SQLSERVER_SERVER_ROLES,
            SQLSERVER_SERVER_PERMISSIONS,
            SQLSERVER_DB_USERS,
            SQLSERVER_DB_ROLES,
            SQLSERVER_DB_PERMISSIONS,
        )
    }


def test_sqlserver_logins_carry_server_roles_permissions_and_database_users():
    accounts = sqlserver_accounts()
    app = accounts["app_rw"]
    assert app.kind == "login" and not app.is_superuser and not app.is_locked and app.can_login
    assert app.roles == ["securityadmin"]
    assert app.privileges["server"] == ["CONNECT SQL", "VIEW SERVER STATE"]
    assert app.privileges["databases"]["orders"] == {
        "user": "app_rw",
        "roles": ["db_datareader", "db_datawriter"],
        "permissions": ["CONNECT", "EXECUTE"],
    }
    assert app.privileges["databases"]["reports"]["permissions"] == ["CONNECT WITH GRANT OPTION"]
    assert app.attributes == {
        "type": "SQL_LOGIN",
        "disabled": False,
        "locked": False,
        "default_database": "orders",
    }


def test_sqlserver_flags_sysadmins_disabled_and_locked_logins_and_system_ones():
    accounts = sqlserver_accounts()
    assert accounts["sa"].is_superuser and accounts["sa"].privileges["databases"]["orders"]["roles"] == [
        "db_owner"
    ]
    assert accounts["CORP\\dba"].is_superuser
    assert accounts["locked_out"].is_superuser  # CONTROL SERVER is sysadmin in all but name
    assert accounts["old_app"].is_locked and not accounts["old_app"].can_login
    assert accounts["old_app"].privileges["server"] == ["DENY CONNECT SQL"]
    assert accounts["locked_out"].is_locked
    assert accounts["##MS_PolicyEventProcessingLogin##"].system and accounts["NT SERVICE\\SQLWriter"].system
    assert not accounts["sa"].system


def test_sqlserver_database_users_without_a_login_are_accounts_of_their_own():
    contained = sqlserver_accounts()["orders\\contained"]
    assert contained.kind == "database_user" and contained.roles == ["db_datareader"]
    assert contained.attributes["database"] == "orders"


def test_sqlserver_sizes_are_the_data_files_in_bytes():
    sizes = sqlserver.parse_sizes([("orders", 1280 * 8192), ("master", 512 * 8192)])
    assert [(s.name, s.size_bytes) for s in sizes] == [("orders", 10485760), ("master", 4194304)]
    assert {"master", "model", "msdb", "tempdb"} == sqlserver.SQLServerAdapter.system_databases
    assert sqlserver.quote_name("a]b") == "[a]]b]"


# --- Oracle --------------------------------------------------------------------------------------

ORACLE_USERS = [
    ("SYS", "OPEN", None, None, "SYSTEM", "DEFAULT", "PASSWORD", "Y"),
    ("APP", "OPEN", None, datetime(2027, 1, 1), "USERS", "APP_PROFILE", "PASSWORD", "N"),
    (
        "OLD",
        "EXPIRED & LOCKED",
        datetime(2025, 3, 1),
        datetime(2025, 2, 1),
        "USERS",
        "DEFAULT",
        "PASSWORD",
        "N",
    ),
    ("OPS", "EXPIRED(GRACE)", None, None, "USERS", "DEFAULT", "PASSWORD", "N"),
]
ORACLE_ROLES = [
    ("APP", "CONNECT", "NO"),
    ("APP", "RESOURCE", "NO"),
    ("OPS", "DBA", "YES"),
    ("SYS", "DBA", "YES"),
]
ORACLE_SYS_PRIVS = [
    ("APP", "CREATE SESSION", "NO"),
    ("APP", "UNLIMITED TABLESPACE", "NO"),
    ("OPS", "ALTER SYSTEM", "YES"),
    ("OLD", "SYSDBA", "NO"),
]


def test_oracle_users_carry_status_roles_and_system_privileges():
    accounts = {a.key: a for a in oracle.build_accounts(ORACLE_USERS, ORACLE_ROLES, ORACLE_SYS_PRIVS)}
    app = accounts["APP"]
    assert (
        app.roles == ["CONNECT", "RESOURCE"] and not app.is_superuser and app.can_login and not app.is_locked
    )
    assert app.privileges == {"system": ["CREATE SESSION", "UNLIMITED TABLESPACE"]}
    assert (
        app.attributes["profile"] == "APP_PROFILE" and app.attributes["expiry_date"] == "2027-01-01T00:00:00"
    )
    assert (
        accounts["OLD"].is_locked and not accounts["OLD"].can_login and accounts["OLD"].is_superuser
    )  # SYSDBA
    assert accounts["OPS"].is_superuser and accounts["OPS"].can_login  # DBA role, password in grace
    assert accounts["OPS"].privileges["system"] == ["ALTER SYSTEM WITH ADMIN OPTION"]
    assert accounts["SYS"].system and not accounts["APP"].system


def test_oracle_sizes_are_tablespaces():
    sizes = oracle.parse_sizes([("SYSTEM", 838860800), ("USERS", 5242880)])
    assert {s.name: s.size_bytes for s in sizes} == {"SYSTEM": 838860800, "USERS": 5242880}


# --- MySQL 8 and MariaDB SHOW GRANTS -------------------------------------------------------------


def test_mysql8_grants_with_roles_partial_revokes_and_routines_are_parsed():
    lines = [
        "GRANT SELECT, RELOAD, PROCESS ON *.* TO `app`@`10.%`",
        "GRANT BACKUP_ADMIN,REPLICATION_SLAVE_ADMIN ON *.* TO `app`@`10.%`",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON `shop`.* TO `app`@`10.%` WITH GRANT OPTION",
        "GRANT SELECT (`id`, `name`), UPDATE (`name`) ON `shop`.`customers` TO `app`@`10.%`",
        "GRANT EXECUTE ON PROCEDURE `shop`.`refund` TO `app`@`10.%`",
        "REVOKE INSERT ON `mysql`.* FROM `app`@`10.%`",
        "GRANT `reporting`@`%`,`etl`@`%` TO `app`@`10.%`",
    ]
    privileges, roles = mysql.parse_grants(lines)
    assert privileges["global"] == ["BACKUP_ADMIN", "PROCESS", "RELOAD", "REPLICATION_SLAVE_ADMIN", "SELECT"]
    assert privileges["databases"] == {"shop": ["DELETE", "GRANT OPTION", "INSERT", "SELECT", "UPDATE"]}
    assert privileges["tables"] == {"shop.customers": ["SELECT (`id`, `name`)", "UPDATE (`name`)"]}
    assert privileges["routines"] == {"PROCEDURE shop.refund": ["EXECUTE"]}
    assert privileges["revoked"] == {"mysql": ["INSERT"]}
    assert roles == ["etl@%", "reporting@%"]


def test_usage_only_accounts_have_no_global_privileges_and_names_with_odd_characters_survive():
    privileges, roles = mysql.parse_grants(
        [
            "GRANT USAGE ON *.* TO `o``dd`@`%` IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'",
            "GRANT ALL PRIVILEGES ON `we ird.db`.* TO `o``dd`@`%`",
            "SET DEFAULT ROLE `r` FOR `o``dd`@`%`",
        ]
    )
    assert privileges == {"databases": {"we ird.db": ["ALL PRIVILEGES"]}}
    assert roles == []


def test_a_mysql8_locked_account_with_an_expired_password_is_read_from_show_create_user():
    account = mysql.build_account(
        "svc",
        "%",
        ["GRANT USAGE ON *.* TO `svc`@`%`"],
        create_user="CREATE USER `svc`@`%` IDENTIFIED WITH 'caching_sha2_password' "
        "REQUIRE NONE PASSWORD EXPIRE ACCOUNT LOCK",
        columns={
            "User": "svc",
            "Host": "%",
            "plugin": "caching_sha2_password",
            "account_locked": "Y",
            "authentication_string": b"$A$005$secret",
        },
    )
    assert account.key == "'svc'@'%'" and account.is_locked and not account.can_login
    assert account.attributes["password_expired"] is True
    assert "authentication_string" not in account.attributes


# --- PostgreSQL, recorded ------------------------------------------------------------------------


def test_postgresql_roles_from_recorded_rows():
    roles = [
        (10, "postgres", True, True, True, True, True, True, True, -1, None, []),
        (20, "app", False, True, False, False, True, False, False, 3, datetime(2020, 1, 1), ["readers"]),
        (30, "readers", False, True, False, False, False, False, False, -1, None, []),
        (40, "pg_monitor", False, True, False, False, False, False, False, -1, None, []),
    ]
    acl = [
        ("shop", 20, "CONNECT", False, 10),
        ("shop", 0, "CONNECT", False, 10),
        ("shop", 0, "TEMPORARY", False, 10),
        ("shop", 10, "CREATE", True, 10),
    ]
    accounts = {a.key: a for a in postgresql.build_accounts(roles, acl, now=NOW)}
    assert accounts["app"].is_locked and not accounts["app"].can_login  # VALID UNTIL in the past
    assert accounts["app"].privileges == {"databases": {"shop": ["CONNECT"]}}
    assert accounts["postgres"].privileges == {
        "databases": {"shop": ["CREATE WITH GRANT OPTION"]},
        "owner_of": ["shop"],
    }
    assert accounts["readers"].kind == "role" and accounts["pg_monitor"].system
    assert postgresql.public_privileges(acl) == {"shop": ["CONNECT", "TEMPORARY"]}


# --- errors in words -----------------------------------------------------------------------------


def test_driver_errors_are_told_in_words_without_the_password():
    target = Target("sqlserver", "db1", 1433, "master", "sa", "Hunter2-secret")
    adapter = adapter_class("sqlserver")(target)
    exc = Exception(20009, b"DB-Lib error message 20009, severity 9: Unable to connect (Hunter2-secret)")
    message = adapter.unreachable(exc).message
    assert (
        message
        == "sqlserver db1:1433: error 20009: DB-Lib error message 20009, severity 9: Unable to connect (******)"
    )
