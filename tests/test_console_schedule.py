"""The job card's schedule line and state, as ``console/jobs.py`` writes them (``jobs.js`` mirrors it)."""

from __future__ import annotations

import pytest

from whalefall.console.jobs import crontab, display_state, schedule_text


@pytest.mark.parametrize(
    ("params", "text"),
    [
        (
            {
                "second": "0",
                "minute": "0",
                "hour": "2",
                "day": "*",
                "month": "*",
                "day_of_week": "*",
                "year": "*",
            },
            "0 2 * * *",
        ),
        ({"hour": "2", "day_of_week": "mon"}, "0 2 * * mon"),
        (
            {
                "second": "*/20",
                "minute": "*",
                "hour": "*",
                "day": "*",
                "month": "*",
                "day_of_week": "*",
                "year": "*",
            },
            "*/20 * * * * *",
        ),
        ({"minute": "30", "year": "2030"}, "0 30 * * * * 2030"),
        ({"day": "1", "hour": "3"}, "0 3 1 * *"),
    ],
)
def test_a_cron_trigger_reads_as_crontab_text(params, text):
    assert crontab(params) == text


@pytest.mark.parametrize(
    ("params", "text"),
    [
        # a crontab as written: "0 0 1 * 0-6" fires every day, which its fields would not say
        ({"day": "1", "day_of_week": "*", "hour": "0", "expression": "0 0 1 * 0-6"}, "0 0 1 * 0-6"),
        ({"day": "1", "day_of_week": "mon", "hour": "2", "expression": "0 2 1 * 1"}, "0 2 1 * 1"),
        # fields that need both days keep their second: as five fields cron would take either
        ({"day": "1", "day_of_week": "mon", "hour": "2"}, "0 0 2 1 * mon"),
        ({"day": "*/2", "day_of_week": "mon", "hour": "2"}, "0 2 */2 * mon"),
    ],
)
def test_a_cron_trigger_reads_as_what_cron_would_do_with_the_text(params, text):
    assert crontab(params) == text


def test_interval_date_and_dependency_triggers_read_in_words_in_both_languages():
    every = {"trigger_type": "interval", "trigger_params": {"hours": 1, "minutes": 30}}
    once = {"trigger_type": "date", "trigger_params": {"run_date": "2099-12-01T10:00:00+08:00"}}
    after = {"trigger_type": "dependency", "trigger_params": {}, "depends_on": ["a", "b"]}
    assert schedule_text(every, "zh") == "间隔 1 小时 30 分钟"
    assert schedule_text(every, "en") == "every 1 hour 30 minutes"
    assert schedule_text({**every, "trigger_params": {"days": 2}}, "en") == "every 2 days"
    assert schedule_text(once, "zh") == "一次 2099-12-01 10:00:00"
    assert schedule_text(once, "en") == "once at 2099-12-01 10:00:00"
    assert schedule_text(after, "en") == "after a, b"


def test_only_a_fired_active_one_off_job_is_completed():
    fired = {"trigger_type": "date", "state": "active", "next_run_time": None, "broken_reason": None}
    assert display_state(fired) == "completed"
    assert display_state({**fired, "next_run_time": "2099-12-01 10:00:00"}) == "active"
    assert display_state({**fired, "state": "paused"}) == "paused"
    assert display_state({**fired, "broken_reason": "bad"}) == "active"
    assert display_state({**fired, "trigger_type": "cron"}) == "active"
