"""Stored privileges as GRANT statements, and the attributes worth showing: pure functions."""

from __future__ import annotations

from whalefall.domain.accountrisk import AccountFacts
from whalefall.domain.grants import notable_attributes, statements
from whalefall.fleet.mysql import parse_grants


def mysql_account(user: str, host: str, lines: list[str], kind: str = "user") -> AccountFacts:
    privileges, roles = parse_grants(lines)
    return AccountFacts("mysql", f"'{user}'@'{host}'", user, host, kind, privileges=privileges, roles=roles)


def test_mysql_grants_read_back_as_show_grants_writes_them():
    lines = [
        "GRANT RELOAD, PROCESS ON *.* TO `app`@`%` WITH GRANT OPTION",
        "GRANT SELECT, INSERT ON `shop`.* TO `app`@`%`",
        "GRANT UPDATE (`id`) ON `shop`.`orders` TO `app`@`%`",
        "GRANT EXECUTE ON PROCEDURE `shop`.`refund` TO `app`@`%`",
        "GRANT PROXY ON `root`@`localhost` TO `app`@`%`",
        "GRANT `reporting` TO `app`@`%`",
    ]
    assert statements(mysql_account("app", "%", lines)) == [
        "GRANT PROCESS, RELOAD ON *.* TO 'app'@'%' WITH GRANT OPTION",
        "GRANT INSERT, SELECT ON `shop`.* TO 'app'@'%'",
        "GRANT UPDATE (`id`) ON `shop`.`orders` TO 'app'@'%'",
        "GRANT EXECUTE ON PROCEDURE `shop`.`refund` TO 'app'@'%'",
        "GRANT PROXY ON 'root'@'localhost' TO 'app'@'%'",
        "GRANT `reporting` TO 'app'@'%'",
    ]


def test_a_mysql_account_without_global_privileges_still_has_its_usage_line_and_names_are_quoted():
    account = mysql_account("o'neil", "10.0.%", ["GRANT SELECT ON `we``ird`.* TO `o'neil`@`10.0.%`"])
    assert statements(account) == [
        "GRANT USAGE ON *.* TO 'o\\'neil'@'10.0.%'",
        "GRANT SELECT ON `we``ird`.* TO 'o\\'neil'@'10.0.%'",
    ]


def test_a_mariadb_role_is_granted_to_by_its_bare_name():
    privileges, _ = parse_grants(["GRANT DELETE ON `shop`.* TO `cleaner`"])
    role = AccountFacts("mysql", "cleaner", "cleaner", "", "role", privileges=privileges)
    assert statements(role) == ["GRANT USAGE ON *.* TO `cleaner`", "GRANT DELETE ON `shop`.* TO `cleaner`"]


def test_postgresql_roles_read_as_alter_role_memberships_and_database_grants():
    account = AccountFacts(
        "postgresql",
        "Admin",
        "Admin",
        attributes={
            "superuser": True,
            "login": True,
            "replication": False,
            "inherit": False,
            "connection_limit": 5,
            "valid_until": "2030-01-01T00:00:00+00:00",
        },
        privileges={
            "databases": {"shop": ["CONNECT", "CREATE WITH GRANT OPTION", "TEMPORARY"]},
            "owner_of": ["shop"],
        },
        roles=["readers", "user"],
    )
    assert statements(account) == [
        'ALTER ROLE "Admin" WITH SUPERUSER LOGIN NOINHERIT CONNECTION LIMIT 5 '
        "VALID UNTIL '2030-01-01T00:00:00+00:00'",
        'GRANT readers TO "Admin"',
        'GRANT "user" TO "Admin"',
        'GRANT CONNECT, TEMPORARY ON DATABASE shop TO "Admin"',
        'GRANT CREATE ON DATABASE shop TO "Admin" WITH GRANT OPTION',
        'ALTER DATABASE shop OWNER TO "Admin"',
    ]


def test_a_plain_postgresql_role_has_no_alter_role_line():
    plain = {"superuser": False, "login": False, "inherit": True, "connection_limit": -1, "valid_until": None}
    assert statements(AccountFacts("postgresql", "r", "r", attributes=plain)) == []


def test_oracle_privileges_with_admin_option_and_roles_read_as_grants():
    account = AccountFacts(
        "oracle",
        "APP",
        "APP",
        privileges={"system": ["CREATE SESSION", "DBA WITH ADMIN OPTION"]},
        roles=["CONNECT"],
    )
    assert statements(account) == [
        'GRANT CREATE SESSION TO "APP"',
        'GRANT DBA TO "APP" WITH ADMIN OPTION',
        'GRANT CONNECT TO "APP"',
    ]


def test_sql_server_logins_read_as_grants_role_memberships_and_each_databases_user():
    login = AccountFacts(
        "sqlserver",
        "app]x",
        "app]x",
        kind="login",
        privileges={
            "server": ["VIEW SERVER STATE WITH GRANT OPTION", "DENY ALTER ANY LOGIN"],
            "databases": {"shop": {"user": "app", "roles": ["db_datareader"], "permissions": ["EXECUTE"]}},
        },
        roles=["sysadmin"],
    )
    assert statements(login) == [
        "GRANT VIEW SERVER STATE TO [app]]x] WITH GRANT OPTION",
        "DENY ALTER ANY LOGIN TO [app]]x]",
        "ALTER SERVER ROLE [sysadmin] ADD MEMBER [app]]x]",
        "USE [shop]; ALTER ROLE [db_datareader] ADD MEMBER [app]",
        "USE [shop]; GRANT EXECUTE TO [app]",
    ]
    orphan = AccountFacts(
        "sqlserver",
        "shop\\ghost",
        "ghost",
        kind="database_user",
        privileges={"databases": {"shop": {"user": "ghost", "roles": ["db_owner"], "permissions": []}}},
        roles=["db_owner"],
    )
    assert statements(orphan) == ["USE [shop]; ALTER ROLE [db_owner] ADD MEMBER [ghost]"]


def test_attributes_at_their_defaults_are_noise_and_changed_ones_are_kept():
    mysql = {
        "plugin": "mysql_native_password",
        "max_statement_time": "0.000000",
        "max_connections": 0,
        "password_expired": False,
        "max_user_connections": 10,
        "ssl_type": "ANY",
    }
    assert notable_attributes("mysql", mysql) == {"max_user_connections": 10, "ssl_type": "ANY"}
    assert notable_attributes("mysql", {"plugin": "unix_socket"}) == {"plugin": "unix_socket"}
    pg = {"superuser": False, "inherit": True, "connection_limit": -1, "bypassrls": True, "valid_until": None}
    assert notable_attributes("postgresql", pg) == {"bypassrls": True}
    assert notable_attributes("oracle", {"profile": "DEFAULT"}) == {"profile": "DEFAULT"}
