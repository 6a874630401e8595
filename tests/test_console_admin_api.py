"""The admin API behind the console's admin pages: users, tokens, the audit log's filters."""

from __future__ import annotations

import pytest

from tests.conftest import csrf_from_html

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def admin(bearer):
    return bearer("admin")


def signed_in(client, login, csrf_token, name="admin"):
    """A session client and the X-CSRFToken header that goes with it."""
    login(client, name)
    return {"X-CSRFToken": csrf_token(client)}


def can_sign_in(app, name, password) -> bool:
    other = app.test_client()
    token = csrf_from_html(other.get("/auth/login").get_data(as_text=True))
    response = other.post("/auth/login", data={"username": name, "password": password, "csrf_token": token})
    return response.status_code == 302


# --- who may ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/scheduler/api/users"),
        ("POST", "/scheduler/api/users"),
        ("PUT", "/scheduler/api/users/viewer"),
        ("GET", "/scheduler/api/tokens"),
        ("POST", "/scheduler/api/tokens"),
        ("POST", "/scheduler/api/tokens/1/revoke"),
        ("GET", "/scheduler/api/audit"),
    ],
)
def test_admin_endpoints_answer_401_anonymous_and_403_below_admin(client, bearer, method, path):
    assert client.open(path, method=method, json={}).status_code == 401
    for name in ("viewer", "operator"):
        response = client.open(path, method=method, json={}, headers=bearer(name))
        assert response.status_code == 403, (name, path)
        assert response.json["success"] is False and "admin" in response.json["message"]


def test_a_session_write_without_the_csrf_header_is_refused(client, login):
    login(client, "admin")
    response = client.post(
        "/scheduler/api/users", json={"username": "eve", "password": "password-123", "role": "viewer"}
    )
    assert response.status_code == 400 and "csrf_token" in response.json["errors"]


# --- users -----------------------------------------------------------------------------------


def test_an_admin_creates_a_user_who_can_then_sign_in(app, client, login, csrf_token):
    headers = signed_in(client, login, csrf_token)
    response = client.post(
        "/scheduler/api/users",
        json={"username": "dba1", "password": "long-enough-1", "role": "operator"},
        headers=headers,
    )
    assert response.status_code == 200, response.json
    assert response.json["data"]["username"] == "dba1" and response.json["data"]["role"] == "operator"
    assert "password_hash" not in response.json["data"] and response.json["message"] == "用户 dba1 已创建"
    assert can_sign_in(app, "dba1", "long-enough-1")
    listed = client.get("/scheduler/api/users").json["data"]
    assert "dba1" in {u["username"] for u in listed["users"]} and listed["total"] == 4
    assert not any("password_hash" in u for u in listed["users"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "bad name!", "password": "long-enough-1", "role": "viewer"}, "username"),
        ({"username": XSS, "password": "long-enough-1", "role": "viewer"}, "username"),
        ({"username": "dba2", "password": "short", "role": "viewer"}, "password"),
        ({"username": "dba2", "password": "long-enough-1", "role": "root"}, "role"),
        ({"username": "dba2", "password": "long-enough-1"}, "role"),
        ({"username": "dba2", "password": "long-enough-1", "role": "viewer", "admin": True}, "admin"),
    ],
)
def test_creating_a_user_with_bad_input_is_a_400_naming_the_field(client, admin, body, field):
    response = client.post("/scheduler/api/users", json=body, headers=admin)
    assert response.status_code == 400, response.json
    assert field in response.json["errors"]


def test_creating_a_user_twice_is_a_409_naming_the_username(client, admin):
    body = {"username": "viewer", "password": "long-enough-1", "role": "viewer"}
    response = client.post("/scheduler/api/users", json=body, headers=admin)
    assert response.status_code == 409 and "username" in response.json["errors"]


def test_an_admin_changes_a_role_resets_a_password_and_disables_and_enables(app, client, admin):
    path = "/scheduler/api/users/viewer"
    response = client.put(path, json={"role": "operator"}, headers=admin)
    assert response.status_code == 200 and response.json["data"]["role"] == "operator"
    assert client.put(path, json={"password": "a-new-password-1"}, headers=admin).status_code == 200
    assert can_sign_in(app, "viewer", "a-new-password-1") and not can_sign_in(
        app, "viewer", "viewer-password-1"
    )
    response = client.put(path, json={"is_active": False}, headers=admin)
    assert response.status_code == 200 and response.json["data"]["is_active"] is False
    assert not can_sign_in(app, "viewer", "a-new-password-1")
    assert client.put(path, json={"is_active": True}, headers=admin).json["data"]["is_active"] is True
    assert can_sign_in(app, "viewer", "a-new-password-1")


def test_disabling_a_user_ends_their_api_tokens(client, admin, bearer):
    theirs = bearer("operator")
    assert client.get("/scheduler/api/jobs", headers=theirs).status_code == 200
    client.put("/scheduler/api/users/operator", json={"is_active": False}, headers=admin)
    assert client.get("/scheduler/api/jobs", headers=theirs).status_code == 401


def test_a_bad_password_in_a_change_leaves_the_role_as_it_was(client, admin):
    response = client.put(
        "/scheduler/api/users/viewer", json={"role": "admin", "password": "short"}, headers=admin
    )
    assert response.status_code == 400 and "password" in response.json["errors"]
    users = {
        u["username"]: u for u in client.get("/scheduler/api/users", headers=admin).json["data"]["users"]
    }
    assert users["viewer"]["role"] == "viewer"


