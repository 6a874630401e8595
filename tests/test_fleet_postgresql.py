"""PostgreSQL as a fleet instance: roles, attributes, memberships, database privileges, sizes — for real."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.fleet_support import POSTGRES, context, postgres_server, register  # noqa: F401  (fixture)
from whalefall.models.fleet import AccountChange, DatabaseSize, InstanceAccount, SyncSessionInstance
from whalefall.services import fleet_sizes
from whalefall.tasks import collect_database_sizes, sync_accounts

pytestmark = pytest.mark.postgres


def roles(rt, instance_id: int, prefix: str) -> dict[str, InstanceAccount]:
    with rt.db.read() as session:
        rows = session.scalars(select(InstanceAccount).where(InstanceAccount.instance_id == instance_id))
        return {r.account_key: r for r in rows if r.username.startswith(prefix)}


def test_roles_attributes_memberships_and_database_privileges_are_synced(runtime, postgres):
    p = postgres.prefix
    app, group, db = f"{p}_app", f"{p}_grp", f"{p}_db"
    postgres.run(
        f'CREATE ROLE "{group}" NOLOGIN CREATEDB',
        f"""CREATE ROLE "{app}" LOGIN PASSWORD 'pw-Secret-1' VALID UNTIL '2099-01-01' CONNECTION LIMIT 5""",
        f'GRANT "{group}" TO "{app}"',
        f'CREATE DATABASE "{db}" OWNER "{group}"',
        f'GRANT CREATE, TEMPORARY ON DATABASE "{db}" TO "{app}"',
    )
    iid = register(runtime, "pg", "postgresql", POSTGRES)

    assert sync_accounts.run(context(runtime)).startswith("成功 1 个，失败 0 个")
    found = roles(runtime, iid, p)
    user = found[app]
    assert user.kind == "user" and user.can_login and not user.is_superuser and not user.is_locked
    assert user.attributes["connection_limit"] == 5 and user.attributes["valid_until"].startswith(
        "2099-01-01"
    )
    assert user.attributes["createdb"] is False and user.attributes["login"] is True
    assert user.roles == [group]
    assert user.privileges["databases"][db] == ["CREATE", "TEMPORARY"]
    assert found[group].kind == "role" and found[group].attributes["createdb"] is True
    assert found[group].privileges["owner_of"] == [db]
    assert set(found[group].privileges["databases"][db]) == {"CONNECT", "CREATE", "TEMPORARY"}
    assert not any(k.startswith("pg_") for k in roles(runtime, iid, "pg_"))  # predefined roles excluded
    with runtime.db.read() as session:
        details = session.scalar(
            select(SyncSessionInstance.details).where(SyncSessionInstance.instance_id == iid)
        )
    assert details["public_privileges"][db] == ["CONNECT", "TEMPORARY"]
    assert "postgres" in details["superusers"]

    # Revoke one privilege, grant another, make a superuser, expire one, drop one.
    postgres.run(
        f'REVOKE TEMPORARY ON DATABASE "{db}" FROM "{app}"',
        f'GRANT CONNECT ON DATABASE "{db}" TO "{app}"',
        f'REVOKE "{group}" FROM "{app}"',
        f"ALTER ROLE \"{app}\" SUPERUSER VALID UNTIL '2001-01-01'",
        f'CREATE ROLE "{p}_tmp"',
    )
    sync_accounts.run(context(runtime))
    postgres.run(f'DROP ROLE "{p}_tmp"')
    sync_accounts.run(context(runtime))
    found = roles(runtime, iid, p)
    assert found[app].is_superuser and found[app].is_locked and not found[app].can_login
    assert found[f"{p}_tmp"].is_deleted
    with runtime.db.read() as session:
        rows = session.scalars(
            select(AccountChange).where(
                AccountChange.account_key == app, AccountChange.change_type == "changed"
            )
        ).all()
    assert len(rows) == 1
    diff = rows[0].diff
    assert diff["privileges"] == {
        "added": [f"databases.{db}: CONNECT"],
        "removed": [f"databases.{db}: TEMPORARY"],
    }
    assert diff["roles"]["removed"] == [group]
    assert diff["is_superuser"] == {"before": False, "after": True}
    assert diff["attributes"]["superuser"] == {"before": False, "after": True}
    assert diff["attributes"]["valid_until"]["after"].startswith("2001-01-01")
    with runtime.db.read() as session:
        kinds = [
            c.change_type
            for c in session.scalars(
                select(AccountChange)
                .where(AccountChange.account_key == f"{p}_tmp")
                .order_by(AccountChange.id)
            )
        ]
    assert kinds == ["added", "removed"]


def test_database_sizes_come_from_pg_database_size_and_grow(runtime, postgres):
    db = f"{postgres.prefix}_sizes"
    postgres.run(f'CREATE DATABASE "{db}"')
    iid = register(runtime, "pg", "postgresql", POSTGRES)
    collect_database_sizes.run(context(runtime))
    day = fleet_sizes.business_date(runtime)
    with runtime.db.read() as session:
        first = session.get(DatabaseSize, (iid, db, day)).size_bytes
    postgres.on(db).run(
        "CREATE TABLE filler AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 20000) g"
    )
    collect_database_sizes.run(context(runtime))
    with runtime.db.read() as session:
        second = session.get(DatabaseSize, (iid, db, day)).size_bytes
        templates = session.scalar(select(DatabaseSize).where(DatabaseSize.database_name.like("template%")))
    assert second > first + 5_000_000
    assert templates is None


def test_a_database_the_login_may_not_measure_stays_in_the_inventory_without_a_size(runtime, postgres):
    p = postgres.prefix
    postgres.run(
        f"CREATE ROLE \"{p}_mon\" LOGIN PASSWORD 'Mon-pw-12'",
        f'CREATE DATABASE "{p}_open"',
        f'CREATE DATABASE "{p}_closed"',
        f'REVOKE CONNECT ON DATABASE "{p}_closed" FROM PUBLIC',
    )
    iid = register(runtime, "pg", "postgresql", POSTGRES, username=f"{p}_mon", password="Mon-pw-12")
    collect_database_sizes.run(context(runtime))
    day = fleet_sizes.business_date(runtime)
    from whalefall.models.fleet import DatabaseInventory

    with runtime.db.read() as session:
        closed = session.scalar(
            select(DatabaseInventory).where(DatabaseInventory.database_name == f"{p}_closed")
        )
        assert session.get(DatabaseSize, (iid, f"{p}_open", day)) is not None
        assert session.get(DatabaseSize, (iid, f"{p}_closed", day)) is None
        counts = session.scalar(select(SyncSessionInstance.counts))
    assert not closed.is_gone and closed.last_size_bytes is None
    assert counts["unmeasured"] >= 1
