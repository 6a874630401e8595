"""Big numbers and odd text get a 400 or a 404 in the envelope, never a 500 — on every database.

PostgreSQL refuses NUL in text and numbers past BIGINT, SQLite numbers past 64 bits, so each
case runs against SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from whalefall.app import create_app
from whalefall.domain.codecheck import check_source
from whalefall.errors import InvalidCode
from whalefall.models import Job, Role
from whalefall.services import tokens
from whalefall.services import users as user_service
from whalefall.services.audit import Actor

PAST_BIGINT = str(2**63)
PAST_INT = str(2**31)
API = "/scheduler/api"
JOB = {"id": "nightly", "name": "Nightly", "trigger_type": "cron", "cron_hour": "2", "function": "heartbeat"}


@pytest.fixture
def client(any_runtime, monkeypatch):
    monkeypatch.setattr(user_service, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    user_service.create(any_runtime.db, "admin", "admin-password-1", Role.ADMIN, Actor.system())
    app = create_app(runtime=any_runtime)
    app.config["TESTING"] = True
    return app.test_client()


@pytest.fixture
def admin(any_runtime, client):
    _token, plaintext = tokens.create(any_runtime.db, "admin", "test", Actor.system())
    return {"Authorization": f"Bearer {plaintext}"}


def job_count(runtime) -> int:
    with runtime.db.read() as session:
        return session.query(Job).count()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"/jobs?page={PAST_BIGINT}", "page"),
        (f"/jobs?per_page={PAST_BIGINT}", "per_page"),
        (f"/runs?page={PAST_BIGINT}", "page"),
        (f"/audit?page={PAST_BIGINT}", "page"),
        (f"/instances?page={PAST_BIGINT}", "page"),
        (f"/capacity?instance_id={PAST_BIGINT}", "instance_id"),
        (f"/sync-sessions?instance_id={PAST_INT}", "instance_id"),
        (f"/runs/1?offset={PAST_BIGINT}", "offset"),
    ],
)
def test_a_number_past_what_a_column_holds_in_a_query_is_a_400_naming_it(client, admin, query, field):
    response = client.get(API + query, headers=admin)
    if query.startswith("/runs/1"):  # no run 1: its query is checked first all the same
        assert response.status_code in (400, 404)
        return
    assert response.status_code == 400, response.json
    assert field in response.json["errors"]


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("get", f"/runs/{PAST_BIGINT}", "run_id"),
        ("post", f"/runs/{PAST_BIGINT}/cancel", "run_id"),
        ("get", f"/instances/{PAST_BIGINT}", "instance_id"),
        ("get", f"/instances/{PAST_INT}", "instance_id"),
        ("put", f"/instances/{PAST_INT}", "instance_id"),
        ("get", f"/instances/{PAST_INT}/accounts", "instance_id"),
        ("post", f"/tokens/{PAST_BIGINT}/revoke", "token_id"),
        ("post", f"/tokens/{PAST_INT}/revoke", "token_id"),
        ("get", f"/alert-channels/{PAST_INT}", "channel_id"),
        ("delete", f"/maintenance-windows/{PAST_BIGINT}", "window_id"),
        ("get", f"/sync-sessions/{PAST_BIGINT}", "session_id"),
        ("get", "/jobs/a%00b", "job_id"),
        ("delete", "/jobs/a%00b", "job_id"),
        ("post", "/jobs/a%00b/pause", "job_id"),
        ("put", "/users/a%00b", "username"),
    ],
)
def test_an_id_past_its_column_or_holding_a_nul_in_a_path_is_a_400_naming_it(
    client, admin, method, path, field
):
    response = getattr(client, method)(API + path + "?lang=en", headers=admin, json={})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert list(response.json["errors"]) == [field]
    zh = getattr(client, method)(API + path, headers=admin, json={}).json["message"]
    assert field not in zh and zh.startswith("「")  # in the user's words: 「运行 ID」：不能大于 …


def test_a_run_id_past_int_but_within_bigint_is_an_unknown_run(client, admin):
    response = client.get(f"{API}/runs/{PAST_INT}", headers=admin)
    assert response.status_code == 404
    assert PAST_INT in response.json["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**JOB, "name": "night\x00ly"}, "name"),
        ({**JOB, "description": "\x00"}, "description"),
        ({**JOB, "category": "ops\x00"}, "category"),
        ({**JOB, "id": "a\x00b"}, "id"),
        ({**JOB, "cron_hour": "2\x00"}, "cron_hour"),
        (
            {**JOB, "function": None, "code": "def execute_task():\n    return 1\n", "params": {"k\x00": 1}},
            "params",
        ),
        ({**JOB, "function": None, "code": "def execute_task():\n    return '\x00'\n"}, "code"),
        ({**JOB, "depends_on": ["x\x00"]}, "depends_on"),
    ],
)
def test_a_nul_in_a_job_s_text_is_a_400_naming_the_field_and_writes_nothing(
    client, admin, any_runtime, body, field
):
    response = client.post(f"{API}/jobs?lang=en", json=body, headers=admin)
    assert response.status_code == 400, response.json
    assert field in response.json["errors"]
    assert job_count(any_runtime) == 0


def test_the_nul_refusal_is_said_in_the_users_language(client, admin):
    body = {**JOB, "name": "a\x00"}
    assert client.post(f"{API}/jobs", json=body, headers=admin).json["errors"] == {
        "name": "不能包含 NUL 字符"
    }
    assert client.post(f"{API}/jobs?lang=en", json=body, headers=admin).json["errors"] == {
        "name": "must not contain NUL characters"
    }


@pytest.mark.parametrize(
    "query", ["/jobs?q=a%00", "/jobs?category=%00", "/audit?actor=%00", "/alert-deliveries?channel=%00"]
)
def test_a_nul_in_a_query_filter_is_a_400(client, admin, query):
    response = client.get(API + query, headers=admin)
    assert response.status_code == 400, response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/users", {"username": "a\x00", "password": "a-long-password-1", "role": "viewer"}, "username"),
        ("/tokens", {"username": "admin", "label": "\x00"}, "label"),
        ("/maintenance-windows", {"name": "\x00"}, "name"),
        ("/cron/preview", {"trigger_type": "cron", "cron_expression": "0 2 * * *\x00"}, "cron_expression"),
    ],
)
def test_a_nul_in_other_bodies_is_a_400_naming_the_field(client, admin, path, body, field):
    response = client.post(API + path, json=body, headers=admin)
    assert response.status_code == 400, response.json
    assert field in response.json["errors"]


@pytest.mark.parametrize(
    "source",
    [
        "(" * 100_000,
        "x = " + "-" * 100_000 + "1\n",  # the parser runs out of stack: a MemoryError
        "x = " + "lambda: " * 10_000 + "1\n",
        "x = a" + ".b" * 100_000 + "\n",  # a RecursionError in the compiler
    ],
)
def test_source_nested_too_deeply_is_an_invalid_code_not_a_crash(source):
    with pytest.raises(InvalidCode) as caught:
        check_source(source)
    assert caught.value.key in ("code_too_deep", "code_syntax")


def test_a_code_check_of_deeply_nested_source_is_a_400(client, admin):
    response = client.post(f"{API}/code/check", json={"code": "x = " + "-" * 100_000 + "1\n"}, headers=admin)
    assert response.status_code == 400
    assert "code" in response.json["errors"]


def test_a_console_page_for_a_run_past_bigint_is_a_400_page(client):
    response = client.get(f"/scheduler/runs/{PAST_BIGINT}")
    assert response.status_code == 400
    assert response.content_type.startswith("text/html")
