"""Ending sessions: signing out, a new role, disabling and a new password end every session of the
user at once, in every browser; a password reset may revoke the user's API tokens too."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from whalefall.models import AuditEntry
from whalefall.services import tokens
from whalefall.services import users as user_service
from whalefall.services.audit import Actor

API = "/scheduler/api/jobs"  # any viewer's endpoint


@pytest.fixture
def two_browsers(app, login):
    """The viewer signed in twice, in two browsers (each its own cookie jar)."""
    first, second = login(app.test_client(), "viewer"), login(app.test_client(), "viewer")
    assert first.get(API).status_code == 200
    assert second.get(API).status_code == 200
    return first, second


def audit_rows(runtime, action: str) -> list[AuditEntry]:
    with runtime.db.read() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_signing_out_in_one_browser_signs_the_user_out_in_the_other(two_browsers, csrf_token):
    first, second = two_browsers
    response = first.post(
        "/auth/logout", headers={"X-CSRFToken": csrf_token(first), "Accept": "application/json"}
    )
    assert response.status_code == 200
    assert first.get(API).status_code == 401
    answer = second.get(API)
    assert answer.status_code == 401
    assert answer.json["success"] is False


def test_a_copied_session_cookie_no_longer_works_after_signing_out(app, login, csrf_token):
    browser = login(app.test_client(), "viewer")
    cookie = browser.get_cookie("whalefall_session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("whalefall_session", cookie.value)
    assert thief.get(API).status_code == 200
    browser.post("/auth/logout", data={"csrf_token": csrf_token(browser)})
    assert thief.get(API).status_code == 401


def test_signing_out_is_audited_once_with_the_address(two_browsers, csrf_token, runtime):
    first, _second = two_browsers
    first.post(
        "/auth/logout", data={"csrf_token": csrf_token(first)}, environ_base={"REMOTE_ADDR": "10.1.2.3"}
    )
    rows = audit_rows(runtime, "auth.logout")
    assert [(r.actor, r.address) for r in rows] == [("viewer", "10.1.2.3")]


@pytest.mark.parametrize(
    ("change", "audited"),
    [
        ({"role": "operator"}, "user.role"),
        ({"is_active": False}, "user.disable"),
        ({"password": "a-fresh-passphrase-7"}, "user.passwd"),
    ],
    ids=["role", "disable", "password"],
)
def test_an_admins_change_ends_the_users_sessions_in_every_browser(
    two_browsers, bearer, client, runtime, change, audited
):
    first, second = two_browsers
    response = client.put("/scheduler/api/users/viewer", json=change, headers=bearer("admin"))
    assert response.status_code == 200, response.json
    assert first.get(API).status_code == 401
    assert second.get(API).status_code == 401
    assert [r.target_id for r in audit_rows(runtime, audited)] == ["viewer"]


def test_another_users_change_leaves_a_session_alone(two_browsers, bearer, client):
    first, _second = two_browsers
    response = client.put("/scheduler/api/users/operator", json={"role": "viewer"}, headers=bearer("admin"))
    assert response.status_code == 200
    assert first.get(API).status_code == 200


def test_signing_in_again_after_a_change_gives_a_working_session(two_browsers, app, login, runtime):
    user_service.set_role(runtime.db, "viewer", "operator", Actor.cli())
    again = login(app.test_client(), "viewer")
    assert again.get(API).status_code == 200


def test_a_password_reset_keeps_the_users_tokens_unless_asked(client, bearer, runtime):
    viewer = bearer("viewer")
    response = client.put(
        "/scheduler/api/users/viewer", json={"password": "a-fresh-passphrase-7"}, headers=bearer("admin")
    )
    assert response.status_code == 200
    assert client.get(API, headers=viewer).status_code == 200
    assert audit_rows(runtime, "token.revoke") == []


def test_a_password_reset_with_revoke_tokens_revokes_every_token_of_that_user(client, bearer, runtime):
    first, second, others = bearer("viewer", "laptop"), bearer("viewer", "cron"), bearer("operator")
    response = client.put(
        "/scheduler/api/users/viewer",
        json={"password": "a-fresh-passphrase-7", "revoke_tokens": True},
        headers=bearer("admin"),
    )
    assert response.status_code == 200, response.json
    assert client.get(API, headers=first).status_code == 401
    assert client.get(API, headers=second).status_code == 401
    assert client.get(API, headers=others).status_code == 200
    rows = audit_rows(runtime, "token.revoke")
    assert len(rows) == 2
    assert {r.detail["user"] for r in rows} == {"viewer"}
    assert all(r.detail["reason"] == "password_reset" for r in rows)
    (passwd,) = audit_rows(runtime, "user.passwd")
    assert passwd.detail == {"revoked_tokens": 2}


@pytest.mark.parametrize(
    ("lang", "words"), [("zh", "吊销 API 令牌须与新密码一同提交"), ("en", "with a new password")]
)
def test_revoke_tokens_without_a_password_is_a_400_naming_the_field(client, bearer, lang, words):
    viewer = bearer("viewer")
    response = client.put(
        f"/scheduler/api/users/viewer?lang={lang}", json={"revoke_tokens": True}, headers=bearer("admin")
    )
    assert response.status_code == 400
    assert "revoke_tokens" in response.json["errors"]
    assert words in response.json["message"]
    assert client.get(API, headers=viewer).status_code == 200


def test_a_bad_new_password_changes_nothing_and_revokes_nothing(client, bearer, two_browsers):
    first, _second = two_browsers
    viewer = bearer("viewer")
    response = client.put(
        "/scheduler/api/users/viewer",
        json={"password": "password123", "revoke_tokens": True},
        headers=bearer("admin"),
    )
    assert response.status_code == 400 and "password" in response.json["errors"]
    assert client.get(API, headers=viewer).status_code == 200
    assert first.get(API).status_code == 200


def test_cli_passwd_with_revoke_tokens_revokes_the_tokens_and_ends_the_sessions(
    runtime, users, app, login, monkeypatch
):
    from whalefall.cli import cli

    browser = login(app.test_client(), "viewer")
    _token, plaintext = tokens.create(runtime.db, "viewer", "script", Actor.system())
    monkeypatch.setenv("WHALEFALL_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("WHALEFALL_SECRET_KEY", "test-secret")
    for name in ("WHALEFALL_DATABASE_URL", "WHALEFALL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    saved = os.umask(0o022)
    try:
        result = CliRunner().invoke(
            cli,
            ["user", "passwd", "viewer", "--password-stdin", "--revoke-tokens"],
            input="a-fresh-passphrase-7\n",
        )
    finally:
        os.umask(saved)  # the command sets the process's umask; the test process keeps its own
    assert result.exit_code == 0, result.output
    assert "revoked" in result.output
    assert browser.get(API).status_code == 401
    assert browser.get(API, headers={"Authorization": f"Bearer {plaintext}"}).status_code == 401


def test_the_console_reset_dialog_offers_to_revoke_the_tokens(client, login):
    login(client, "admin")
    html = client.get("/scheduler/admin/users").get_data(as_text=True)
    assert 'name="revoke_tokens"' in html and 'type="checkbox"' in html
