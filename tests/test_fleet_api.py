"""The fleet API: instances (viewer reads, admin writes), test connection, and the read endpoints."""

from __future__ import annotations

from sqlalchemy import select

from tests.fleet_support import MARIADB, context, mariadb_server  # noqa: F401  (fixture)
from whalefall.models import AuditEntry
from whalefall.models.fleet import Instance
from whalefall.tasks import collect_database_sizes, sync_accounts

BASE = "/scheduler/api"
NEW = {
    "name": "orders-primary",
    "db_type": "mysql",
    "host": "10.0.0.5",
    "username": "monitor",
    "password": "Sup3r-secret",
    "tags": ["prod", "orders"],
    "description": "订单主库",
}


def create(client, headers, **fields):
    return client.post(f"{BASE}/instances", json={**NEW, **fields}, headers=headers)


def test_an_admin_creates_changes_and_deletes_an_instance_and_every_change_is_audited(
    client, bearer, runtime
):
    admin = bearer("admin")
    response = create(client, admin)
    assert response.status_code == 200, response.get_json()
    data = response.get_json()["data"]
    assert data["port"] == 3306 and data["database"] == "" and data["is_active"] is True
    assert data["has_password"] is True and "password" not in data and "password_encrypted" not in data
    assert data["tags"] == ["prod", "orders"] and data["connection"]["ok"] is None
    iid = data["id"]

    changed = client.put(
        f"{BASE}/instances/{iid}",
        json={"is_active": False, "port": 3307, "password": "N3w-secret"},
        headers=admin,
    ).get_json()["data"]
    assert changed["is_active"] is False and changed["port"] == 3307 and changed["name"] == "orders-primary"
    listed = client.get(f"{BASE}/instances?is_active=false&tag=prod", headers=bearer("viewer")).get_json()[
        "data"
    ]
    assert listed["total"] == 1 and listed["instances"][0]["account_count"] == 0

    assert client.delete(f"{BASE}/instances/{iid}", headers=admin).status_code == 200
    assert client.get(f"{BASE}/instances/{iid}", headers=admin).status_code == 404
    with runtime.db.read() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.target_type == "instance").order_by(AuditEntry.id)
        ).all()
    assert [e.action for e in entries] == ["instance.create", "instance.update", "instance.delete"]
    assert entries[1].detail["changes"]["password"] == {"changed": True}
    assert not any("secret" in str(e.detail) for e in entries)


def test_bad_input_names_the_field_unknown_ids_are_404_and_names_are_unique(client, bearer):
    admin = bearer("admin")
    for fields, field in [
        ({"db_type": "db2"}, "db_type"),
        ({"port": 70000}, "port"),
        ({"name": " "}, "name"),
        ({"host": "a b"}, "host"),
        ({"color": "red"}, "color"),
        ({"tags": ["x" * 65]}, "tags"),
    ]:
        response = create(client, admin, **fields)
        assert response.status_code == 400 and field in response.get_json()["errors"], (
            fields,
            response.get_json(),
        )
    response = create(client, admin, db_type="oracle")
    assert response.status_code == 400 and "database" in response.get_json()["errors"]
    assert create(client, admin).status_code == 200
    response = create(client, admin, host="10.0.0.6")
    assert response.status_code == 409 and response.get_json()["errors"] == {
        "name": response.get_json()["message"]
    }
    other = create(client, admin, name="other").get_json()["data"]["id"]
    assert (
        client.put(f"{BASE}/instances/{other}", json={"name": "orders-primary"}, headers=admin).status_code
        == 409
    )
    for path in (
        "/instances/999",
        "/instances/999/accounts",
        "/instances/999/account-changes",
        "/instances/999/databases",
        "/sync-sessions/999",
        "/capacity?instance_id=999",
    ):
        assert client.get(BASE + path, headers=admin).status_code == 404, path
    assert client.get(f"{BASE}/capacity?period=yearly", headers=admin).status_code == 400
    assert client.get(f"{BASE}/capacity?database=x", headers=admin).status_code == 400


def test_viewers_read_operators_test_and_only_admins_write(client, bearer, runtime):
    iid = create(client, bearer("admin"), port=1, host="127.0.0.1").get_json()["data"]["id"]
    viewer, operator = bearer("viewer"), bearer("operator")
    assert client.get(f"{BASE}/instances", headers=viewer).status_code == 200
    assert create(client, operator, name="nope").status_code == 403
    assert client.put(f"{BASE}/instances/{iid}", json={"port": 2}, headers=operator).status_code == 403
    assert client.delete(f"{BASE}/instances/{iid}", headers=operator).status_code == 403
    assert client.post(f"{BASE}/instances/{iid}/test", headers=viewer).status_code == 403
    assert client.post(f"{BASE}/instances/test", json=NEW, headers=operator).status_code == 403
    result = client.post(f"{BASE}/instances/{iid}/test", headers=operator).get_json()
    assert result["data"]["connected"] is False and "Can't connect" in result["message"]
    assert client.get(f"{BASE}/instances").status_code == 401


