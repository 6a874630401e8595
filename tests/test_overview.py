"""The overview: its service on each database, and ``GET /scheduler/api/overview`` (roles, shape)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from whalefall.domain.jobspec import JobCreate
from whalefall.models import AlertDelivery, Run
from whalefall.services import jobs, overview
from whalefall.services.audit import Actor

ADMIN = Actor("admin", "admin")
# 2026-03-10 00:30 in Asia/Shanghai (UTC+8) is 2026-03-09 16:30 UTC: the local day has just begun.
NOW = datetime(2026, 3, 9, 16, 30, tzinfo=UTC)


def add_run(rt, status: str, created: datetime, job_id: str = "etl", error: str | None = None) -> int:
    with rt.db.begin() as session:
        run = Run(
            job_id=job_id,
            job_name=job_id.upper(),
            trigger_source="schedule",
            created_at=created,
            started_at=created,
            finished_at=None if status in ("queued", "running") else created + timedelta(seconds=5),
            status=status,
            error_message=error,
        )
        session.add(run)
        session.flush()
        return run.id


def test_the_success_rate_is_counted_per_day_in_the_configured_zone(any_runtime):
    rt = any_runtime
    # Either side of local midnight (16:00 UTC): 15:59 UTC is the 9th in Shanghai, 16:01 the 10th.
    add_run(rt, "success", datetime(2026, 3, 9, 15, 59, tzinfo=UTC))
    add_run(rt, "failed", datetime(2026, 3, 9, 15, 58, tzinfo=UTC), error="boom\nsecond line")
    add_run(rt, "success", datetime(2026, 3, 9, 16, 1, tzinfo=UTC))
    add_run(rt, "cancelled", datetime(2026, 3, 9, 16, 2, tzinfo=UTC))  # not judged
    add_run(rt, "success", datetime(2026, 3, 3, 16, 0, tzinfo=UTC))  # the 4th: the oldest day shown
    add_run(rt, "failed", datetime(2026, 3, 3, 15, 59, tzinfo=UTC))  # the 3rd: before the 7 days
    with time_machine.travel(NOW, tick=False):
        data = overview.overview(rt)
    days = data["success_by_day"]
    assert [d["day"] for d in days] == [f"2026-03-{n:02d}" for n in range(4, 11)]
    by_day = {d["day"]: d for d in days}
    assert by_day["2026-03-10"] == {"day": "2026-03-10", "total": 1, "success": 1, "rate": 100.0}
    assert by_day["2026-03-09"] == {"day": "2026-03-09", "total": 2, "success": 1, "rate": 50.0}
    assert by_day["2026-03-04"]["rate"] == 100.0
    assert by_day["2026-03-05"] == {"day": "2026-03-05", "total": 0, "success": 0, "rate": None}
    assert data["runs_24h"]["total"] == 4 and data["runs_24h"]["success"] == 2
    assert data["runs_24h"]["cancelled"] == 1 and data["runs_24h"]["failed"] == 1
    assert data["time"]["iso"] == "2026-03-09T16:30:00+00:00"
    assert data["time"]["local"] == "2026-03-10 00:30:00"


def test_runs_going_now_failures_next_runs_and_deliveries_are_the_newest(any_runtime):
    rt = any_runtime
    base = datetime.now(UTC) - timedelta(hours=1)
    queued = add_run(rt, "queued", base)
    running = add_run(rt, "running", base + timedelta(minutes=1))
    add_run(rt, "success", base + timedelta(minutes=2))
    failures = [
        add_run(rt, status, base + timedelta(minutes=3 + i), error=f"{status} first\ntraceback")
        for i, status in enumerate(["failed", "timeout", "interrupted", "missed", "cancelled"] * 3)
    ]
    jobs.create(
        rt,
        JobCreate(id="later", name="Later", function="heartbeat", trigger_type="interval", interval_hours=2),
        ADMIN,
    )
    jobs.create(
        rt,
        JobCreate(
            id="sooner", name="Sooner", function="heartbeat", trigger_type="interval", interval_minutes=5
        ),
        ADMIN,
    )
    with rt.db.begin() as session:
        for i in range(12):
            session.add(
                AlertDelivery(
                    dedupe_key=f"k{i}",
                    event="failure",
                    job_id="etl",
                    run_id=failures[0],
                    channel="hook",
                    status="sent",
                    title=f"t{i}",
                )
            )
    data = overview.overview(rt)
    assert [r["id"] for r in data["running"]] == [running, queued]
    judged = [f for i, f in enumerate(failures) if i % 5 != 4]  # cancelled is not a failure
    assert [r["id"] for r in data["recent_failures"]] == list(reversed(judged))[:10]
    newest = data["recent_failures"][0]
    assert newest["status"] == "missed" and newest["error"] == "missed first"
    assert newest["finished_at"]["iso"].endswith("+00:00") and newest["finished_at"]["local"]
    assert [n["job_id"] for n in data["next_runs"]] == ["sooner", "later"]
    assert [d["title"] for d in data["deliveries"]] == [f"t{i}" for i in range(11, 1, -1)]
    assert data["open_windows"] == []
    # No scheduler runs in this test: the health card says so.
    assert data["health"]["status"] == "unhealthy" and data["health"]["running"] is False


@pytest.fixture
def viewer(bearer):
    return bearer("viewer")


def test_the_overview_api_answers_viewers_in_the_envelope(client, viewer, runtime):
    assert client.get("/scheduler/api/overview").status_code == 401
    add_run(runtime, "failed", datetime.now(UTC), error="disk full")
    body = client.get("/scheduler/api/overview", headers=viewer).json
    assert body["success"] is True
    data = body["data"]
    assert set(data) >= {
        "health",
        "runs_24h",
        "success_by_day",
        "running",
        "recent_failures",
        "next_runs",
        "open_windows",
        "deliveries",
        "time",
        "timezone",
    }
    assert len(data["success_by_day"]) == 7
    assert data["recent_failures"][0]["error"] == "disk full"
    assert data["health"]["lease_expires_at"] == {"iso": None, "local": None}
    paths = client.get("/scheduler/api/openapi.json").json["paths"]
    assert "/scheduler/api/overview" in paths


def test_sign_in_without_next_lands_on_the_overview(client, users):
    from tests.conftest import csrf_from_html

    token = csrf_from_html(client.get("/auth/login").get_data(as_text=True))
    form = {"username": "viewer", "password": users["viewer"], "csrf_token": token}
    response = client.post("/auth/login", data=form)
    assert response.status_code == 302 and response.headers["Location"] == "/scheduler/overview"
    html = client.get("/scheduler/overview").get_data(as_text=True)
    assert 'id="ov-chart"' in html and 'id="nav-overview"' in html and 'aria-current="page"' in html
    # The jobs page stays at /scheduler/.
    assert 'id="job-grid"' in client.get("/scheduler/").get_data(as_text=True)


def test_an_open_window_is_listed_with_when_it_closes(runtime):
    from whalefall.domain.alertspec import WindowCreate
    from whalefall.services import windows

    with time_machine.travel(datetime(2031, 3, 4, 1, 0, tzinfo=UTC), tick=False):
        windows.create(
            runtime,
            WindowCreate(
                name="db upgrade", starts_at="2031-03-04 08:30", ends_at="2031-03-04 10:00", hold_runs=True
            ),
            ADMIN,
        )
        windows.create(
            runtime,
            WindowCreate(name="later", starts_at="2031-03-05 08:30", ends_at="2031-03-05 10:00"),
            ADMIN,
        )
        windows.forget(runtime)
        shown = overview.overview(runtime)["open_windows"]
    assert [(w["name"], w["hold_runs"]) for w in shown] == [("db upgrade", True)]
    assert shown[0]["closes_at"] == {"iso": "2031-03-04T02:00:00+00:00", "local": "2031-03-04 10:00:00"}
