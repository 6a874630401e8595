"""Signing in, sessions, tokens, CSRF and roles, through Flask's test client."""

from __future__ import annotations

import os
import re
import stat
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from argon2 import PasswordHasher
from flask import Blueprint
from sqlalchemy import func, select

from tests.conftest import csrf_from_html
from whalefall.auth.guard import api_auth_check, current_actor, page_login_required, require
from whalefall.auth.views import safe_next
from whalefall.errors import Conflict, InvalidCredentials, InvalidInput, TooManyAttempts
from whalefall.models import ApiToken, AuditEntry, LoginAttempt, Role, User
from whalefall.services import tokens
from whalefall.services import users as user_service
from whalefall.services.audit import Actor
from whalefall.web.envelope import ok

T0 = datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def probe(app):
    """Tiny views behind the guards, since the real API and console are built elsewhere."""
    bp = Blueprint("probe", __name__, url_prefix="/_probe")

    @bp.get("/read")
    @require(Role.VIEWER)
    def read():
        return ok({"who": current_actor().name})

    @bp.post("/change")
    @require(Role.OPERATOR)
    def change():
        actor = current_actor()
        return ok({"who": actor.name, "role": actor.role, "address": actor.address})

    @bp.route("/page", methods=["GET", "POST"])
    @page_login_required(Role.OPERATOR)
    def page():
        return "operator page"

    admin_bp = Blueprint("probe_admin", __name__, url_prefix="/_probe_admin")

    @admin_bp.before_request
    def guard():
        return api_auth_check(Role.ADMIN)

    @admin_bp.get("/secret")
    def secret():
        return ok("secret")

    app.register_blueprint(bp)
    app.register_blueprint(admin_bp)
    return app


def post_login(client, username, password, *, address="127.0.0.1", next_path=None, query=""):
    token = csrf_from_html(client.get("/auth/login").get_data(as_text=True))
    data = {"username": username, "password": password, "csrf_token": token}
    if next_path is not None:
        data["next"] = next_path
    return client.post("/auth/login" + query, data=data, environ_base={"REMOTE_ADDR": address})


def audit_actions(runtime) -> list[tuple[str, str, str | None]]:
    with runtime.db.read() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(r.action, r.actor, r.address) for r in rows]


# --- the sign-in form -------------------------------------------------------


def test_the_sign_in_page_is_chinese_by_default_and_loads_nothing_external(client):
    response = client.get("/auth/login")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "登录" in html and "用户名" in html and "密码" in html
    assert 'lang="zh-CN"' in html
    assert 'name="csrf_token"' in html and '<meta name="csrf-token"' in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html)


def test_lang_en_switches_the_page_to_english_and_is_remembered(client):
    response = client.get("/auth/login?lang=en")
    assert "Sign in" in response.get_data(as_text=True)
    assert "lang=en" in response.headers["Set-Cookie"]
    again = client.get("/auth/login").get_data(as_text=True)
    assert "Username" in again and "用户名" not in again


def test_signing_in_with_the_right_password_redirects_to_the_console(client, users, runtime):
    response = post_login(client, "viewer", users["viewer"])
    assert response.status_code == 302
    assert response.headers["Location"] == "/scheduler/overview"
    assert client.get("/_probe/read").get_json()["data"] == {"who": "viewer"}
    assert user_service.get_by_name(runtime.db, "viewer").last_login_at is not None


def test_a_wrong_password_shows_the_form_again_with_a_message(client, users):
    response = post_login(client, "viewer", "not-the-password")
    assert response.status_code == 200
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert client.get("/_probe/read").status_code == 401


def test_the_wrong_password_message_is_english_with_the_lang_cookie(client, users):
    client.set_cookie("lang", "en")
    response = post_login(client, "viewer", "not-the-password")
    assert "Invalid username or password" in response.get_data(as_text=True)


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(client, users):
    unknown = post_login(client, "nobody", "whatever-password")
    wrong = post_login(client, "viewer", "whatever-password")
    assert unknown.status_code == wrong.status_code == 200
    assert "用户名或密码错误" in unknown.get_data(as_text=True)


def test_an_unknown_user_still_costs_an_argon2_verification(runtime, users, monkeypatch):
    calls = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash, password):
            calls.append(hash)
            return super().verify(hash, password)

    monkeypatch.setattr(user_service, "hasher", CountingHasher(time_cost=1, memory_cost=1024, parallelism=1))
    with pytest.raises(InvalidCredentials):
        user_service.authenticate(runtime.db, "nobody", "whatever-password", "10.1.1.1")
    assert len(calls) == 1


