"""The account risk report and the fleet's CSV exports, against the real MariaDB and PostgreSQL.

Each test creates risky accounts under its own prefix, runs ``sync_accounts``
for real, then reads the risks through the API.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from tests.fleet_support import (  # noqa: F401  (fixtures)
    MARIADB,
    POSTGRES,
    context,
    mariadb_server,
    postgres_server,
    register,
)
from whalefall import clock
from whalefall.fleet.base import DatabaseSize
from whalefall.services import fleet_capacity, fleet_risks, fleet_sizes
from whalefall.tasks import sync_accounts

BASE = "/scheduler/api"


def risks_by_account(client, headers, path: str, prefix: str, **params) -> dict[str, set[str]]:
    response = client.get(f"{BASE}{path}", query_string=params, headers=headers)
    assert response.status_code == 200, response.get_json()
    found: dict[str, set[str]] = {}
    for risk in response.get_json()["data"]["risks"]:
        if risk["username"].startswith(prefix):
            found.setdefault(risk["account"], set()).add(risk["risk"])
    return found


def synced(runtime, name: str, db_type: str, url) -> int:
    """Register the server as an instance and run ``sync_accounts`` on it; its id."""
    iid = register(runtime, name, db_type, url)
    assert sync_accounts.run(context(runtime)).startswith("成功 1 个，失败 0 个")
    return iid


def read_csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


@pytest.mark.mariadb
def test_mariadb_accounts_with_wildcard_rights_all_privileges_or_no_password_are_reported(
    client, bearer, runtime, mariadb
):
    p = mariadb.prefix
    db = f"{p}_db"
    mariadb.run(
        f"CREATE DATABASE `{db}`",
        f"CREATE USER `{p}_all`@'%' IDENTIFIED BY 'Secret-pw-1'",
        f"GRANT ALL PRIVILEGES ON `{db}`.* TO `{p}_all`@'%' WITH GRANT OPTION",
        f"CREATE USER `{p}_reader`@'%' IDENTIFIED BY 'Secret-pw-2'",
        f"GRANT SELECT ON `{db}`.* TO `{p}_reader`@'%'",
        f"CREATE USER `{p}_nopw`@'localhost'",  # MariaDB allows an account without a password
        f"CREATE USER `{p}_old`@'localhost' IDENTIFIED BY 'Secret-pw-3' PASSWORD EXPIRE",
        f"CREATE USER `{p}_locked`@'localhost' IDENTIFIED BY 'Secret-pw-4' ACCOUNT LOCK",
        f"CREATE ROLE `{p}_power`",
        f"GRANT ALL PRIVILEGES ON `{db}`.* TO `{p}_power`",
        f"CREATE USER `{p}_member`@'%' IDENTIFIED BY 'Secret-pw-5'",
        f"GRANT `{p}_power` TO `{p}_member`@'%'",
    )
    iid = synced(runtime, "maria", "mysql", MARIADB)
    viewer = bearer("viewer")

    found = risks_by_account(client, viewer, f"/instances/{iid}/risks", p)
    assert found[f"'{p}_all'@'%'"] == {"all_privileges", "grant_option", "wildcard_host", "recently_added"}
    assert found[f"'{p}_reader'@'%'"] == {"recently_added"}  # reading from anywhere is no write right
    assert found[f"'{p}_nopw'@'localhost'"] == {"no_password", "recently_added"}
    assert found[f"'{p}_old'@'localhost'"] == {"password_expired", "recently_added"}
    assert found[f"'{p}_locked'@'localhost'"] == {"locked", "recently_added"}
    # Rights held through a granted role count as the account's own.
    assert found[f"'{p}_member'@'%'"] == {"all_privileges", "wildcard_host", "recently_added"}

    english = client.get(
        f"{BASE}/account-risks", query_string={"kind": "wildcard_host", "lang": "en"}, headers=viewer
    ).get_json()["data"]
    mine = [r for r in english["risks"] if r["username"].startswith(p)]
    assert [(r["account"], r["severity"], r["instance"]) for r in mine] == [
        (f"'{p}_all'@'%'", "high", "maria"),
        (f"'{p}_member'@'%'", "high", "maria"),
    ]
    assert (
        mine[0]["text"].startswith("Wildcard host % with write or admin rights: ")
        and "ALL PRIVILEGES" in mine[0]["text"]
    )
    assert english["by_severity"]["high"] == english["total"]

    rows = read_csv(client.get(f"{BASE}/instances/{iid}/risks?format=csv&severity=high", headers=viewer))
    assert {(r["account"], r["risk"]) for r in rows if p in r["account"]} == {
        (f"'{p}_all'@'%'", "all_privileges"),
        (f"'{p}_all'@'%'", "wildcard_host"),
        (f"'{p}_nopw'@'localhost'", "no_password"),
        (f"'{p}_member'@'%'", "all_privileges"),
        (f"'{p}_member'@'%'", "wildcard_host"),
        (f"{p}_power", "all_privileges"),
    }
    assert all(r["description"] for r in rows)

    accounts = read_csv(client.get(f"{BASE}/instances/{iid}/accounts?format=csv&q={p}_all", headers=viewer))
    assert [a["account"] for a in accounts] == [f"'{p}_all'@'%'"]
    assert accounts[0]["grants"].splitlines() == [
        f"GRANT USAGE ON *.* TO '{p}_all'@'%'",
        f"GRANT ALL PRIVILEGES ON `{db}`.* TO '{p}_all'@'%' WITH GRANT OPTION",
    ]
    assert "Secret" not in client.get(f"{BASE}/instances/{iid}/accounts?format=csv", headers=viewer).get_data(
        as_text=True
    )


@pytest.mark.postgres
def test_postgresql_superusers_bypassrls_replication_and_passwordless_roles_are_reported(
    client, bearer, runtime, postgres
):
    p = postgres.prefix
    db = f"{p}_db"
    postgres.run(
        f"""CREATE ROLE "{p}_su" LOGIN SUPERUSER PASSWORD 'pw-Secret-1'""",
        f'CREATE ROLE "{p}_rls" NOLOGIN BYPASSRLS',
        f"""CREATE ROLE "{p}_rep" LOGIN REPLICATION PASSWORD 'pw-Secret-2'""",
        f'CREATE ROLE "{p}_nopw" LOGIN',
        f"""CREATE ROLE "{p}_exp" LOGIN PASSWORD 'pw-Secret-3' VALID UNTIL '2001-01-01'""",
        f"""CREATE ROLE "{p}_ok" LOGIN PASSWORD 'pw-Secret-4'""",
        f'CREATE DATABASE "{db}"',
        f'GRANT CREATE ON DATABASE "{db}" TO "{p}_ok" WITH GRANT OPTION',
        f"""CREATE ROLE "{p}_member" LOGIN PASSWORD 'pw-Secret-5'""",
        f'GRANT "{p}_su", "{p}_ok" TO "{p}_member"',
    )
    iid = synced(runtime, "pg", "postgresql", POSTGRES)
    viewer = bearer("viewer")

    found = risks_by_account(client, viewer, f"/instances/{iid}/risks", p)
    assert found[f"{p}_su"] == {"superuser", "recently_added"}
    assert found[f"{p}_rls"] == {"bypassrls", "recently_added"}
    assert found[f"{p}_rep"] == {"replication", "recently_added"}
    assert found[f"{p}_nopw"] == {"no_password", "recently_added"}
    assert found[f"{p}_exp"] == {"password_expired", "recently_added"}
    assert found[f"{p}_ok"] == {"grant_option", "recently_added"}
    # A member inherits database privileges, never SUPERUSER.
    assert found[f"{p}_member"] == {"grant_option", "recently_added"}

    # A month on, nothing is recent any more; with ?days=60 it still is.
    later = clock.now() + timedelta(days=30)
    with runtime.db.read() as session:
        month_on = fleet_risks.report(session, instance_id=iid, recent_days=7, now=later)
        wide = fleet_risks.report(session, instance_id=iid, recent_days=60, now=later, kind="recently_added")
    assert not any(r["risk"] == "recently_added" for r in month_on)
    assert {r["account"] for r in wide if r["username"].startswith(p)} == {
        f"{p}_{n}" for n in ("su", "rls", "rep", "nopw", "exp", "ok", "member")
    }

    accounts = read_csv(client.get(f"{BASE}/instances/{iid}/accounts?format=csv&q={p}_su", headers=viewer))
    assert accounts[0]["grants"].splitlines()[0] == f"ALTER ROLE {p}_su WITH SUPERUSER LOGIN"


def test_risk_filters_are_checked_and_an_unknown_instance_is_a_404(client, bearer):
    viewer = bearer("viewer")
    bad = client.get(f"{BASE}/account-risks?kind=everything", headers=viewer)
    assert bad.status_code == 400 and "kind" in bad.get_json()["errors"]
    assert client.get(f"{BASE}/account-risks?days=0", headers=viewer).status_code == 400
    assert client.get(f"{BASE}/instances/999/risks", headers=viewer).status_code == 404
    assert client.get(f"{BASE}/account-risks").status_code == 401
    empty = client.get(f"{BASE}/account-risks", headers=viewer).get_json()["data"]
    assert empty["risks"] == [] and empty["by_severity"] == {"high": 0, "medium": 0, "low": 0}


def test_the_capacity_series_exports_as_csv_one_row_per_point(client, bearer, runtime):
    iid = register(runtime, "=cmd|' /C calc'!A0", "mysql", MARIADB, host="db.example")
    for day, size in ((date(2026, 3, 2), 1000), (date(2026, 3, 3), 1500)):
        fleet_sizes.store(runtime, iid, [DatabaseSize("shop", size)], day)
        fleet_capacity.aggregate(runtime, iid, day, ("daily",))
    viewer = bearer("viewer")

    rows = read_csv(client.get(f"{BASE}/capacity?format=csv&instance_id={iid}", headers=viewer))
    assert [(r["period_start"], r["avg_bytes"], r["database"]) for r in rows] == [
        ("2026-03-02", "1000", ""),
        ("2026-03-03", "1500", ""),
    ]
    assert rows[0]["instance"] == "'=cmd|' /C calc'!A0"  # a spreadsheet reads it as text, not a formula
    one = read_csv(client.get(f"{BASE}/capacity?format=csv&instance_id={iid}&database=shop", headers=viewer))
    assert [r["database"] for r in one] == ["shop", "shop"] and one[1]["change_bytes"] == "500"
    refused = client.get(f"{BASE}/capacity?format=csv&database=shop", headers=viewer)
    assert refused.status_code == 400 and "instance_id" in refused.get_json()["errors"]
    assert client.get(f"{BASE}/capacity?format=xlsx", headers=viewer).status_code == 400
