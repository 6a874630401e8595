"""What counts as an account risk, on stored forms written here: the pure rules of domain.accountrisk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from whalefall.domain.accountrisk import AccountFacts, RiskKind, assess, with_granted_roles

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=400)


def kinds(**fields) -> list[str]:
    facts = AccountFacts(
        **{
            "db_type": "mysql",
            "key": "k",
            "username": "u",
            "first_seen_at": LONG_AGO,
            "last_changed_at": LONG_AGO,
        }
        | fields
    )
    return [r.kind.value for r in assess(facts, NOW)]


def test_a_column_privilege_on_a_subnet_wildcard_host_is_a_write_right():
    privileges = {"tables": {"shop.orders": ["SELECT", "UPDATE (`status`)"]}}
    assert kinds(host="10.0.%", privileges=privileges) == ["wildcard_host"]
    assert kinds(host="10.0.0.7", privileges=privileges) == []
    assert kinds(host="%", privileges={"databases": {"shop": ["SELECT", "SHOW VIEW"]}}) == []


def test_risks_come_most_severe_first():
    found = kinds(
        host="%", is_superuser=True, is_locked=True, privileges={"global": ["ALL PRIVILEGES", "GRANT OPTION"]}
    )
    assert found == ["superuser", "all_privileges", "wildcard_host", "grant_option", "locked"]


def test_a_role_without_a_password_is_no_risk_but_a_user_without_one_is():
    assert kinds(kind="role", attributes={"password_empty": True}) == []
    assert kinds(attributes={"password_empty": True}) == ["no_password"]


def test_postgresql_expiry_is_read_against_now_and_its_superusers_are_not_told_twice():
    pg = {"db_type": "postgresql", "is_locked": True}
    assert kinds(**pg, attributes={"valid_until": (NOW - timedelta(days=1)).isoformat()}) == [
        "password_expired"
    ]
    assert (
        kinds(db_type="postgresql", attributes={"valid_until": (NOW + timedelta(days=1)).isoformat()}) == []
    )
    assert kinds(
        db_type="postgresql", is_superuser=True, attributes={"bypassrls": True, "replication": True}
    ) == ["superuser"]


def test_oracle_admin_option_counts_as_the_right_to_grant():
    assert kinds(db_type="oracle", privileges={"system": ["CREATE USER WITH ADMIN OPTION"]}) == [
        "grant_option"
    ]


def test_recent_means_within_the_days_asked_for():
    assert kinds(first_seen_at=NOW - timedelta(days=2), last_changed_at=NOW - timedelta(days=2)) == [
        RiskKind.RECENTLY_ADDED.value
    ]
    assert kinds(last_changed_at=NOW - timedelta(days=6, hours=23)) == ["recently_changed"]
    assert kinds(last_changed_at=NOW - timedelta(days=7, seconds=1)) == []


def test_a_sql_server_permission_held_with_grant_option_in_a_database_is_found():
    entry = {"user": "app", "roles": ["db_owner"], "permissions": ["SELECT WITH GRANT OPTION"]}
    assert kinds(db_type="sqlserver", privileges={"databases": {"shop": entry}}) == ["grant_option"]


def test_roles_granted_in_a_circle_are_each_added_once():
    def role(key: str, roles: list[str], privileges: dict) -> AccountFacts:
        return AccountFacts(
            "mysql", key, key.split("@")[0].strip("'"), kind="role", privileges=privileges, roles=roles
        )

    accounts = {
        "a": role("a", ["b@%"], {"databases": {"shop": ["SELECT"]}}),
        "'b'@'%'": role("'b'@'%'", ["a"], {"databases": {"shop": ["ALL PRIVILEGES"]}}),
    }
    user = AccountFacts("mysql", "'u'@'%'", "u", "%", roles=["a"], privileges={"global": ["PROCESS"]})
    seen = with_granted_roles(user, accounts)
    assert seen.privileges == {"global": ["PROCESS"], "databases": {"shop": ["ALL PRIVILEGES", "SELECT"]}}
    assert with_granted_roles(AccountFacts("mysql", "x", "x"), accounts).privileges == {}
