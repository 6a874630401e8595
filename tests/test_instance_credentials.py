"""An instance's stored password goes only where it was saved for, and never in clear text.

Changing the host, port, engine or username needs the password again (an edit, or a test of
unsaved settings, could otherwise send the stored one to another server); every test of unsaved
settings is audited without the password; PostgreSQL connections refuse cleartext password
authentication (libpq ``require_auth=!password``) and MySQL ones refuse ``mysql_clear_password``
and ``dialog`` (PyMySQL's auth plugin map). The refusals are checked against servers on loopback
that ask for the password in clear text and record what they are sent.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import select

from tests.fleet_support import MARIADB, POSTGRES, mariadb_server, postgres_server  # noqa: F401  (fixtures)
from whalefall.fleet import open_adapter
from whalefall.fleet.base import Target
from whalefall.fleet.errors import FleetUnreachable
from whalefall.fleet.postgresql import LIBPQ_WITH_REQUIRE_AUTH
from whalefall.models import AuditEntry
from whalefall.models.fleet import Instance

BASE = "/scheduler/api"
SECRET = "St0red-secret"
STORED = {
    "name": "orders",
    "db_type": "postgresql",
    "host": "127.0.0.1",
    "port": 5432,
    "username": "monitor",
    "password": SECRET,
}


@pytest.fixture
def admin(bearer):
    return bearer("admin")


@pytest.fixture
def stored(client, admin) -> int:
    response = client.post(f"{BASE}/instances", json=STORED, headers=admin)
    assert response.status_code == 200, response.json
    return response.json["data"]["id"]


def row(runtime, instance_id: int) -> Instance:
    with runtime.db.read() as session:
        return session.get(Instance, instance_id)


def audit_entries(runtime, action: str) -> list[AuditEntry]:
    with runtime.db.read() as session:
        return list(
            session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
        )


# --- servers that ask for the password in clear text ----------------------------------------


class Listener:
    """A TCP server on loopback that answers one kind of client and records what it is sent."""

    def __init__(self, answer) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.connections = 0
        self._answer = answer
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.settimeout(5)
            with conn:
                try:
                    self._answer(conn, self.received)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()

    def heard(self, secret: str) -> bool:
        return any(secret.encode() in chunk for chunk in self.received)


def _rest(conn: socket.socket) -> bytes:
    """Whatever the client sends next, until it hangs up."""
    data = b""
    while chunk := conn.recv(4096):
        data += chunk
    return data


def postgres_asking_cleartext(conn: socket.socket, received: list[bytes]) -> None:
    """Refuse TLS and GSS encryption, then ask for a cleartext password (AuthenticationCleartextPassword)."""
    while True:
        (length,) = struct.unpack("!i", conn.recv(4))
        body = conn.recv(length - 4)
        if struct.unpack("!i", body[:4])[0] in (80877103, 80877104):  # SSLRequest, GSSENCRequest
            conn.sendall(b"N")
            continue
        break
    conn.sendall(b"R" + struct.pack("!ii", 8, 3))
    received.append(_rest(conn))


def _mysql_packet(seq: int, payload: bytes) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def _mysql_read(conn: socket.socket) -> bytes:
    head = conn.recv(4)
    size = int.from_bytes(head[:3], "little")
    data = b""
    while len(data) < size and (chunk := conn.recv(size - len(data))):
        data += chunk
    return data


def mysql_switching_to(plugin: bytes, data: bytes):
    """A MySQL server that greets with mysql_native_password, then switches to ``plugin``."""

    def answer(conn: socket.socket, received: list[bytes]) -> None:
        caps = 0x1 | 0x8 | 0x200 | 0x8000 | 0x80000  # long password, with db, 4.1, secure, plugin auth
        greeting = (
            b"\x0a5.7.99-cleartext\0"
            + struct.pack("<I", 7)
            + b"abcdefgh\0"
            + struct.pack("<HBHH", caps & 0xFFFF, 0x21, 2, caps >> 16)
            + bytes([21])
            + b"\0" * 10
            + b"ijklmnopqrst\0mysql_native_password\0"
        )
        conn.sendall(_mysql_packet(0, greeting))
        _mysql_read(conn)  # the handshake response: a scramble, never the password
        conn.sendall(_mysql_packet(2, b"\xfe" + plugin + b"\0" + data))
        received.append(_rest(conn))

    return answer


@pytest.fixture
def listener() -> Iterator[callable]:
    opened: list[Listener] = []

    def start(answer) -> Listener:
        opened.append(Listener(answer))
        return opened[-1]

    yield start
    for one in opened:
        one.close()


def target(db_type: str, port: int) -> Target:
    return Target(
        db_type=db_type,
        host="127.0.0.1",
        port=port,
        database="",
        username="monitor",
        password=SECRET,
        connect_timeout=5,
        statement_timeout=5,
    )


# --- a new target needs the password again ---------------------------------------------------


@pytest.mark.parametrize(
    "change", [{"host": "10.9.9.9"}, {"port": 6543}, {"db_type": "mysql"}, {"username": "other"}]
)
def test_changing_where_the_password_goes_without_the_password_is_a_400_naming_it(
    client, admin, runtime, stored, change
):
    response = client.put(f"{BASE}/instances/{stored}", json={**change, "name": "renamed"}, headers=admin)
    assert response.status_code == 400, response.json
    assert set(response.json["errors"]) == {"password"}
    assert "密码" in response.json["message"]
    kept = row(runtime, stored)
    assert (kept.name, kept.host, kept.port, kept.db_type, kept.username) == (
        "orders",
        "127.0.0.1",
        5432,
        "postgresql",
        "monitor",
    )


def test_the_refusal_speaks_english_when_asked(client, admin, stored):
    response = client.put(f"{BASE}/instances/{stored}?lang=en", json={"host": "10.9.9.9"}, headers=admin)
    assert response.status_code == 400
    assert "give the password again" in response.json["message"]


@pytest.mark.parametrize(
    "change", [{"host": "10.9.9.9"}, {"port": 6543}, {"db_type": "mysql"}, {"username": "other"}]
)
def test_changing_where_the_password_goes_with_the_password_is_saved(client, admin, runtime, stored, change):
    response = client.put(
        f"{BASE}/instances/{stored}", json={**change, "password": "N3w-secret"}, headers=admin
    )
    assert response.status_code == 200, response.json
    assert all(getattr(row(runtime, stored), k) == v for k, v in change.items())


def test_other_fields_and_unchanged_connection_fields_need_no_password(client, admin, stored):
    same = {k: STORED[k] for k in ("db_type", "host", "port", "username")}
    body = {**same, "name": "orders-2", "tags": ["prod"], "description": "d", "is_active": False}
    response = client.put(f"{BASE}/instances/{stored}", json=body, headers=admin)
    assert response.status_code == 200, response.json


def test_an_instance_without_a_stored_password_moves_without_one(client, admin):
    created = client.post(f"{BASE}/instances", json={**STORED, "password": ""}, headers=admin).json["data"]
    assert created["has_password"] is False
    response = client.put(f"{BASE}/instances/{created['id']}", json={"host": "10.9.9.9"}, headers=admin)
    assert response.status_code == 200, response.json


def test_testing_a_new_port_with_the_stored_password_is_refused_and_sends_nothing(
    client, admin, runtime, stored, listener
):
    server = listener(postgres_asking_cleartext)
    response = client.post(
        f"{BASE}/instances/test", json={"instance_id": stored, "port": server.port}, headers=admin
    )
    assert response.status_code == 400 and set(response.json["errors"]) == {"password"}
    assert server.connections == 0 and not server.heard(SECRET)
    assert audit_entries(runtime, "instance.check") == []


# --- testing unsaved settings is audited -----------------------------------------------------


def test_testing_unsaved_settings_is_audited_with_the_target_and_outcome_never_the_password(
    client, admin, runtime, stored
):
    body = {"instance_id": stored, "host": "127.0.0.1", "port": 1, "password": "Typed-secret-9"}
    response = client.post(f"{BASE}/instances/test", json=body, headers=admin)
    assert response.status_code == 200 and response.json["data"]["connected"] is False
    (entry,) = audit_entries(runtime, "instance.check")
    assert entry.actor == "admin" and entry.target_type == "instance" and entry.target_id == str(stored)
    assert entry.detail["target"] == "127.0.0.1:1" and entry.detail["changed"] == ["port"]
    assert entry.detail["connected"] is False and entry.detail["error"]
    assert entry.detail["password_given"] is True
    assert "Typed-secret-9" not in json.dumps(entry.detail) and SECRET not in json.dumps(entry.detail)


def test_testing_settings_of_a_new_instance_is_audited_too(client, admin, runtime):
    body = {"db_type": "mysql", "host": "127.0.0.1", "port": 1, "username": "u", "password": "Typed-secret-9"}
    assert client.post(f"{BASE}/instances/test", json=body, headers=admin).status_code == 200
    (entry,) = audit_entries(runtime, "instance.check")
    assert entry.target_id == "" and entry.detail["target"] == "127.0.0.1:1"
    assert entry.detail["db_type"] == "mysql" and entry.detail["username"] == "u"
    assert "Typed-secret-9" not in json.dumps(entry.detail)


# --- no cleartext passwords ------------------------------------------------------------------


def test_postgresql_refuses_a_server_that_asks_for_the_password_in_clear_text(listener):
    if psycopg.pq.version() < LIBPQ_WITH_REQUIRE_AUTH:
        pytest.skip(f"libpq {psycopg.pq.version()} predates require_auth (16)")
    server = listener(postgres_asking_cleartext)
    with pytest.raises(FleetUnreachable) as refused:
        with open_adapter(target("postgresql", server.port)):
            pass
    assert "cleartext" in refused.value.message and SECRET not in refused.value.message
    assert server.connections == 1 and not server.heard(SECRET)


@pytest.mark.postgres
def test_postgresql_without_a_password_request_still_connects(postgres):  # trust on this machine
    with open_adapter(
        Target(
            db_type="postgresql",
            host=POSTGRES.host or "127.0.0.1",
            port=POSTGRES.port or 5432,
            database="postgres",
            username=POSTGRES.username or "postgres",
            password=POSTGRES.password or "",
            connect_timeout=5,
            statement_timeout=5,
        )
    ) as adapter:
        assert adapter.version().startswith("PostgreSQL ")


@pytest.mark.parametrize(
    ("plugin", "data"),
    [(b"mysql_clear_password", b""), (b"dialog", b"\x04Password: ")],
    ids=["clear", "dialog"],
)
def test_mysql_refuses_a_server_that_asks_for_the_password_in_clear_text(listener, plugin, data):
    server = listener(mysql_switching_to(plugin, data))
    with pytest.raises(FleetUnreachable) as refused:
        with open_adapter(target("mysql", server.port)):
            pass
    assert "clear text" in refused.value.message and SECRET not in refused.value.message
    assert server.connections == 1 and not server.heard(SECRET)


@pytest.mark.mariadb
def test_mysql_with_a_hashed_password_method_still_connects(mariadb):
    with open_adapter(
        Target(
            db_type="mysql",
            host=MARIADB.host or "127.0.0.1",
            port=MARIADB.port or 3306,
            database="",
            username=MARIADB.username or "root",
            password=MARIADB.password or "",
            connect_timeout=5,
            statement_timeout=5,
        )
    ) as adapter:
        assert adapter.version().startswith(("MariaDB ", "MySQL "))
