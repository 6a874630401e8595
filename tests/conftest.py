"""Shared fixtures: real databases, the app, a test client, the cast of users.

PostgreSQL and MariaDB tests use the servers on this machine; they skip with a
reason when a server is unreachable, unless WHALEFALL_REQUIRE_SERVICES=1 turns
the skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from whalefall.app import create_app
from whalefall.migrate import upgrade
from whalefall.runtime import Runtime

# The alert tests' receivers on 127.0.0.1 (an HTTP endpoint, an SMTP server).
pytest_plugins = ("tests.receivers",)

REQUIRE_SERVICES = os.environ.get("WHALEFALL_REQUIRE_SERVICES") == "1"
SERVER_URLS = {
    "postgresql": os.environ.get(
        "WHALEFALL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    ),
    "mariadb": os.environ.get("WHALEFALL_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/mysql"),
}


def unavailable(reason: str) -> None:
    """Skip, or fail when the run requires every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (WHALEFALL_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _create_server_database(kind: str) -> tuple[str, str]:
    admin_url = sa.engine.make_url(SERVER_URLS[kind])
    name = f"wf_test_{uuid.uuid4().hex[:10]}"
    try:
        engine = sa.create_engine(
            admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        with engine.connect() as conn:
            if kind == "postgresql":
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            else:
                conn.execute(
                    sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                )
        engine.dispose()
    except sa.exc.OperationalError as exc:
        unavailable(f"{kind} is not reachable at {admin_url.render_as_string()}: {exc.orig}")
    return admin_url.set(database=name).render_as_string(hide_password=False), name


def _drop_server_database(kind: str, name: str) -> None:
    engine = sa.create_engine(SERVER_URLS[kind], isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if kind == "postgresql":
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
    engine.dispose()


@pytest.fixture(scope="session")
def server_databases() -> Iterator[dict[str, str]]:
    """One migrated database per server kind for the whole session, created on first use."""
    made: dict[str, tuple[str, str]] = {}

    class Lazy(dict):
        def __missing__(self, kind: str) -> str:
            url, name = _create_server_database(kind)
            made[kind] = (url, name)
            engine = sa.create_engine(url)
            upgrade(engine)
            engine.dispose()
            self[kind] = url
            return url

    yield Lazy()
    for kind, (_url, name) in made.items():
        _drop_server_database(kind, name)


def _truncate(runtime: Runtime) -> None:
    from whalefall.models import Base

    with runtime.db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db_kind(request) -> str:
    return request.param


def make_runtime(tmp_path, db_url: str | None = None, **overrides) -> Runtime:
    settings = {"data_dir": tmp_path / "data", "secret_key": "test-secret", "timezone": "Asia/Shanghai"}
    if db_url:
        settings["database_url"] = db_url
    settings.update(overrides)
    runtime = Runtime.from_env(settings)
    if not db_url:
        upgrade(runtime.db.engine)
    return runtime


@pytest.fixture
def runtime(tmp_path) -> Iterator[Runtime]:
    """A runtime on a fresh, migrated SQLite database."""
    rt = make_runtime(tmp_path)
    yield rt
    rt.close()


@pytest.fixture
def any_runtime(tmp_path, db_kind, server_databases) -> Iterator[Runtime]:
    """The same runtime on SQLite, PostgreSQL and MariaDB in turn (the contract suite)."""
    if db_kind == "sqlite":
        rt = make_runtime(tmp_path)
    else:
        rt = make_runtime(tmp_path, server_databases[db_kind])
        _truncate(rt)
    yield rt
    rt.close()


@pytest.fixture
def app(runtime):
    app = create_app(runtime=runtime)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


# --- The cast of users and ways to sign them in (auth) ---------------------
# admin, operator and viewer have accounts; the outsider is anyone without a
# session or token (a bare ``client``).

CAST_PASSWORDS = {
    "admin": "admin-password-1",
    "operator": "operator-password-1",
    "viewer": "viewer-password-1",
}


def csrf_from_html(html: str) -> str:
    """The CSRF token a page carries (the form's hidden field or the meta tag)."""
    import re

    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html
    )
    assert match, "the page carries no CSRF token"
    return match.group(1)


@pytest.fixture
def users(runtime, monkeypatch) -> dict[str, str]:
    """Create admin, operator and viewer; return name -> password.

    Hashes use cheap argon2 parameters so that a test signing people in stays
    fast; production parameters are tested where they matter.
    """
    from argon2 import PasswordHasher

    from whalefall.models import Role
    from whalefall.services import users as user_service
    from whalefall.services.audit import Actor

    monkeypatch.setattr(user_service, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for name, password in CAST_PASSWORDS.items():
        user_service.create(runtime.db, name, password, Role(name), Actor.system())
    return dict(CAST_PASSWORDS)


@pytest.fixture
def login(users):
    """``login(client, name)``: sign ``client`` in as ``name`` through the real form; returns the client."""

    def sign_in(client, name: str, password: str | None = None):
        token = csrf_from_html(client.get("/auth/login").get_data(as_text=True))
        response = client.post(
            "/auth/login",
            data={
                "username": name,
                "password": users[name] if password is None else password,
                "csrf_token": token,
            },
        )
        assert response.status_code == 302, f"signing in as {name} answered {response.status_code}"
        return client

    return sign_in


@pytest.fixture
def csrf_token():
    """``csrf_token(client)``: the token to send as ``X-CSRFToken`` with the client's session."""

    def fetch(client) -> str:
        response = client.get("/auth/csrf")
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()["data"]["csrf_token"]

    return fetch


@pytest.fixture
def bearer(runtime, users):
    """``bearer(name)``: ``{"Authorization": "Bearer <token>"}`` for a new token of ``name``."""
    from whalefall.services import tokens
    from whalefall.services.audit import Actor

    def headers(name: str, label: str = "test") -> dict[str, str]:
        _token, plaintext = tokens.create(runtime.db, name, label, Actor.system())
        return {"Authorization": f"Bearer {plaintext}"}

    return headers


def pytest_collection_modifyitems(config, items) -> None:
    """For ``pytest -n N --dist loadgroup`` (``make test``): a file's tests stay together (they
    share module fixtures, like ``--dist loadfile``), and the browser tests share one worker, so
    that one Chromium and one server run at a time while the other workers take the rest."""
    for item in items:
        path = item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group("browser" if "/e2e/" in path else path))