def test_a_disabled_user_cannot_sign_in(client, users, runtime):
    user_service.set_active(runtime.db, "viewer", False, Actor.cli())
    response = post_login(client, "viewer", users["viewer"])
    assert response.status_code == 200
    assert "用户名或密码错误" in response.get_data(as_text=True)


def test_a_sign_in_without_a_csrf_token_is_refused(client, users):
    client.get("/auth/login")
    response = client.post("/auth/login", data={"username": "viewer", "password": users["viewer"]})
    assert response.status_code == 400
    assert client.get("/_probe/read").status_code == 401


def test_a_username_with_a_script_tag_is_escaped_in_the_error_page(client, users):
    response = post_login(client, '<script>alert("x")</script>', "whatever-password")
    html = response.get_data(as_text=True)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


# --- throttling -------------------------------------------------------------


def test_five_failures_for_a_username_answer_429_even_with_the_right_password(client, users):
    for i in range(5):
        assert post_login(client, "viewer", "wrong-password", address=f"10.0.0.{i}").status_code == 200
    blocked = post_login(client, "viewer", users["viewer"], address="10.0.1.1")
    assert blocked.status_code == 429
    assert "登录失败次数过多" in blocked.get_data(as_text=True)
    assert blocked.headers["Retry-After"] == "60"
    # The same address may still sign another user in.
    assert post_login(client, "operator", users["operator"], address="10.0.1.1").status_code == 302


def test_five_failures_from_an_address_answer_429_for_any_username(client, users):
    for i in range(5):
        assert post_login(client, f"guess{i}", "wrong-password", address="10.9.9.9").status_code == 200
    assert post_login(client, "viewer", users["viewer"], address="10.9.9.9").status_code == 429
    assert post_login(client, "viewer", users["viewer"], address="10.9.9.10").status_code == 302


def test_failures_older_than_a_minute_no_longer_count(client, users):
    with time_machine.travel(T0, tick=False) as traveller:
        for _ in range(5):
            post_login(client, "viewer", "wrong-password")
        assert post_login(client, "viewer", users["viewer"]).status_code == 429
        traveller.shift(timedelta(seconds=61))
        assert post_login(client, "viewer", users["viewer"]).status_code == 302


def test_a_success_forgives_the_earlier_failures_of_that_username(runtime, users):
    for i in range(4):
        with pytest.raises(InvalidCredentials):
            user_service.authenticate(runtime.db, "viewer", "wrong-password", f"10.2.0.{i}")
    user_service.authenticate(runtime.db, "viewer", users["viewer"], "10.2.1.1")
    with pytest.raises(InvalidCredentials):
        user_service.authenticate(runtime.db, "viewer", "wrong-password", "10.2.1.2")
    assert user_service.authenticate(runtime.db, "viewer", users["viewer"], "10.2.1.3").username == "viewer"


def test_login_attempts_older_than_a_day_are_pruned(runtime, users):
    with time_machine.travel(T0, tick=False):
        with pytest.raises(InvalidCredentials):
            user_service.authenticate(runtime.db, "viewer", "wrong-password", "10.3.0.1")
    with time_machine.travel(T0 + timedelta(days=1, minutes=1), tick=False):
        user_service.authenticate(runtime.db, "viewer", users["viewer"], "10.3.0.1")
    with runtime.db.read() as session:
        rows = session.scalars(select(LoginAttempt)).all()
    assert [r.success for r in rows] == [True]


def test_the_throttle_answers_429_through_the_service_too(runtime, users):
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            user_service.authenticate(runtime.db, "admin", "wrong-password", "10.4.0.1")
    with pytest.raises(TooManyAttempts) as caught:
        user_service.authenticate(runtime.db, "admin", users["admin"], "10.4.0.2")
    assert caught.value.status == 429


# --- where to go after signing in -------------------------------------------


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/scheduler/jobs?state=paused", "/scheduler/jobs?state=paused"),
        ("/scheduler/runs/5", "/scheduler/runs/5"),
        ("//evil.example/", "/scheduler/overview"),
        ("https://evil.example/", "/scheduler/overview"),
        ("/\\evil.example/", "/scheduler/overview"),
        ("/\t/evil.example/", "/scheduler/overview"),
        ("javascript:alert(1)", "/scheduler/overview"),
        ("", "/scheduler/overview"),
    ],
)
def test_next_is_followed_only_for_a_local_path(client, users, target, expected):
    response = post_login(client, "viewer", users["viewer"], next_path=target)
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_next_in_the_query_string_is_honoured(client, users):
    response = post_login(client, "viewer", users["viewer"], query="?next=/scheduler/runs")
    assert response.headers["Location"] == "/scheduler/runs"