def test_test_connection_reports_the_server_version_and_becomes_the_status(client, bearer, mariadb):
    admin = bearer("admin")
    iid = create(
        client, admin, name="maria", host="127.0.0.1", port=MARIADB.port or 3306, username="root", password=""
    ).get_json()["data"]["id"]
    result = client.post(f"{BASE}/instances/{iid}/test", headers=admin).get_json()["data"]
    assert (
        result["connected"] is True
        and result["version"].startswith("MariaDB 10.")
        and result["error"] is None
    )
    shown = client.get(f"{BASE}/instances/{iid}", headers=admin).get_json()["data"]
    assert shown["connection"]["ok"] is True and shown["connection"]["version"] == result["version"]
    unsaved = client.post(
        f"{BASE}/instances/test", json={"instance_id": iid, "port": 1}, headers=admin
    ).get_json()
    assert unsaved["data"]["connected"] is False


def test_the_read_endpoints_show_accounts_changes_databases_sessions_and_partitions(
    client, bearer, runtime, mariadb
):
    admin, viewer = bearer("admin"), bearer("viewer")
    p = mariadb.prefix
    mariadb.run(
        f"CREATE DATABASE `{p}_db`", f"CREATE USER `{p}_u`@'%'", f"GRANT SELECT ON `{p}_db`.* TO `{p}_u`@'%'"
    )
    iid = create(client, admin, name="maria", host="127.0.0.1", username="root", password="").get_json()[
        "data"
    ]["id"]
    sync_accounts.run(context(runtime))
    collect_database_sizes.run(context(runtime))

    accounts = client.get(f"{BASE}/instances/{iid}/accounts?q={p}", headers=viewer).get_json()["data"]
    assert accounts["total"] == 1
    assert accounts["accounts"][0]["privileges"] == {"databases": {f"{p}_db": ["SELECT"]}}
    changes = client.get(
        f"{BASE}/instances/{iid}/account-changes?change_type=added&account='{p}_u'@'%'", headers=viewer
    ).get_json()["data"]
    assert changes["total"] == 1 and changes["changes"][0]["diff"]["after"]["roles"] == []
    databases = client.get(f"{BASE}/instances/{iid}/databases?q={p}", headers=viewer).get_json()["data"]
    assert [d["name"] for d in databases["databases"]] == [f"{p}_db"] and databases["databases"][0][
        "size_bytes"
    ] == 0
    sessions = client.get(f"{BASE}/sync-sessions?task=sync_accounts", headers=viewer).get_json()["data"]
    assert sessions["total"] == 1 and sessions["sessions"][0]["status"] == "success"
    detail = client.get(f"{BASE}/sync-sessions/{sessions['sessions'][0]['id']}", headers=viewer).get_json()[
        "data"
    ]
    assert (
        detail["instances"][0]["instance_name"] == "maria" and detail["instances"][0]["counts"]["added"] >= 1
    )
    listed = client.get(f"{BASE}/instances", headers=viewer).get_json()["data"]["instances"][0]
    assert (
        listed["account_count"] >= 1 and listed["database_count"] >= 1 and listed["connection"]["ok"] is True
    )
    capacity = client.get(f"{BASE}/capacity?instance_id={iid}&period=weekly", headers=viewer).get_json()[
        "data"
    ]
    assert capacity["series"] == [] and capacity["largest"] == []  # nothing aggregated yet
    partitions = client.get(f"{BASE}/partitions", headers=viewer).get_json()
    assert partitions["data"]["status"] == "not_applicable"
    with runtime.db.read() as session:
        assert session.scalar(select(Instance.last_contact_ok)) is True


def test_the_openapi_document_lists_the_fleet_endpoints(client):
    paths = client.get(f"{BASE}/openapi.json").get_json()["paths"]
    for path in (
        "/instances",
        "/instances/{instance_id}",
        "/instances/{instance_id}/test",
        "/capacity",
        "/instances/{instance_id}/accounts",
        "/sync-sessions/{session_id}",
        "/partitions",
    ):
        assert BASE + path in paths
    assert "InstanceCreate" in str(paths[f"{BASE}/instances"]["post"]["requestBody"])


def test_changing_the_engine_brings_its_default_port_unless_one_was_chosen(client, bearer):
    admin = bearer("admin")
    iid = create(client, admin).get_json()["data"]["id"]
    again = {"password": NEW["password"]}  # a new engine or port needs the password again
    data = client.put(
        f"{BASE}/instances/{iid}", json={"db_type": "postgresql", **again}, headers=admin
    ).get_json()["data"]
    assert (data["port"], data["database"]) == (5432, "postgres")
    data = client.put(f"{BASE}/instances/{iid}", json={"port": 6432, **again}, headers=admin).get_json()[
        "data"
    ]
    data = client.put(
        f"{BASE}/instances/{iid}", json={"db_type": "sqlserver", **again}, headers=admin
    ).get_json()["data"]
    assert (data["port"], data["database"]) == (6432, "master")
