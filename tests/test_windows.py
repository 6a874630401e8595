"""Maintenance windows: alerts silenced, scheduled runs held, one-off and recurring, checked input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from whalefall.domain.alertspec import ChannelCreate, WindowCreate
from whalefall.domain.jobspec import JobCreate
from whalefall.models import AlertDelivery, MaintenanceWindow, RunStatus, TriggerSource
from whalefall.scheduler.alerts import AlertDispatcher
from whalefall.services import alert_channels, claims, jobs, runs, windows
from whalefall.services.audit import Actor

ADMIN = Actor("admin", "admin")
SUNDAY_0230 = datetime(2031, 3, 2, 2, 30, tzinfo=UTC) - timedelta(hours=8)  # 02:30 in Asia/Shanghai, a Sunday


@pytest.fixture
def hook(runtime, http_receiver):
    url = f"json://127.0.0.1:{http_receiver.port}/alert"
    alert_channels.create(runtime, ChannelCreate(name="hook", url=url), ADMIN)
    return http_receiver


def make_job(rt, job_id="nightly", category="sync"):
    body = {"id": job_id, "name": job_id, "function": "heartbeat", "trigger_type": "interval"}
    return jobs.create(rt, JobCreate(**body, interval_seconds=3600, category=category), ADMIN)


def fail(rt, job_id="nightly"):
    run = runs.enqueue(rt, job_id, source=TriggerSource.MANUAL, node="n1")
    runs.start(rt, run.id, "n1")
    runs.finish(rt, run.id, RunStatus.FAILED, error_message="boom")


def statuses(rt) -> list[str]:
    with rt.db.read() as session:
        return list(session.scalars(select(AlertDelivery.status).order_by(AlertDelivery.id)))


def window(rt, **fields):
    window = windows.create(rt, WindowCreate(name="db upgrade", **fields), ADMIN)
    windows.forget(rt)
    return window


def test_alerts_inside_a_one_off_window_are_recorded_silenced_and_sent_after_it(runtime, hook):
    make_job(runtime)
    with time_machine.travel(datetime(2031, 3, 4, 1, 0, tzinfo=UTC), tick=False) as t:
        window(runtime, starts_at="2031-03-04 08:30", ends_at="2031-03-04 10:00")  # Asia/Shanghai
        fail(runtime)
        AlertDispatcher(runtime, lambda: True).step()
        assert statuses(runtime) == ["silenced"] and hook.requests == []
        t.shift(timedelta(hours=1, minutes=1))
        windows.forget(runtime)
        fail(runtime)
        AlertDispatcher(runtime, lambda: True).step()
    assert statuses(runtime) == ["silenced", "sent"]


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (SUNDAY_0230, True),
        (SUNDAY_0230 + timedelta(hours=2), False),
        (SUNDAY_0230 - timedelta(hours=1), False),
    ],
)
def test_a_recurring_window_opens_on_its_cron_for_its_duration(runtime, moment, open_):
    w = window(runtime, cron="0 2 * * 0", duration_minutes=120)
    assert (windows.opened_at(runtime, w, moment) is not None) is open_


def test_a_window_that_holds_runs_records_them_skipped_with_its_name_and_run_now_still_runs(runtime):
    make_job(runtime, "etl", category="etl")
    make_job(runtime, "other", category="sync")
    with time_machine.travel(SUNDAY_0230, tick=False):
        window(
            runtime,
            cron="0 2 * * 0",
            duration_minutes=120,
            scope="category",
            scope_values=["etl"],
            hold_runs=True,
        )
        held = claims.claim_scheduled(runtime, "etl", SUNDAY_0230, source=TriggerSource.SCHEDULE, node="n1")
        free = claims.claim_scheduled(runtime, "other", SUNDAY_0230, source=TriggerSource.SCHEDULE, node="n1")
        manual = runs.enqueue(runtime, "etl", source=TriggerSource.MANUAL)
    assert held is not None and held.status == RunStatus.SKIPPED
    assert free is not None and free.status == RunStatus.QUEUED and manual.status == "queued"
    with runtime.db.read() as session:
        assert runs.get(session, held.run_id).error_message == "held by maintenance window 'db upgrade'"


def test_ending_a_window_early_lets_alerts_and_runs_go_on_at_once(runtime):
    make_job(runtime)
    with time_machine.travel(SUNDAY_0230, tick=False) as t:
        w = window(runtime, cron="0 2 * * 0", duration_minutes=120, hold_runs=True)
        assert windows.covering(runtime, "nightly", "sync", SUNDAY_0230, holding=True) is not None
        windows.end(runtime, w.id, ADMIN)
        t.shift(1)
        assert windows.covering(runtime, "nightly", "sync", SUNDAY_0230 + timedelta(seconds=1)) is None
        assert windows.open_now(runtime) == []


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"starts_at": "2031-03-04 10:00", "ends_at": "2031-03-04 09:00"},
            "ends_at",
            "「结束时间」必须晚于「开始时间」",
        ),
        ({"cron": "0 25 * * *", "duration_minutes": 60}, "cron", "「时」字段：25 超出范围 0–23"),
        ({"cron": "0 2 * * 0"}, "duration_minutes", "「持续分钟数」：必填"),
        ({}, "starts_at", None),
        (
            {
                "starts_at": "2031-03-04 10:00",
                "ends_at": "2031-03-04 11:00",
                "cron": "0 2 * * 0",
                "duration_minutes": 5,
            },
            "starts_at",
            None,
        ),
        (
            {
                "starts_at": "2031-03-04 10:00",
                "ends_at": "2031-03-04 11:00",
                "scope": "jobs",
                "scope_values": ["ghost"],
            },
            "scope_values",
            "「范围」：没有这些任务：ghost",
        ),
        ({"starts_at": "soon", "ends_at": "2031-03-04 11:00"}, "starts_at", None),
    ],
)
def test_a_window_that_cannot_be_is_a_400_naming_the_field_and_nothing_is_saved(
    client, bearer, runtime, body, field, message
):
    answer = client.post(
        "/scheduler/api/maintenance-windows", json={"name": "w", **body}, headers=bearer("operator")
    )
    assert answer.status_code == 400 and field in answer.json["errors"], answer.json
    if message:
        assert answer.json["message"] == message
    with runtime.db.read() as session:
        assert session.scalars(select(MaintenanceWindow)).first() is None


def test_windows_through_the_api(client, bearer):
    operator, viewer = bearer("operator"), bearer("viewer")
    made = client.post(
        "/scheduler/api/maintenance-windows",
        json={"name": "weekly", "cron": "0 2 * * 0", "duration_minutes": 120, "hold_runs": True},
        headers=operator,
    )
    assert made.status_code == 200 and made.json["message"] == "维护窗口 weekly 已创建"
    listed = client.get("/scheduler/api/maintenance-windows", headers=viewer).json["data"]["windows"]
    assert [(w["name"], w["kind"], w["duration_minutes"]) for w in listed] == [("weekly", "recurring", 120)]
    ended = client.post(f"/scheduler/api/maintenance-windows/{made.json['data']['id']}/end", headers=operator)
    assert ended.json["data"]["ended_at"] is not None
    assert (
        client.post("/scheduler/api/maintenance-windows", json={"name": "x"}, headers=viewer).status_code
        == 403
    )