def test_safe_next_refuses_every_other_host():
    assert safe_next(None) == "/scheduler/overview"
    assert safe_next("http:/evil") == "/scheduler/overview"
    assert safe_next("/ok") == "/ok"


# --- sessions ---------------------------------------------------------------


def test_the_session_cookie_is_httponly_and_samesite_lax(client, users):
    response = post_login(client, "viewer", users["viewer"])
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("whalefall_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_signing_in_starts_a_new_csrf_token(client, users, csrf_token):
    before = csrf_token(client)
    post_login(client, "viewer", users["viewer"])
    after = csrf_token(client)
    assert before != after


def test_logout_requires_a_csrf_token(client, login, csrf_token):
    login(client, "viewer")
    refused = client.post("/auth/logout")
    assert refused.status_code == 400
    assert client.get("/_probe/read").status_code == 200

    response = client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"
    assert client.get("/_probe/read").status_code == 401


def test_logout_from_a_script_answers_json(client, login, csrf_token):
    login(client, "viewer")
    refused = client.post("/auth/logout", headers={"Accept": "application/json"})
    assert refused.status_code == 400
    assert "csrf_token" in refused.get_json()["errors"]
    response = client.post(
        "/auth/logout", headers={"X-CSRFToken": csrf_token(client), "Accept": "application/json"}
    )
    assert response.get_json()["success"] is True


def test_changing_the_password_ends_old_sessions(app, client, login, runtime):
    login(client, "viewer")
    other = login(app.test_client(), "viewer")
    user_service.set_password(runtime.db, "viewer", "a-brand-new-password", Actor.cli())
    assert client.get("/_probe/read").status_code == 401
    assert other.get("/_probe/read").status_code == 401
    assert post_login(client, "viewer", "a-brand-new-password").status_code == 302
    assert client.get("/_probe/read").status_code == 200


def test_disabling_a_user_ends_their_sessions(client, login, runtime):
    login(client, "operator")
    user_service.set_active(runtime.db, "operator", False, Actor.cli())
    assert client.get("/_probe/read").status_code == 401


def test_changing_the_role_ends_old_sessions(client, login, runtime):
    login(client, "viewer")
    user_service.set_role(runtime.db, "viewer", Role.OPERATOR, Actor.cli())
    assert client.get("/_probe/read").status_code == 401


def test_a_session_expires_after_a_week(client, login):
    with time_machine.travel(T0, tick=False) as traveller:
        login(client, "viewer")
        traveller.shift(timedelta(days=6))
        assert client.get("/_probe/read").status_code == 200
        traveller.shift(timedelta(days=1, seconds=1))
        assert client.get("/_probe/read").status_code == 401


# --- pages ------------------------------------------------------------------


def test_a_page_request_without_a_session_redirects_to_sign_in(client):
    response = client.get("/_probe/page?x=1&y=2")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=/_probe/page%3Fx%3D1%26y%3D2"


def test_signing_in_from_the_redirect_comes_back_to_the_page(client, users):
    location = client.get("/_probe/page?x=1").headers["Location"]
    html = client.get(location).get_data(as_text=True)
    token = csrf_from_html(html)
    next_path = re.search(r'name="next" value="([^"]+)"', html).group(1)
    response = client.post(
        "/auth/login",
        data={"username": "operator", "password": users["operator"], "csrf_token": token, "next": next_path},
    )
    assert response.headers["Location"] == "/_probe/page?x=1"
    assert client.get("/_probe/page?x=1").get_data(as_text=True) == "operator page"


def test_a_page_needing_a_higher_role_answers_a_403_page(client, login):
    login(client, "viewer")
    response = client.get("/_probe/page")
    assert response.status_code == 403
    assert "text/html" in response.content_type
    assert "operator" in response.get_data(as_text=True)


def test_a_page_post_without_csrf_is_refused(client, login, csrf_token):
    login(client, "operator")
    assert client.post("/_probe/page").status_code == 400
    assert client.post("/_probe/page", data={"csrf_token": csrf_token(client)}).status_code == 200


# --- the JSON guard ---------------------------------------------------------


def test_an_anonymous_api_request_answers_401_in_the_envelope(client):
    response = client.get("/_probe/read")
    assert response.status_code == 401
    body = response.get_json()
    assert body["success"] is False
    assert body["code"] == 401
    assert body["message"] == "未登录"
    assert client.get("/_probe/read?lang=en").get_json()["message"] == "not signed in"


def test_a_role_too_low_answers_403_naming_the_needed_role(client, login, csrf_token):
    login(client, "viewer")
    response = client.post("/_probe/change", headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 403
    assert "operator" in response.get_json()["message"]


def test_an_operator_may_change_with_a_csrf_token(client, login, csrf_token):
    login(client, "operator")
    response = client.post(
        "/_probe/change",
        headers={"X-CSRFToken": csrf_token(client)},
        environ_base={"REMOTE_ADDR": "10.7.7.7"},
    )
    assert response.status_code == 200
    assert response.get_json()["data"] == {"who": "operator", "role": "operator", "address": "10.7.7.7"}


def test_a_session_post_without_csrf_answers_400_naming_csrf_token(client, login):
    login(client, "admin")
    response = client.post("/_probe/change", json={})
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == 400
    assert "csrf_token" in body["errors"]
    bad = client.post("/_probe/change", headers={"X-CSRFToken": "forged"})
    assert "csrf_token" in bad.get_json()["errors"]


def test_a_before_request_guard_protects_a_whole_blueprint(client, login):
    assert client.get("/_probe_admin/secret").status_code == 401
    login(client, "operator")
    assert client.get("/_probe_admin/secret").status_code == 403
    login(client, "admin")
    assert client.get("/_probe_admin/secret").get_json()["data"] == "secret"


# --- tokens -----------------------------------------------------------------


def test_a_bearer_token_works_without_a_csrf_token(client, bearer):
    response = client.post("/_probe/change", headers=bearer("operator"))
    assert response.status_code == 200
    assert response.get_json()["data"]["who"] == "operator"


def test_a_bearer_token_still_obeys_roles(client, bearer):
    assert client.post("/_probe/change", headers=bearer("viewer")).status_code == 403


def test_a_revoked_token_answers_401(client, runtime, users):
    token, plaintext = tokens.create(runtime.db, "operator", "ci", Actor.cli())
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.get("/_probe/read", headers=headers).status_code == 200
    tokens.revoke(runtime.db, token.id, Actor.cli())
    response = client.get("/_probe/read", headers=headers)
    assert response.status_code == 401
    assert "authorization" in response.get_json()["errors"]


def test_an_unknown_token_answers_401_even_with_a_session(client, login):
    login(client, "admin")
    response = client.get("/_probe/read", headers={"Authorization": "Bearer wf_not-a-token"})
    assert response.status_code == 401


def test_a_disabled_users_token_stops_working(client, runtime, bearer):
    headers = bearer("operator")
    user_service.set_active(runtime.db, "operator", False, Actor.cli())
    assert client.get("/_probe/read", headers=headers).status_code == 401


def test_tokens_are_stored_hashed_with_a_display_prefix(runtime, users):
    token, plaintext = tokens.create(runtime.db, "viewer", "laptop", Actor.cli())
    assert plaintext.startswith("wf_") and len(plaintext) > 40
    with runtime.db.read() as session:
        stored = session.get(ApiToken, token.id)
    assert stored.token_hash == tokens.digest(plaintext) != plaintext
    assert plaintext.startswith(stored.prefix) and len(stored.prefix) < 16
    listed = tokens.list_tokens(runtime.db)
    assert [(t.username, t.label, t.active) for t in listed] == [("viewer", "laptop", True)]
    assert "token_hash" not in listed[0].to_dict()


def test_last_used_at_is_written_at_most_once_a_minute(runtime, users):
    token, plaintext = tokens.create(runtime.db, "viewer", "", Actor.cli())

    def last_used():
        with runtime.db.read() as session:
            return session.get(ApiToken, token.id).last_used_at

    with time_machine.travel(T0, tick=False) as traveller:
        tokens.authenticate(runtime.db, plaintext)
        assert last_used() == T0
        traveller.shift(timedelta(seconds=30))
        tokens.authenticate(runtime.db, plaintext)
        assert last_used() == T0
        traveller.shift(timedelta(seconds=31))
        tokens.authenticate(runtime.db, plaintext)
        assert last_used() == T0 + timedelta(seconds=61)


# --- users and the audit log ------------------------------------------------


@pytest.mark.parametrize(
    "username, password, role, field",
    [
        ("", "long-enough", "viewer", "username"),
        ("has space", "long-enough", "viewer", "username"),
        ("x" * 65, "long-enough", "viewer", "username"),
        ("fine.name-1", "short", "viewer", "password"),
        ("fine_name", "long-enough", "root", "role"),
    ],
)
def test_creating_a_user_names_the_bad_field(runtime, username, password, role, field):
    with pytest.raises(InvalidInput) as caught:
        user_service.create(runtime.db, username, password, role, Actor.cli())
    assert field in caught.value.errors


def test_creating_a_duplicate_user_is_a_conflict(runtime, users):
    with pytest.raises(Conflict):
        user_service.create(runtime.db, "viewer", "another-password", "viewer", Actor.cli())


def test_the_last_active_admin_cannot_be_demoted_or_disabled(runtime, users):
    with pytest.raises(Conflict):
        user_service.set_role(runtime.db, "admin", Role.VIEWER, Actor.cli())
    with pytest.raises(Conflict):
        user_service.set_active(runtime.db, "admin", False, Actor.cli())
    user_service.set_role(runtime.db, "operator", Role.ADMIN, Actor.cli())
    assert user_service.set_role(runtime.db, "admin", Role.VIEWER, Actor.cli()).role == "viewer"


def test_passwords_are_stored_as_argon2_hashes(runtime):
    user_service.create(runtime.db, "carol", "carol-password", Role.VIEWER, Actor.cli())
    with runtime.db.read() as session:
        stored = session.scalar(select(User).where(User.username == "carol"))
    assert stored.password_hash.startswith("$argon2id$")
    assert "carol-password" not in stored.password_hash


def test_a_hash_with_old_parameters_is_replaced_at_sign_in(runtime, users, monkeypatch):
    old = user_service.get_by_name(runtime.db, "viewer").password_hash
    monkeypatch.setattr(user_service, "hasher", PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    user_service.authenticate(runtime.db, "viewer", users["viewer"], "10.5.0.1")
    new = user_service.get_by_name(runtime.db, "viewer").password_hash
    assert new != old and "m=2048,t=2" in new


def test_sign_ins_sign_outs_and_changes_are_audited_with_the_address(client, login, csrf_token, runtime):
    post_login(client, "viewer", "wrong-password", address="10.6.0.1")
    login(client, "viewer")
    client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    user_service.set_password(runtime.db, "viewer", "another-password", Actor.cli())
    user_service.set_role(runtime.db, "viewer", Role.OPERATOR, Actor.cli())
    user_service.set_active(runtime.db, "viewer", False, Actor.cli())

    actions = audit_actions(runtime)
    assert actions[:3] == [("user.create", "system", None)] * 3
    assert actions[3:] == [
        ("auth.login_failed", "viewer", "10.6.0.1"),
        ("auth.login", "viewer", "127.0.0.1"),
        ("auth.logout", "viewer", "127.0.0.1"),
        ("user.passwd", "cli", "local"),
        ("user.role", "cli", "local"),
        ("user.disable", "cli", "local"),
    ]


# --- the first admin --------------------------------------------------------


def test_ensure_first_admin_writes_a_0600_file_and_only_once(runtime):
    password = user_service.ensure_first_admin(runtime)
    assert password
    path = runtime.settings.data_dir / "initial_admin_password"
    assert path.read_text().strip() == password
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    admin = user_service.authenticate(runtime.db, "admin", password, "127.0.0.1")
    assert admin.role == "admin"

    assert user_service.ensure_first_admin(runtime) is None
    assert path.read_text().strip() == password
    with runtime.db.read() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1


def test_ensure_first_admin_does_nothing_when_a_user_exists(runtime, users):
    assert user_service.ensure_first_admin(runtime) is None
    assert not (runtime.settings.data_dir / "initial_admin_password").exists()


# --- the same services on every database ------------------------------------


def test_users_tokens_and_throttling_work_on_every_database(any_runtime, monkeypatch):
    monkeypatch.setattr(user_service, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    db = any_runtime.db
    user_service.create(db, "dora", "dora-password", Role.OPERATOR, Actor.cli())
    with pytest.raises(Conflict):
        user_service.create(db, "dora", "dora-password", Role.OPERATOR, Actor.cli())
    assert user_service.authenticate(db, "dora", "dora-password", "10.8.0.1").username == "dora"
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            user_service.authenticate(db, "dora", "wrong-password", "10.8.0.2")
    with pytest.raises(TooManyAttempts):
        user_service.authenticate(db, "dora", "dora-password", "10.8.0.3")

    token, plaintext = tokens.create(db, "dora", "ci", Actor.cli())
    assert tokens.authenticate(db, plaintext).username == "dora"
    tokens.revoke(db, token.id, Actor.cli())
    assert tokens.authenticate(db, plaintext) is None
    user_service.set_active(db, "dora", False, Actor.cli())
    assert [u.is_active for u in user_service.list_users(db)] == [False]
