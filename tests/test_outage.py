"""While the database is unreachable every endpoint answers 503 "database unavailable", never 500.

The product talks to a real PostgreSQL through a TCP proxy on 127.0.0.1
(``tests/tcp_proxy.py``) that the test stops and starts again: the API in its
envelope, console pages and the sign-in form as a page, ``/health`` with or
without a token — in Chinese and in English — and everything answers 200 again
once the database is back, without a restart.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, ProgrammingError

from tests.conftest import CAST_PASSWORDS, SERVER_URLS, _truncate, csrf_from_html, make_runtime
from tests.tcp_proxy import TcpProxy
from whalefall.app import create_app
from whalefall.runtime import Runtime
from whalefall.scheduler.service import SchedulerService
from whalefall.web.errors import database_unavailable

UNAVAILABLE = {"en": "database unavailable", "zh": "数据库不可用"}
PAGE_TITLE = {"en": "Service unavailable", "zh": "服务暂不可用"}


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    target = make_url(SERVER_URLS["postgresql"])
    with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as running:
        yield running


@pytest.fixture
def pg_runtime(tmp_path, proxy, server_databases, monkeypatch) -> Iterator[Runtime]:
    """A runtime on a migrated PostgreSQL database reached only through ``proxy``."""
    from argon2 import PasswordHasher

    from whalefall.models import Role
    from whalefall.services import users as user_service
    from whalefall.services.audit import Actor

    url = make_url(server_databases["postgresql"]).set(host="127.0.0.1", port=proxy.port)
    rt = make_runtime(tmp_path, url.render_as_string(hide_password=False))
    _truncate(rt)
    monkeypatch.setattr(user_service, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    user_service.create(rt.db, "admin", CAST_PASSWORDS["admin"], Role.ADMIN, Actor.system())
    yield rt
    rt.close()


@pytest.fixture
def leader(pg_runtime) -> Iterator[SchedulerService]:
    """A scheduler leading in this process, driven step by step, so /health has one to report."""
    service = SchedulerService(pg_runtime)
    service.start(thread=False)
    service.step()
    assert service.leading
    yield service
    service.stop(wait_seconds=0)


@pytest.fixture
def app(pg_runtime):
    app = create_app(runtime=pg_runtime)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def token(pg_runtime) -> dict[str, str]:
    from whalefall.services import tokens
    from whalefall.services.audit import Actor

    _row, plaintext = tokens.create(pg_runtime.db, "admin", "outage", Actor.system())
    return {"Authorization": f"Bearer {plaintext}"}


def signed_in(app):
    client = app.test_client()
    csrf = csrf_from_html(client.get("/auth/login").get_data(as_text=True))
    response = client.post(
        "/auth/login", data={"username": "admin", "password": CAST_PASSWORDS["admin"], "csrf_token": csrf}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def sign_in_attempt(app, lang: str):
    """A sign-in POST by a browser with a valid CSRF token (the form needs no database)."""
    client = app.test_client()
    csrf = csrf_from_html(client.get(f"/auth/login?lang={lang}").get_data(as_text=True))
    return client.post(
        f"/auth/login?lang={lang}",
        data={"username": "admin", "password": CAST_PASSWORDS["admin"], "csrf_token": csrf},
    )


def assert_envelope_503(response, lang: str) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert body["success"] is False and body["code"] == 503
    assert UNAVAILABLE[lang] in body["message"]
    assert response.headers["Retry-After"]


def assert_page_503(response, lang: str) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert UNAVAILABLE[lang] in html and PAGE_TITLE[lang] in html


def assert_health_503(response, lang: str) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    body = response.get_json()
    assert body["success"] is False and body["status"] == "unhealthy"
    assert body["data"]["database"] == "unreachable"
    assert UNAVAILABLE[lang] in body["message"]
    assert UNAVAILABLE[lang] in body["data"]["problems"][0]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_face_answers_503_database_unavailable_while_the_database_is_away_then_200(
    app, token, leader, proxy, lang
):
    browser = signed_in(app)
    bearer = app.test_client()
    assert bearer.get("/scheduler/api/jobs", headers=token).status_code == 200
    assert bearer.get("/scheduler/api/health").status_code == 200

    proxy.stop()
    assert_envelope_503(bearer.get(f"/scheduler/api/jobs?lang={lang}", headers=token), lang)
    assert_envelope_503(browser.get(f"/scheduler/api/runs?lang={lang}"), lang)
    assert_page_503(browser.get(f"/scheduler/?lang={lang}"), lang)
    assert_page_503(browser.get(f"/scheduler/overview?lang={lang}"), lang)
    assert_health_503(bearer.get(f"/scheduler/api/health?lang={lang}"), lang)
    assert_health_503(bearer.get(f"/scheduler/api/health?lang={lang}", headers=token), lang)
    assert_page_503(sign_in_attempt(app, lang), lang)

    proxy.start()
    assert bearer.get(f"/scheduler/api/jobs?lang={lang}", headers=token).status_code == 200
    assert browser.get(f"/scheduler/api/runs?lang={lang}").status_code == 200
    assert browser.get(f"/scheduler/?lang={lang}").status_code == 200
    assert bearer.get(f"/scheduler/api/health?lang={lang}").status_code == 200
    assert bearer.get(f"/scheduler/api/health?lang={lang}", headers=token).status_code == 200
    assert sign_in_attempt(app, lang).status_code == 302


def test_connections_cut_under_the_pool_are_replaced_at_the_next_request(app, token, proxy):
    client = app.test_client()
    assert client.get("/scheduler/api/jobs", headers=token).status_code == 200
    before = proxy.connections
    proxy.cut()  # every pooled connection is now dead; the server itself is fine
    for _ in range(3):
        assert client.get("/scheduler/api/jobs", headers=token).status_code == 200
    assert proxy.connections > before  # pool_pre_ping noticed and connected again


def test_a_request_taking_the_user_from_a_session_is_never_treated_as_anonymous_in_an_outage(app, proxy):
    browser = signed_in(app)
    proxy.stop()
    response = browser.get("/scheduler/?lang=en")
    assert response.status_code == 503  # not a redirect to the sign-in page
    assert "Location" not in response.headers


def test_only_errors_of_reaching_the_database_count_as_it_being_unavailable():
    orig = Exception("boom")
    assert database_unavailable(OperationalError("SELECT 1", {}, orig))
    assert database_unavailable(InterfaceError("SELECT 1", {}, orig))
    assert database_unavailable(ProgrammingError("SELECT 1", {}, orig, connection_invalidated=True))
    assert not database_unavailable(ProgrammingError("SELEC 1", {}, orig))
    assert not database_unavailable(IntegrityError("INSERT", {}, orig))
    assert not database_unavailable(ValueError("not a database error"))
