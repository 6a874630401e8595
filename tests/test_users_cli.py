"""``whalefall user …`` and ``whalefall token …`` through click's CliRunner."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from whalefall.cli.users import register
from whalefall.migrate import upgrade
from whalefall.models import AuditEntry
from whalefall.runtime import Runtime
from whalefall.services import tokens
from whalefall.services import users as user_service


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A migrated SQLite database in a data dir the commands find through the environment."""
    path = tmp_path / "cli-data"
    for name in ("WHALEFALL_DATABASE_URL", "WHALEFALL_CONFIG", "WHALEFALL_SECRET_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WHALEFALL_DATA_DIR", str(path))
    rt = Runtime.from_env()
    upgrade(rt.db.engine)
    rt.close()
    return path


@pytest.fixture
def cli():
    group = click.Group("whalefall")
    register(group)
    return group


@pytest.fixture
def run(cli, data_dir):
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(cli, list(args), input=input)

    return invoke


@pytest.fixture
def rt(data_dir):
    runtime = Runtime.from_env()
    yield runtime
    runtime.close()


def test_user_create_reads_the_password_from_stdin(run, rt):
    result = run(
        "user", "create", "alice", "--role", "operator", "--password-stdin", input="alice-password\n"
    )
    assert result.exit_code == 0, result.output
    user = user_service.authenticate(rt.db, "alice", "alice-password", "127.0.0.1")
    assert user.role == "operator"


def test_user_create_prompts_twice_without_password_stdin(run, rt):
    result = run("user", "create", "bob", "--role", "viewer", input="bob-password\nbob-password\n")
    assert result.exit_code == 0, result.output
    assert "bob-password" not in result.output  # hidden input is not echoed
    assert user_service.authenticate(rt.db, "bob", "bob-password", "127.0.0.1").role == "viewer"


def test_user_create_with_a_short_password_fails_with_exit_status_2(run):
    result = run("user", "create", "carol", "--role", "admin", "--password-stdin", input="short\n")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: password must be at least 10 characters")


def test_user_create_refuses_an_unknown_role(run):
    result = run("user", "create", "dave", "--role", "root", "--password-stdin", input="dave-password\n")
    assert result.exit_code == 2
    assert "root" in result.stderr


def test_user_create_twice_is_a_conflict(run):
    run("user", "create", "erin", "--role", "viewer", "--password-stdin", input="erin-password\n")
    result = run("user", "create", "erin", "--role", "viewer", "--password-stdin", input="erin-password\n")
    assert result.exit_code == 2
    assert "already exists" in result.stderr


def test_user_passwd_changes_the_password(run, rt):
    run("user", "create", "frank", "--role", "viewer", "--password-stdin", input="frank-password\n")
    result = run("user", "passwd", "frank", "--password-stdin", input="frank-new-password\n")
    assert result.exit_code == 0, result.output
    assert user_service.authenticate(rt.db, "frank", "frank-new-password", "127.0.0.1")


def test_user_passwd_prompts_twice_and_refuses_a_mismatch(run, rt):
    run("user", "create", "gina", "--role", "viewer", "--password-stdin", input="gina-password\n")
    result = run(
        "user", "passwd", "gina", input="first-try-pw\nsecond-try-pw\ngina-new-password\ngina-new-password\n"
    )
    assert result.exit_code == 0, result.output
    assert user_service.authenticate(rt.db, "gina", "gina-new-password", "127.0.0.1")


def test_user_passwd_for_an_unknown_user_fails_with_exit_status_2(run):
    result = run("user", "passwd", "nobody", "--password-stdin", input="whatever-password\n")
    assert result.exit_code == 2
    assert result.stderr == "error: user 'nobody' does not exist\n"


def test_token_create_prints_the_token_alone_on_the_last_line(run, rt):
    run("user", "create", "ci", "--role", "operator", "--password-stdin", input="ci-password-1\n")
    result = run("token", "create", "ci", "--label", "deploy")
    assert result.exit_code == 0, result.output
    plaintext = result.stdout.splitlines()[-1]
    assert plaintext.startswith("wf_") and " " not in plaintext
    assert tokens.authenticate(rt.db, plaintext).username == "ci"


def test_token_list_and_revoke(run, rt):
    run("user", "create", "ci", "--role", "operator", "--password-stdin", input="ci-password-1\n")
    plaintext = run("token", "create", "ci", "--label", "deploy").stdout.splitlines()[-1]
    token_id = tokens.list_tokens(rt.db)[0].id

    listed = run("token", "list")
    assert listed.exit_code == 0
    assert f"{token_id}\tci\t{plaintext[:10]}…\tdeploy\tactive" in listed.stdout
    assert plaintext not in listed.stdout

    revoked = run("token", "revoke", str(token_id))
    assert revoked.exit_code == 0, revoked.output
    assert tokens.authenticate(rt.db, plaintext) is None
    assert "revoked" in run("token", "list").stdout


def test_token_revoke_of_an_unknown_id_fails_with_exit_status_2(run):
    result = run("token", "revoke", "999")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: token 999 does not exist")


def test_cli_changes_are_audited_as_the_cli(run, rt):
    run("user", "create", "hank", "--role", "viewer", "--password-stdin", input="hank-password\n")
    run("token", "create", "hank")
    with rt.db.read() as session:
        rows = [
            (e.action, e.actor, e.address)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]
    assert rows == [("user.create", "cli", "local"), ("token.create", "cli", "local")]


def test_user_role_disable_and_list(run, rt):
    run("user", "create", "ivy", "--role", "viewer", "--password-stdin", input="ivy-password\n")
    assert run("user", "role", "ivy", "operator").exit_code == 0
    assert run("user", "disable", "ivy").exit_code == 0
    listing = run("user", "list").stdout
    assert "ivy\toperator\tdisabled" in listing
    assert run("user", "enable", "ivy").exit_code == 0
    assert user_service.get_by_name(rt.db, "ivy").is_active