def test_an_admin_cannot_demote_or_disable_themselves(client, login, csrf_token):
    headers = signed_in(client, login, csrf_token)
    response = client.put("/scheduler/api/users/admin", json={"role": "viewer"}, headers=headers)
    assert response.status_code == 409 and "role" in response.json["errors"]
    response = client.put("/scheduler/api/users/admin", json={"is_active": False}, headers=headers)
    assert response.status_code == 409 and "is_active" in response.json["errors"]
    assert client.get("/scheduler/api/users").status_code == 200  # still signed in, still admin


def test_changing_an_unknown_user_is_a_404(client, admin):
    response = client.put("/scheduler/api/users/nobody", json={"role": "viewer"}, headers=admin)
    assert response.status_code == 404 and response.json["success"] is False


def test_user_changes_are_in_the_audit_log_with_their_author(client, admin):
    client.put("/scheduler/api/users/viewer", json={"role": "operator"}, headers=admin)
    entries = client.get("/scheduler/api/audit?action=user.role", headers=admin).json["data"]["entries"]
    assert len(entries) == 1
    assert entries[0]["actor"] == "admin" and entries[0]["target_id"] == "viewer"
    assert entries[0]["detail"] == {"from": "viewer", "to": "operator"}


# --- tokens ----------------------------------------------------------------------------------


def test_a_token_is_shown_once_works_and_stops_working_when_revoked(client, admin):
    response = client.post(
        "/scheduler/api/tokens", json={"username": "operator", "label": "deploy"}, headers=admin
    )
    assert response.status_code == 200, response.json
    token = response.json["data"]
    assert token["token"].startswith("wf_") and token["token"].startswith(token["prefix"])
    assert token["prefix"] in response.json["message"] and "只显示这一次" in response.json["message"]
    theirs = {"Authorization": f"Bearer {token['token']}"}
    assert client.get("/scheduler/api/jobs", headers=theirs).status_code == 200

    listed = client.get("/scheduler/api/tokens", headers=admin).json["data"]["tokens"]
    mine = next(t for t in listed if t["id"] == token["id"])
    assert mine["username"] == "operator" and mine["label"] == "deploy" and mine["active"] is True
    assert all("token" not in t and "token_hash" not in t for t in listed)

    response = client.post(f"/scheduler/api/tokens/{token['id']}/revoke", headers=admin)
    assert response.status_code == 200 and response.json["data"]["revoked_at"]
    assert client.get("/scheduler/api/jobs", headers=theirs).status_code == 401
    active = client.get("/scheduler/api/tokens?active=true", headers=admin).json["data"]["tokens"]
    assert token["id"] not in {t["id"] for t in active}


def test_admin_messages_follow_the_language(client, admin):
    response = client.post(
        "/scheduler/api/users?lang=en",
        json={"username": "dba3", "password": "long-enough-1", "role": "viewer"},
        headers=admin,
    )
    assert response.json["message"] == "user dba3 created"
    response = client.post("/scheduler/api/tokens?lang=en", json={"username": "dba3"}, headers=admin)
    assert "shown only once" in response.json["message"]


def test_a_token_for_an_unknown_user_is_a_404_and_an_overlong_label_a_400(client, admin):
    assert client.post("/scheduler/api/tokens", json={"username": "nobody"}, headers=admin).status_code == 404
    response = client.post(
        "/scheduler/api/tokens", json={"username": "viewer", "label": "x" * 101}, headers=admin
    )
    assert response.status_code == 400 and "label" in response.json["errors"]


def test_revoking_an_unknown_token_is_a_404(client, admin):
    assert client.post("/scheduler/api/tokens/999999/revoke", headers=admin).status_code == 404


def test_tokens_can_be_listed_for_one_user(client, admin, bearer):
    bearer("viewer", "viewer's")
    listed = client.get("/scheduler/api/tokens?username=viewer", headers=admin).json["data"]["tokens"]
    assert [t["username"] for t in listed] == ["viewer"]


# --- the audit log's filters -------------------------------------------------------------------


def test_the_audit_log_filters_by_actor_action_and_target(client, admin, login):
    login(client, "viewer")
    client.put("/scheduler/api/users/operator", json={"role": "viewer"}, headers=admin)
    by_action = client.get("/scheduler/api/audit?action=auth.login", headers=admin).json["data"]
    assert by_action["total"] >= 1 and {e["action"] for e in by_action["entries"]} == {"auth.login"}
    by_actor = client.get("/scheduler/api/audit?actor=admin&target_id=operator", headers=admin).json["data"]
    assert [e["action"] for e in by_actor["entries"]] == ["user.role"]
    assert client.get("/scheduler/api/audit?per_page=0", headers=admin).status_code == 400


def test_the_openapi_document_lists_the_admin_endpoints():
    from whalefall.api.openapi import document

    paths = document()["paths"]
    assert {"get", "post"} <= set(paths["/scheduler/api/users"]) and "put" in paths[
        "/scheduler/api/users/{username}"
    ]
    assert "post" in paths["/scheduler/api/tokens/{token_id}/revoke"]
    names = {p["name"] for p in paths["/scheduler/api/audit"]["get"]["parameters"]}
    assert {"actor", "action", "target_id", "page"} <= names
