"""Hardening: private files and data dir, security headers, the password policy, the first admin's
password file, the client's real address behind trusted proxies, and what a failed sign-in records."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

import whalefall
from tests.conftest import csrf_from_html, make_runtime
from whalefall.app import create_app
from whalefall.config import load_settings
from whalefall.errors import ConfigError, InvalidInput
from whalefall.models import AuditEntry, LoginAttempt
from whalefall.services import users as user_service
from whalefall.services.audit import Actor

API = "/scheduler/api/jobs"
PACKAGE_ROOT = Path(whalefall.__file__).resolve().parents[1]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def post_login(client, username, password, **environ):
    token = csrf_from_html(client.get("/auth/login").get_data(as_text=True))
    return client.post(
        "/auth/login",
        data={"username": username, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": "127.0.0.1", **environ},
    )


def audit_rows(runtime, action: str) -> list[AuditEntry]:
    with runtime.db.read() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# --- files: umask and the data directory ------------------------------------------------------


def run_whalefall(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command in a child process, importing this tree's package, under umask 022."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHALEFALL_")}
    env.update(WHALEFALL_DATA_DIR=str(data_dir), PYTHONPATH=str(PACKAGE_ROOT))
    done = subprocess.run(
        [sys.executable, "-c", "from whalefall.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert done.returncode == 0, done.stderr
    return done


def test_a_command_makes_an_existing_data_dir_private_and_creates_its_files_0600(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    run_whalefall(data, "db", "upgrade")
    assert mode(data) == 0o700
    assert mode(data / "whalefall.db") == 0o600  # created by SQLite: only the umask narrows it
    assert mode(data / "secret_key") == 0o600


def test_the_app_factory_makes_a_wide_data_dir_private(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o775)
    runtime = make_runtime(tmp_path)
    try:
        create_app(runtime=runtime)
        assert mode(data) == 0o700
    finally:
        runtime.close()


def test_a_fresh_data_dir_is_created_0700(tmp_path):
    runtime = make_runtime(tmp_path)
    runtime.close()
    assert mode(tmp_path / "data") == 0o700


# --- headers -------------------------------------------------------------------------------


def test_an_api_answer_is_not_stored_and_not_sniffed(client, bearer):
    response = client.get(API, headers=bearer("viewer"))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize(
    ("path", "status"),
    [(API, 401), ("/scheduler/api/jobs/no-such-job", 404), ("/scheduler/api/no-such-endpoint", 404)],
)
def test_an_api_error_is_not_stored_and_not_sniffed(client, users, bearer, path, status):
    headers = bearer("viewer") if status != 401 else {}
    response = client.get(path, headers=headers)
    assert response.status_code == status
    assert response.json["success"] is False
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_and_the_sign_in_form_are_not_sniffed(client, login):
    sign_in = client.get("/auth/login")
    assert sign_in.headers["X-Content-Type-Options"] == "nosniff"
    assert sign_in.headers["Cache-Control"] == "no-store"  # it carries a CSRF token
    login(client, "viewer")
    page = client.get("/scheduler/overview")
    assert page.status_code == 200
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_hsts_is_sent_when_the_session_cookie_is_secure(tmp_path, users):
    runtime = make_runtime(tmp_path / "secure", session_cookie_secure=True)
    try:
        client = create_app(runtime=runtime).test_client()
        for path in ("/auth/login", "/scheduler/api/health", "/scheduler/api/jobs"):
            assert client.get(path).headers["Strict-Transport-Security"] == "max-age=31536000", path
    finally:
        runtime.close()


# --- the password policy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password", ["qwertyuiop", "Password123", "PASSWORD1234", "1234567890", "Whalefall123"]
)
def test_a_common_password_is_refused_whatever_its_case(password):
    with pytest.raises(InvalidInput) as caught:
        user_service.validate_password(password)
    assert caught.value.errors == {"password": caught.value.message}
    assert caught.value.key == "password_common"


def test_nine_characters_are_too_few_and_ten_are_enough():
    with pytest.raises(InvalidInput) as caught:
        user_service.validate_password("k7#vq2!mz")
    assert caught.value.key == "password_too_short"
    assert user_service.validate_password("k7#vq2!mzx") == "k7#vq2!mzx"


@pytest.mark.parametrize(
    ("lang", "words"),
    [("zh", "密码是最常见的密码之一"), ("en", "password is one of the most common passwords")],
)
def test_the_api_refuses_a_common_password_naming_the_field_in_the_users_language(
    client, bearer, lang, words
):
    admin = bearer("admin")
    created = client.post(
        f"/scheduler/api/users?lang={lang}",
        json={"username": "dba", "password": "iloveyou123", "role": "viewer"},
        headers=admin,
    )
    assert created.status_code == 400
    assert set(created.json["errors"]) == {"password"}
    assert created.json["message"].startswith(words)
    changed = client.put(
        f"/scheduler/api/users/viewer?lang={lang}", json={"password": "Qwerty123456"}, headers=admin
    )
    assert changed.status_code == 400
    assert changed.json["message"].startswith(words)


def test_the_service_refuses_a_common_password_on_create_and_on_change(runtime, users):
    with pytest.raises(InvalidInput):
        user_service.create(runtime.db, "dba", "administrator", "viewer", Actor.cli())
    with pytest.raises(InvalidInput):
        user_service.set_password(runtime.db, "viewer", "letmein123", Actor.cli())


def test_the_command_line_refuses_a_common_password(tmp_path):
    data = tmp_path / "data"
    run_whalefall(data, "db", "upgrade")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHALEFALL_")}
    env.update(WHALEFALL_DATA_DIR=str(data), PYTHONPATH=str(PACKAGE_ROOT))
    done = subprocess.run(
        [sys.executable, "-c", "from whalefall.cli import main; main()"]
        + ["user", "create", "dba", "--role", "viewer", "--password-stdin"],
        env=env,
        input="password123\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: password is one of the most common passwords")


def test_the_blocklist_is_a_few_hundred_lower_case_passwords():
    common = user_service.common_passwords()
    assert 300 <= len(common) <= 2000
    assert "123456" in common and "qwertyuiop" in common
    assert all(p == p.casefold() and not p.startswith("#") for p in common)


def test_the_first_admins_generated_password_meets_the_policy(runtime):
    password = user_service.ensure_first_admin(runtime)
    assert password is not None
    assert user_service.validate_password(password) == password


# --- the first admin's password file ----------------------------------------------------------


@pytest.fixture
def first_admin(runtime, monkeypatch):
    from argon2 import PasswordHasher

    monkeypatch.setattr(user_service, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    password = user_service.ensure_first_admin(runtime)
    path = runtime.settings.data_dir / user_service.INITIAL_ADMIN_FILE
    assert path.exists()
    return password, path


def test_the_initial_password_file_is_deleted_when_the_admin_changes_their_password(client, first_admin):
    password, path = first_admin
    assert post_login(client, "admin", password).status_code == 302
    token = client.get("/auth/csrf").json["data"]["csrf_token"]
    response = client.put(
        "/scheduler/api/users/admin", json={"password": "my-own-passphrase-9"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 200, response.json
    assert not path.exists()


def test_the_initial_password_file_stays_while_other_passwords_change(client, runtime, first_admin):
    _password, path = first_admin
    user_service.create(runtime.db, "dba", "dba-passphrase-1", "viewer", Actor.cli())
    user_service.set_password(
        runtime.db, "dba", "dba-passphrase-2", Actor.cli(), data_dir=runtime.settings.data_dir
    )
    assert path.exists()


def test_cli_passwd_of_the_first_admin_deletes_the_initial_password_file(tmp_path):
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHALEFALL_")}
    env.update(WHALEFALL_DATA_DIR=str(data), PYTHONPATH=str(PACKAGE_ROOT))
    runtime = make_runtime(tmp_path, secret_key=None)
    try:
        user_service.ensure_first_admin(runtime)
    finally:
        runtime.close()
    assert (data / "initial_admin_password").exists()
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from whalefall.cli import main; main()",
            "user",
            "passwd",
            "admin",
            "--password-stdin",
        ],
        env=env,
        input="my-own-passphrase-9\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert not (data / "initial_admin_password").exists()


# --- the client's address behind trusted proxies ----------------------------------------------


def proxied_client(tmp_path, proxies: int):
    runtime = make_runtime(tmp_path / f"proxies-{proxies}", trusted_proxies=proxies)
    app = create_app(runtime=runtime)
    return runtime, app.test_client()


@pytest.fixture
def cast(monkeypatch):
    from argon2 import PasswordHasher

    monkeypatch.setattr(user_service, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))

    def create(runtime) -> None:
        user_service.create(runtime.db, "operator", "operator-password-1", "operator", Actor.system())

    return create


def test_with_one_trusted_proxy_failures_from_one_client_do_not_throttle_another(tmp_path, cast):
    runtime, client = proxied_client(tmp_path, 1)
    try:
        cast(runtime)
        for i in range(5):
            answer = post_login(client, f"guess{i}", "wrong-password", HTTP_X_FORWARDED_FOR="203.0.113.7")
            assert answer.status_code == 200
        # The proxy's own address is the same for both clients: only the forwarded one tells them apart.
        assert (
            post_login(
                client, "operator", "operator-password-1", HTTP_X_FORWARDED_FOR="198.51.100.9"
            ).status_code
            == 302
        )
        assert (
            post_login(
                client, "operator", "operator-password-1", HTTP_X_FORWARDED_FOR="203.0.113.7"
            ).status_code
            == 429
        )
        with runtime.db.read() as session:
            addresses = set(session.scalars(select(LoginAttempt.address)))
        assert addresses == {"203.0.113.7", "198.51.100.9"}
    finally:
        runtime.close()


def test_without_trusted_proxies_the_forwarded_header_is_ignored(tmp_path, cast):
    runtime, client = proxied_client(tmp_path, 0)
    try:
        cast(runtime)
        for i in range(5):
            post_login(client, f"guess{i}", "wrong-password", HTTP_X_FORWARDED_FOR="203.0.113.7")
        answer = post_login(client, "operator", "operator-password-1", HTTP_X_FORWARDED_FOR="198.51.100.9")
        assert answer.status_code == 429
    finally:
        runtime.close()


def test_only_the_trusted_number_of_forwarded_addresses_is_believed(tmp_path, cast):
    runtime, client = proxied_client(tmp_path, 1)
    try:
        cast(runtime)
        # A client writing its own X-Forwarded-For cannot pick its address: the proxy appends the real one.
        for i in range(5):
            post_login(client, f"guess{i}", "wrong-password", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}, 203.0.113.7")
        answer = post_login(
            client, "operator", "operator-password-1", HTTP_X_FORWARDED_FOR="10.0.0.99, 203.0.113.7"
        )
        assert answer.status_code == 429
    finally:
        runtime.close()


def test_trusted_proxies_must_be_a_small_non_negative_number():
    with pytest.raises(ConfigError, match="WHALEFALL_TRUSTED_PROXIES"):
        load_settings(environ={"WHALEFALL_TRUSTED_PROXIES": "-1"})
    assert load_settings(environ={"WHALEFALL_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
    assert load_settings(environ={}).trusted_proxies == 0


# --- what a failed sign-in records --------------------------------------------------------------


def test_a_failed_sign_in_for_an_unknown_user_records_neither_the_name_nor_the_password(
    client, runtime, users
):
    typed_name, typed_password = "Tr0ub4dor-typed-in-the-name", "correct-horse-battery"
    post_login(client, typed_name, typed_password, REMOTE_ADDR="10.7.0.1")
    (row,) = audit_rows(runtime, "auth.login_failed")
    assert (row.actor, row.target_id, row.address) == ("(unknown user)", "(unknown user)", "10.7.0.1")
    assert row.detail == {"reason": "unknown_user"}
    stored = json.dumps([row.actor, row.target_id, row.detail, row.address])
    assert typed_name not in stored and typed_password not in stored


def test_a_throttled_sign_in_for_an_unknown_user_records_no_typed_name(client, runtime, users):
    for _ in range(6):
        post_login(client, "secret-typed-name", "wrong-password", REMOTE_ADDR="10.7.0.2")
    rows = audit_rows(runtime, "auth.login_failed")
    assert [r.detail["reason"] for r in rows][-1] == "too_many_attempts"
    assert all(r.actor == "(unknown user)" and "secret-typed-name" not in r.target_id for r in rows)


def test_a_failed_sign_in_for_a_real_user_names_the_user_and_never_the_password(client, runtime, users):
    post_login(client, "viewer", "the-wrong-guess", REMOTE_ADDR="10.7.0.3")
    (row,) = audit_rows(runtime, "auth.login_failed")
    assert (row.actor, row.target_id, row.detail) == ("viewer", "viewer", {"reason": "wrong_password"})
    assert "the-wrong-guess" not in json.dumps(row.detail)
