"""A 5-field crontab through the API: the preview and a created job fire when cron would."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

# Friday 2026-11-27 10:00 in Shanghai; 2026-11-30 is a Monday, 2026-12-01 a Tuesday.
FRIDAY_MORNING = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
EITHER_DAY = [
    "2026-11-30 02:00:00",
    "2026-12-01 02:00:00",
    "2026-12-07 02:00:00",
    "2026-12-14 02:00:00",
    "2026-12-21 02:00:00",
]


@pytest.fixture
def operator(bearer):
    return bearer("operator")


@pytest.fixture
def viewer(bearer):
    return bearer("viewer")


def test_preview_of_a_crontab_with_both_day_fields_lists_the_1st_and_the_mondays(client, viewer):
    with time_machine.travel(FRIDAY_MORNING, tick=False):
        response = client.post(
            "/scheduler/api/cron/preview",
            json={"trigger_type": "cron", "cron_expression": "0 2 1 * 1", "timezone": "Asia/Shanghai"},
            headers=viewer,
        )
    assert response.status_code == 200, response.json
    data = response.json["data"]
    assert data["next_run_times"] == EITHER_DAY
    assert data["description"] == "每月 1 日和每周一 02:00 执行"
    assert data["trigger"].startswith("or[cron[day='1'")
    assert data["trigger_params"]["expression"] == "0 2 1 * 1"


def test_preview_accepts_a_step_beyond_its_range_as_cron_does(client, viewer):
    with time_machine.travel(FRIDAY_MORNING, tick=False):
        response = client.post(
            "/scheduler/api/cron/preview",
            json={"trigger_type": "cron", "cron_expression": "19-19/4 * * * *", "lang": "en"},
            headers=viewer,
        )
    assert response.status_code == 200, response.json
    assert response.json["data"]["description"] == "Every hour at minute 19"
    assert all(time.endswith(":19:00") for time in response.json["data"]["next_run_times"])


def test_job_created_with_a_crontab_on_the_1st_and_mondays_runs_next_on_monday(client, operator, viewer):
    with time_machine.travel(FRIDAY_MORNING, tick=False):
        created = client.post(
            "/scheduler/api/jobs",
            json={
                "id": "either-day",
                "name": "The 1st and every Monday",
                "trigger_type": "cron",
                "cron_expression": "0 2 1 * 1",
                "timezone": "Asia/Shanghai",
                "function": "heartbeat",
            },
            headers=operator,
        )
        assert created.status_code == 200, created.json
        job = created.json["data"]
        # with APScheduler's AND it would be 2027-02-01, the first 1st that is a Monday
        assert job["next_run_time"] == "2026-11-30 02:00:00"
        assert job["trigger_params"]["day"] == "1" and job["trigger_params"]["day_of_week"] == "mon"
        detail = client.get("/scheduler/api/jobs/either-day?upcoming=5&lang=en", headers=viewer).json["data"]
    assert detail["next_run_times"] == EITHER_DAY
    assert detail["trigger_description"] == "On day 1 of every month and every Monday at 02:00"
