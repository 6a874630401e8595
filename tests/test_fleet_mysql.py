"""MariaDB as a fleet instance: accounts, privileges and their diffs, sizes — against the real server."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.fleet_support import MARIADB, context, mariadb_server, register  # noqa: F401  (fixture)
from whalefall.models.fleet import AccountChange, DatabaseInventory, DatabaseSize, InstanceAccount
from whalefall.services import fleet_sizes
from whalefall.tasks import collect_database_sizes, sync_accounts

pytestmark = pytest.mark.mariadb


def accounts(rt, instance_id: int, prefix: str) -> dict[str, InstanceAccount]:
    with rt.db.read() as session:
        rows = session.scalars(select(InstanceAccount).where(InstanceAccount.instance_id == instance_id))
        return {r.account_key: r for r in rows if r.username.startswith(prefix)}


def changes(rt, instance_id: int, prefix: str) -> list[tuple[str, str, dict]]:
    with rt.db.read() as session:
        rows = session.scalars(
            select(AccountChange).where(AccountChange.instance_id == instance_id).order_by(AccountChange.id)
        )
        return [(r.change_type, r.account_key, r.diff) for r in rows if r.username.startswith(prefix)]


def test_accounts_privileges_and_their_changes_are_synced_from_mariadb(runtime, mariadb):
    p = mariadb.prefix
    app, role, db = f"{p}_app", f"{p}_role", f"{p}_db"
    mariadb.run(
        f"CREATE DATABASE `{db}`",
        f"CREATE TABLE `{db}`.t (id INT)",
        f"CREATE USER `{app}`@'%' IDENTIFIED BY 'Secret-pw-1'",
        f"CREATE USER `{p}_admin`@'localhost' IDENTIFIED BY 'Secret-pw-2'",
        f"GRANT ALL PRIVILEGES ON *.* TO `{p}_admin`@'localhost' WITH GRANT OPTION",
        f"GRANT SELECT, INSERT ON `{db}`.* TO `{app}`@'%'",
        f"GRANT UPDATE (id) ON `{db}`.t TO `{app}`@'%'",
        f"CREATE ROLE `{role}`",
        f"GRANT DELETE ON `{db}`.* TO `{role}`",
        f"GRANT `{role}` TO `{app}`@'%'",
    )
    iid = register(runtime, "maria", "mysql", MARIADB)

    result = sync_accounts.run(context(runtime))
    assert result.startswith("成功 1 个，失败 0 个")
    found = accounts(runtime, iid, p)
    user = found[f"'{app}'@'%'"]
    assert user.kind == "user" and user.host == "%" and not user.is_superuser and not user.is_locked
    assert user.privileges["databases"][db] == ["INSERT", "SELECT"]
    assert user.privileges["tables"][f"{db}.t"] == ["UPDATE (`id`)"]
    assert user.roles == [role]
    assert user.attributes["plugin"] == "mysql_native_password"
    assert found[f"'{p}_admin'@'localhost'"].is_superuser
    assert "GRANT OPTION" in found[f"'{p}_admin'@'localhost'"].privileges["global"]
    assert found[role].kind == "role" and found[role].privileges["databases"][db] == ["DELETE"]
    assert not any("mariadb.sys" in k for k in accounts(runtime, iid, "mariadb"))  # system accounts excluded
    added = changes(runtime, iid, p)
    assert sorted(c[1] for c in added) == sorted(found) and {c[0] for c in added} == {"added"}

    # Grant something, revoke something, lock one, drop one; then sync again.
    mariadb.run(
        f"GRANT CREATE ON `{db}`.* TO `{app}`@'%'",
        f"REVOKE INSERT ON `{db}`.* FROM `{app}`@'%'",
        f"ALTER USER `{p}_admin`@'localhost' ACCOUNT LOCK",
    )
    mariadb.run(f"DROP ROLE `{role}`")
    sync_accounts.run(context(runtime))
    found = accounts(runtime, iid, p)
    assert found[f"'{app}'@'%'"].privileges["databases"][db] == ["CREATE", "SELECT"]
    assert found[f"'{p}_admin'@'localhost'"].is_locked
    assert found[role].is_deleted and found[role].deleted_at is not None
    later = changes(runtime, iid, p)[len(added) :]
    by_key = {key: (kind, diff) for kind, key, diff in later}
    kind, diff = by_key[f"'{app}'@'%'"]
    assert kind == "changed"
    assert diff["privileges"] == {
        "added": [f"databases.{db}: CREATE"],
        "removed": [f"databases.{db}: INSERT"],
    }
    assert diff["roles"] == {"added": [], "removed": [role]}
    kind, diff = by_key[f"'{p}_admin'@'localhost'"]
    assert diff["is_locked"] == {"before": False, "after": True}
    assert by_key[role][0] == "removed"

    # Nothing changed: nothing recorded.
    before = len(changes(runtime, iid, p))
    sync_accounts.run(context(runtime))
    assert len(changes(runtime, iid, p)) == before


def test_configured_exclusions_leave_accounts_out(runtime, mariadb):
    p = mariadb.prefix
    mariadb.run(f"CREATE USER `{p}_keep`@'%'", f"CREATE USER `{p}_skip`@'%'")
    iid = register(runtime, "maria", "mysql", MARIADB)
    runtime.settings.fleet_account_exclude = f"mysql:{p}_sk*,postgresql:{p}_keep"
    sync_accounts.run(context(runtime))
    assert set(accounts(runtime, iid, p)) == {f"'{p}_keep'@'%'"}


def test_sizes_are_collected_per_database_and_grow_with_data(runtime, mariadb):
    p = mariadb.prefix
    db = f"{p}_sizes"
    mariadb.run(
        f"CREATE DATABASE `{db}`",
        f"CREATE DATABASE `{p}_empty`",
        f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY AUTO_INCREMENT, pad VARCHAR(1000)) ENGINE=InnoDB",
    )
    iid = register(runtime, "maria", "mysql", MARIADB)
    assert collect_database_sizes.run(context(runtime)).startswith("成功 1 个")
    day = fleet_sizes.business_date(runtime)

    def size_of(name: str) -> int:
        with runtime.db.read() as session:
            return session.get(DatabaseSize, (iid, name, day)).size_bytes

    first = size_of(db)
    assert size_of(f"{p}_empty") == 0
    mariadb.run(
        f"INSERT INTO `{db}`.t (pad) SELECT REPEAT('x', 1000) FROM seq_1_to_4000", f"ANALYZE TABLE `{db}`.t"
    )
    collect_database_sizes.run(context(runtime))  # the same day: overwrites
    assert size_of(db) > first + 2_000_000
    with runtime.db.read() as session:
        assert (
            session.scalar(select(DatabaseSize.size_bytes).where(DatabaseSize.database_name == "mysql"))
            is None
        )
        rows = session.scalars(
            select(DatabaseSize).where(DatabaseSize.instance_id == iid, DatabaseSize.database_name == db)
        ).all()
    assert len(rows) == 1

    mariadb.run(f"DROP DATABASE `{p}_empty`")
    collect_database_sizes.run(context(runtime))
    with runtime.db.read() as session:
        gone = session.scalar(
            select(DatabaseInventory).where(DatabaseInventory.database_name == f"{p}_empty")
        )
    assert gone.is_gone and gone.gone_date == day and gone.first_seen_date == day


def test_an_account_dropped_while_the_accounts_are_read_is_skipped_not_a_failed_sync(mariadb):
    """mysql.user is read once, then SHOW GRANTS per account: one dropped in between (another DBA,
    another tool) is simply not there to sync, and the others are."""
    from whalefall.fleet import open_adapter
    from whalefall.fleet.base import Target

    p = mariadb.prefix
    mariadb.run(
        f"CREATE USER `{p}_gone`@'%' IDENTIFIED BY 'Secret-pw-1'",
        f"CREATE USER `{p}_kept`@'%' IDENTIFIED BY 'Secret-pw-2'",
    )
    target = Target("mysql", MARIADB.host, MARIADB.port or 3306, "", MARIADB.username, MARIADB.password or "")
    with open_adapter(target) as adapter:
        read = adapter.dict_rows

        def read_then_drop(sql, params=None):
            rows = read(sql, params)
            if "mysql.user" in sql:
                mariadb.run(f"DROP USER `{p}_gone`@'%'")  # after the read, before its grants
            return rows

        adapter.dict_rows = read_then_drop
        names = {a.username for a in adapter.accounts()}
    assert f"{p}_kept" in names and f"{p}_gone" not in names
