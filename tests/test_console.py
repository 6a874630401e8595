"""The overview page: signed-in only, escaped, in both languages."""

from __future__ import annotations

from whalefall.domain.jobspec import JobCreate
from whalefall.services import jobs as job_service
from whalefall.services.audit import Actor

XSS = "<img src=x onerror=alert(1)>"


def test_overview_needs_a_session(client):
    response = client.get("/scheduler/")
    assert response.status_code == 302 and "/auth/login" in response.location


def test_overview_lists_jobs_with_every_user_text_escaped(client, login, runtime):
    job_service.create(
        runtime,
        JobCreate(
            id="xss",
            name=XSS,
            description=XSS,
            trigger_type="interval",
            interval_seconds=60,
            function="heartbeat",
        ),
        Actor("admin", "admin"),
    )
    login(client, "viewer")
    html = client.get("/scheduler/").get_data(as_text=True)
    assert XSS not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "每 60 秒执行" in html and "启用" in html


def test_overview_speaks_english_when_asked_and_remembers(client, login):
    login(client, "viewer")
    assert "Sign out" in client.get("/scheduler/?lang=en").get_data(as_text=True)
    assert "Sign out" in client.get("/scheduler/").get_data(as_text=True)
