"""Trigger parsing, APScheduler triggers, previews and descriptions — pure, explicit start times."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from whalefall.domain.triggers import (
    TriggerSpec,
    TriggerType,
    build_trigger,
    describe,
    next_run_times,
    parse_trigger,
    reading,
    trigger_text,
)
from whalefall.errors import InvalidTrigger

SHANGHAI = "Asia/Shanghai"
NEW_YORK = "America/New_York"


def at(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


def cron(expression: str) -> dict[str, str]:
    return {"trigger_type": "cron", "cron_expression": expression}


def runs(data: dict, zone: str, start: datetime, count: int = 5) -> list[str]:
    """ISO texts, so that the UTC offset (and so DST fold) is part of every comparison."""
    spec = parse_trigger(data, timezone=zone)
    return [moment.isoformat() for moment in next_run_times(spec, zone, count, start=start)]


# --- next run times -------------------------------------------------------------------------

# 2026-11-28 is a Saturday.
SHANGHAI_TABLE = [
    (
        cron("0 2 * * *"),
        ["2026-11-28T02:00:00+08:00", "2026-11-29T02:00:00+08:00", "2026-11-30T02:00:00+08:00"],
    ),
    (
        {"trigger_type": "cron", "cron_hour": "2", "cron_minute": "0"},
        ["2026-11-28T02:00:00+08:00", "2026-11-29T02:00:00+08:00", "2026-11-30T02:00:00+08:00"],
    ),
    (
        cron("*/5 * * * *"),
        ["2026-11-28T00:00:00+08:00", "2026-11-28T00:05:00+08:00", "2026-11-28T00:10:00+08:00"],
    ),
    (
        cron("0 30 * * * *"),
        ["2026-11-28T00:30:00+08:00", "2026-11-28T01:30:00+08:00", "2026-11-28T02:30:00+08:00"],
    ),
    (
        cron("30 9 * * 1-5"),
        ["2026-11-30T09:30:00+08:00", "2026-12-01T09:30:00+08:00", "2026-12-02T09:30:00+08:00"],
    ),
    (
        cron("0 3 1 * *"),
        ["2026-12-01T03:00:00+08:00", "2027-01-01T03:00:00+08:00", "2027-02-01T03:00:00+08:00"],
    ),
    (
        cron("0 0 0 29 2 ?"),
        ["2028-02-29T00:00:00+08:00", "2032-02-29T00:00:00+08:00", "2036-02-29T00:00:00+08:00"],
    ),
    (
        cron("0 0 12 * * * 2027"),
        ["2027-01-01T12:00:00+08:00", "2027-01-02T12:00:00+08:00", "2027-01-03T12:00:00+08:00"],
    ),
    (
        cron("@monthly"),
        ["2026-12-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00", "2027-02-01T00:00:00+08:00"],
    ),
    (
        {"trigger_type": "cron", "cron_day": "last", "cron_hour": "23"},
        ["2026-11-30T23:00:00+08:00", "2026-12-31T23:00:00+08:00", "2027-01-31T23:00:00+08:00"],
    ),
    (
        {"trigger_type": "cron", "cron_hour": "2", "cron_minute": "0", "end_date": "2026-11-29 12:00:00"},
        ["2026-11-28T02:00:00+08:00", "2026-11-29T02:00:00+08:00"],
    ),
    (
        {
            "trigger_type": "cron",
            "cron_hour": "2",
            "cron_minute": "0",
            "start_date": "2026-12-25T00:00:00+08:00",
        },
        ["2026-12-25T02:00:00+08:00", "2026-12-26T02:00:00+08:00", "2026-12-27T02:00:00+08:00"],
    ),
    (
        {"trigger_type": "interval", "interval_seconds": "60"},
        ["2026-11-28T00:01:00+08:00", "2026-11-28T00:02:00+08:00", "2026-11-28T00:03:00+08:00"],
    ),
    (
        {"trigger_type": "interval", "interval_hours": 2, "start_date": "2026-11-28 01:00:00"},
        ["2026-11-28T01:00:00+08:00", "2026-11-28T03:00:00+08:00", "2026-11-28T05:00:00+08:00"],
    ),
    (
        {"trigger_type": "interval", "interval_minutes": 45, "start_date": "2026-11-27T23:30:00+08:00"},
        ["2026-11-28T00:15:00+08:00", "2026-11-28T01:00:00+08:00", "2026-11-28T01:45:00+08:00"],
    ),
    (
        {
            "trigger_type": "interval",
            "interval_days": 1,
            "start_date": "2026-11-28 06:00:00",
            "end_date": "2026-11-29 06:00:00",
        },
        ["2026-11-28T06:00:00+08:00", "2026-11-29T06:00:00+08:00"],
    ),
    ({"trigger_type": "date", "run_date": "2026-12-01 10:00:00"}, ["2026-12-01T10:00:00+08:00"]),
    ({"trigger_type": "date", "run_date": "2026-12-01T02:00:00Z"}, ["2026-12-01T10:00:00+08:00"]),
    ({"trigger_type": "date", "run_date": "2026-11-27T23:59:59+08:00"}, []),
    ({"trigger_type": "dependency"}, []),
]


@pytest.mark.parametrize(("data", "expected"), SHANGHAI_TABLE)
def test_next_run_times_from_a_fixed_start_in_shanghai(data, expected):
    assert runs(data, SHANGHAI, at(SHANGHAI, 2026, 11, 28), count=3) == expected


def test_daily_job_at_a_skipped_wall_time_runs_one_hour_later_on_the_day_dst_starts():
    # 2026-03-08 02:00 EST jumps to 03:00 EDT in New York: 02:30 does not exist that day.
    assert runs(cron("30 2 * * *"), NEW_YORK, at(NEW_YORK, 2026, 3, 6)) == [
        "2026-03-06T02:30:00-05:00",
        "2026-03-07T02:30:00-05:00",
        "2026-03-08T03:30:00-04:00",
        "2026-03-09T02:30:00-04:00",
        "2026-03-10T02:30:00-04:00",
    ]


def test_hourly_job_fires_in_both_copies_of_the_repeated_hour_when_dst_ends():
    # 2026-11-01 02:00 EDT falls back to 01:00 EST in New York: 01:00 happens twice.
    assert runs(cron("0 * * * *"), NEW_YORK, at(NEW_YORK, 2026, 11, 1, 0, 0, 1)) == [
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T02:00:00-05:00",
        "2026-11-01T03:00:00-05:00",
        "2026-11-01T04:00:00-05:00",
    ]


def test_hourly_job_skips_no_real_hour_when_dst_starts():
    assert runs(cron("30 * * * *"), NEW_YORK, at(NEW_YORK, 2026, 3, 8, 0, 0, 1), count=4) == [
        "2026-03-08T00:30:00-05:00",
        "2026-03-08T01:30:00-05:00",
        "2026-03-08T03:30:00-04:00",
        "2026-03-08T04:30:00-04:00",
    ]


def test_daily_job_inside_the_repeated_hour_fires_twice_when_dst_ends_as_apscheduler_3_does():
    # Not what Vixie cron does (once); recorded here so a change in APScheduler is noticed.
    assert runs(cron("30 1 * * *"), NEW_YORK, at(NEW_YORK, 2026, 10, 31), count=4) == [
        "2026-10-31T01:30:00-04:00",
        "2026-11-01T01:30:00-04:00",
        "2026-11-01T01:30:00-05:00",
        "2026-11-02T01:30:00-05:00",
    ]


def test_daily_interval_counts_elapsed_hours_so_its_wall_time_moves_with_dst():
    data = {"trigger_type": "interval", "interval_days": 1, "start_date": "2026-03-07 02:00:00"}
    assert runs(data, NEW_YORK, at(NEW_YORK, 2026, 3, 7), count=3) == [
        "2026-03-07T02:00:00-05:00",
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T03:00:00-04:00",
    ]


def test_run_date_at_a_skipped_wall_time_is_stored_as_the_real_instant():
    spec = parse_trigger({"trigger_type": "date", "run_date": "2026-03-08 02:30:00"}, timezone=NEW_YORK)
    assert spec.params == {"run_date": "2026-03-08T03:30:00-04:00"}


def test_flat_every_minute_fires_on_second_zero_not_every_second():
    data = {"trigger_type": "cron", "cron_minute": "*"}
    assert runs(data, SHANGHAI, at(SHANGHAI, 2026, 11, 28, 0, 0, 30), count=2) == [
        "2026-11-28T00:01:00+08:00",
        "2026-11-28T00:02:00+08:00",
    ]


def test_next_run_times_defaults_to_now_and_returns_aware_times_in_the_timezone():
    spec = parse_trigger(cron("* * * * *"), timezone=NEW_YORK)
    times = next_run_times(spec, NEW_YORK)
    assert len(times) == 5
    assert all(str(moment.tzinfo) == NEW_YORK for moment in times)
    assert times == sorted(times)


def test_next_run_times_leaves_jitter_out():
    data = {"trigger_type": "cron", "cron_hour": "2", "cron_minute": "0", "jitter": 600}
    assert runs(data, SHANGHAI, at(SHANGHAI, 2026, 11, 28), count=1) == ["2026-11-28T02:00:00+08:00"]


# --- crontab days of the week against the calendar -------------------------------------------

FRIDAY = (2026, 11, 27)  # 2026-11-29 is a Sunday, 2026-11-30 a Monday


@pytest.mark.parametrize(
    ("day_of_week", "expected_days"),
    [
        ("0", ["2026-11-29", "2026-12-06", "2026-12-13"]),
        ("7", ["2026-11-29", "2026-12-06", "2026-12-13"]),
        ("sun", ["2026-11-29", "2026-12-06", "2026-12-13"]),
        ("1", ["2026-11-30", "2026-12-07", "2026-12-14"]),
        ("mon", ["2026-11-30", "2026-12-07", "2026-12-14"]),
        ("1-5", ["2026-11-27", "2026-11-30", "2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"]),
        ("mon-fri", ["2026-11-27", "2026-11-30", "2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"]),
        ("5-7", ["2026-11-27", "2026-11-28", "2026-11-29", "2026-12-04"]),
        ("*/2", ["2026-11-28", "2026-11-29", "2026-12-01", "2026-12-03"]),
        ("0,6", ["2026-11-28", "2026-11-29", "2026-12-05"]),
        ("0-1", ["2026-11-29", "2026-11-30", "2026-12-06"]),
        ("sun-tue", ["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-06"]),
        ("1-5/2", ["2026-11-27", "2026-11-30", "2026-12-02", "2026-12-04"]),
        ("0-6", ["2026-11-27", "2026-11-28", "2026-11-29"]),
        ("?", ["2026-11-27", "2026-11-28", "2026-11-29"]),
        ("SAT", ["2026-11-28", "2026-12-05"]),
    ],
)
def test_crontab_day_of_week_in_an_expression_fires_on_the_right_calendar_days(day_of_week, expected_days):
    times = runs(cron(f"0 9 * * {day_of_week}"), SHANGHAI, at(SHANGHAI, *FRIDAY), count=len(expected_days))
    assert times == [f"{day}T09:00:00+08:00" for day in expected_days]


def test_crontab_sunday_zero_fires_on_a_sunday():
    spec = parse_trigger(cron("0 9 * * 0"), timezone=SHANGHAI)
    first = next_run_times(spec, SHANGHAI, 1, start=at(SHANGHAI, *FRIDAY))[0]
    assert first.weekday() == 6
    assert first.date().isoformat() == "2026-11-29"


def test_crontab_numbering_applies_to_the_flat_day_of_week_field():
    data = {"trigger_type": "cron", "cron_day_of_week": "0", "cron_hour": "9", "cron_minute": "0"}
    assert runs(data, SHANGHAI, at(SHANGHAI, *FRIDAY), count=1) == ["2026-11-29T09:00:00+08:00"]
    data["cron_day_of_week"] = "1"
    assert runs(data, SHANGHAI, at(SHANGHAI, *FRIDAY), count=1) == ["2026-11-30T09:00:00+08:00"]


def test_crontab_numbering_applies_to_structured_params_too():
    data = {"trigger_type": "cron", "trigger_params": {"day_of_week": 0, "hour": 9, "minute": 0}}
    assert runs(data, SHANGHAI, at(SHANGHAI, *FRIDAY), count=1) == ["2026-11-29T09:00:00+08:00"]


@pytest.mark.parametrize(
    ("day_of_week", "stored"),
    [
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon-fri"),
        ("5-7", "fri-sun"),
        ("*/2", "sun,tue,thu,sat"),
        ("0,6", "sun,sat"),
        ("0-6", "*"),
        ("?", "*"),
        ("mon-fri", "mon-fri"),
        ("Sat,SUN", "sat,sun"),
        ("sun-thu", "sun,mon,tue,wed,thu"),
        ("mon-fri/2", "mon,wed,fri"),
    ],
)
def test_day_of_week_is_stored_in_apscheduler_terms(day_of_week, stored):
    spec = parse_trigger(cron(f"0 9 * * {day_of_week}"), timezone=SHANGHAI)
    assert spec.params["day_of_week"] == stored


# --- a 5-field crontab means what cron means ---------------------------------------------


def test_crontab_with_both_day_fields_restricted_fires_on_either_day():
    # cron: the 1st of every month and every Monday; 2026-12-01 is a Tuesday
    assert runs(cron("0 2 1 * 1"), SHANGHAI, at(SHANGHAI, *FRIDAY)) == [
        "2026-11-30T02:00:00+08:00",
        "2026-12-01T02:00:00+08:00",
        "2026-12-07T02:00:00+08:00",
        "2026-12-14T02:00:00+08:00",
        "2026-12-21T02:00:00+08:00",
    ]


def test_crontab_either_day_is_an_or_of_two_cron_triggers_rebuilt_from_the_users_fields():
    spec = parse_trigger(cron("0 2 1 * 1"), timezone=SHANGHAI)
    assert spec.params["day"] == "1" and spec.params["day_of_week"] == "mon"
    assert isinstance(build_trigger(spec, SHANGHAI), OrTrigger)
    assert trigger_text(spec, SHANGHAI) == (
        "or[cron[day='1', hour='2', minute='0', second='0'], "
        "cron[day_of_week='mon', hour='2', minute='0', second='0']]"
    )
    stored = json.loads(json.dumps(spec.params))
    again = parse_trigger({"trigger_type": "cron", "trigger_params": stored}, timezone=SHANGHAI)
    assert again == spec
    start = at(SHANGHAI, *FRIDAY)
    assert next_run_times(again, SHANGHAI, 5, start=start) == next_run_times(spec, SHANGHAI, 5, start=start)


@pytest.mark.parametrize(
    "data",
    [
        cron("0 0 2 1 * 1"),
        cron("0 0 2 1 * 1 *"),
        {
            "trigger_type": "cron",
            "cron_day": "1",
            "cron_day_of_week": "1",
            "cron_hour": "2",
            "cron_minute": "0",
        },
    ],
)
def test_six_and_seven_field_expressions_and_flat_fields_keep_apschedulers_and(data):
    # a 1st that is a Monday: 2027-02-01, 2027-03-01, 2027-11-01
    assert runs(data, SHANGHAI, at(SHANGHAI, *FRIDAY), count=3) == [
        "2027-02-01T02:00:00+08:00",
        "2027-03-01T02:00:00+08:00",
        "2027-11-01T02:00:00+08:00",
    ]
    assert isinstance(build_trigger(parse_trigger(data, timezone=SHANGHAI), SHANGHAI), CronTrigger)


def test_crontab_day_field_starting_with_a_star_counts_as_unrestricted_so_both_must_match():
    # cron's own test: "*/2" starts with "*", so odd days that are Mondays
    assert runs(cron("0 0 */2 * 1"), SHANGHAI, at(SHANGHAI, *FRIDAY), count=3) == [
        "2026-12-07T00:00:00+08:00",
        "2026-12-21T00:00:00+08:00",
        "2027-01-11T00:00:00+08:00",
    ]


def test_crontab_weekday_range_of_every_day_makes_a_restricted_day_fire_daily():
    # "0-6" does not start with "*": either the 1st or any day of the week, so every day
    spec = parse_trigger(cron("0 0 1 * 0-6"), timezone=SHANGHAI)
    assert runs(cron("0 0 1 * 0-6"), SHANGHAI, at(SHANGHAI, *FRIDAY), count=3) == [
        "2026-11-27T00:00:00+08:00",
        "2026-11-28T00:00:00+08:00",
        "2026-11-29T00:00:00+08:00",
    ]
    assert describe(spec) == "每天 00:00 执行"


def test_crontab_day_that_never_occurs_still_fires_on_its_weekdays():
    # 31 November never comes; cron still runs on November's Wednesdays (none left in 2026)
    assert runs(cron("0 0 31 11 3"), SHANGHAI, at(SHANGHAI, *FRIDAY), count=3) == [
        "2027-11-03T00:00:00+08:00",
        "2027-11-10T00:00:00+08:00",
        "2027-11-17T00:00:00+08:00",
    ]


def test_crontab_sunday_seven_fires_on_sundays():
    assert runs(cron("0 0 * * 7"), SHANGHAI, at(SHANGHAI, *FRIDAY), count=2) == [
        "2026-11-29T00:00:00+08:00",
        "2026-12-06T00:00:00+08:00",
    ]


def test_crontab_working_hours_every_quarter_hour_skip_the_weekend():
    assert runs(cron("*/15 9-17 * * mon-fri"), SHANGHAI, at(SHANGHAI, *FRIDAY, 17, 40), count=3) == [
        "2026-11-27T17:45:00+08:00",
        "2026-11-30T09:00:00+08:00",
        "2026-11-30T09:15:00+08:00",
    ]


@pytest.mark.parametrize(
    ("expression", "minute"),
    [("19-19/4 * * * *", "19"), ("21-23/4 * * * *", "21"), ("*/60 * * * *", "0"), ("50/20 * * * *", "50")],
)
def test_crontab_step_beyond_its_range_means_the_ranges_first_value(expression, minute):
    spec = parse_trigger(cron(expression), timezone=SHANGHAI)
    assert spec.params["minute"] == minute and spec.params["expression"] == expression
    assert runs(cron(expression), SHANGHAI, at(SHANGHAI, *FRIDAY), count=2) == [
        f"2026-11-27T00:{int(minute):02d}:00+08:00",
        f"2026-11-27T01:{int(minute):02d}:00+08:00",
    ]


def test_a_step_beyond_its_range_outside_a_crontab_is_refused_as_apscheduler_does():
    with pytest.raises(InvalidTrigger) as caught:
        parse_trigger({"trigger_type": "cron", "cron_minute": "19-19/4"}, timezone=SHANGHAI)
    assert caught.value.field == "cron_minute"


def test_crontab_month_names_may_carry_a_step():
    assert runs(cron("0 0 1 jan-jun/2 *"), SHANGHAI, at(SHANGHAI, *FRIDAY), count=3) == [
        "2027-01-01T00:00:00+08:00",
        "2027-03-01T00:00:00+08:00",
        "2027-05-01T00:00:00+08:00",
    ]


def test_weekday_start_with_a_step_runs_to_seven_which_is_sunday():
    # 5/2 is 5-7/2: Friday and Sunday
    assert runs(cron("0 0 * * 5/2"), SHANGHAI, at(SHANGHAI, *FRIDAY), count=3) == [
        "2026-11-27T00:00:00+08:00",
        "2026-11-29T00:00:00+08:00",
        "2026-12-04T00:00:00+08:00",
    ]


def test_a_changed_reading_marks_only_crontabs_that_fire_on_either_day():
    def reading_of(data):
        spec = parse_trigger(data, timezone=SHANGHAI)
        return reading(spec.type.value, spec.params)

    assert reading_of(cron("0 2 1 * 1")) == "crontab-either-day"
    assert reading_of(cron("0 2 1 * *")) == ""
    assert reading_of(cron("0 0 2 1 * 1")) == ""
    assert reading_of({"trigger_type": "interval", "interval_seconds": 5}) == ""


# --- forms ----------------------------------------------------------------------------------


def test_five_field_expression_is_standard_crontab_with_second_zero():
    spec = parse_trigger(cron("  30   2 * * 1-5 "), timezone=SHANGHAI)
    assert spec == TriggerSpec(
        type=TriggerType.CRON,
        params={
            "second": "0",
            "minute": "30",
            "hour": "2",
            "day": "*",
            "month": "*",
            "day_of_week": "mon-fri",
            "year": "*",
            "expression": "30 2 * * 1-5",
        },
    )


def test_six_field_expression_has_leading_seconds():
    spec = parse_trigger(cron("15 30 2 * * ?"), timezone=SHANGHAI)
    assert spec.params["second"] == "15"
    assert spec.params["minute"] == "30"
    assert spec.params["year"] == "*"
    assert runs(cron("15 30 2 * * ?"), SHANGHAI, at(SHANGHAI, 2026, 11, 28), 1) == [
        "2026-11-28T02:30:15+08:00"
    ]


def test_seven_field_expression_has_a_trailing_year():
    spec = parse_trigger(cron("0 0 8 1 1 ? 2028"), timezone=SHANGHAI)
    assert spec.params["year"] == "2028"
    assert spec.params["day"] == "1"
    assert runs(cron("0 0 8 1 1 ? 2028"), SHANGHAI, at(SHANGHAI, 2026, 11, 28)) == [
        "2028-01-01T08:00:00+08:00"
    ]


def test_flat_form_keeps_only_the_fields_given_and_ignores_empty_ones():
    data = {
        "trigger_type": "cron",
        "cron_second": "",
        "cron_minute": "0",
        "cron_hour": 2,
        "cron_day": None,
        "cron_month": "  ",
        "cron_day_of_week": "",
        "cron_year": "",
        "cron_expression": "",
        "interval_seconds": "",
        "run_date": "",
        "start_date": "",
        "end_date": "",
    }
    spec = parse_trigger(data, timezone=SHANGHAI)
    assert spec == TriggerSpec(type=TriggerType.CRON, params={"minute": "0", "hour": "2"})
    assert trigger_text(spec, SHANGHAI) == "cron[hour='2', minute='0']"


def test_expression_wins_over_flat_fields_sent_alongside():
    data = {"trigger_type": "cron", "cron_expression": "0 3 * * *", "cron_hour": "5", "cron_minute": "7"}
    spec = parse_trigger(data, timezone=SHANGHAI)
    assert spec.params["hour"] == "3"
    assert spec.params["expression"] == "0 3 * * *"


def test_structured_form_takes_canonical_keys():
    spec = parse_trigger({"trigger_type": "interval", "trigger_params": {"seconds": 60}}, timezone=SHANGHAI)
    assert spec == TriggerSpec(type=TriggerType.INTERVAL, params={"seconds": 60})
    spec = parse_trigger(
        {"trigger_type": "cron", "trigger_params": {"hour": "2", "minute": "0"}}, timezone=SHANGHAI
    )
    assert spec.params == {"hour": "2", "minute": "0"}
    spec = parse_trigger(
        {"trigger_type": "cron", "trigger_params": {"expression": "0 2 * * *"}}, timezone=SHANGHAI
    )
    assert spec.params["expression"] == "0 2 * * *"


def test_trigger_is_an_alias_of_a_missing_trigger_type():
    spec = parse_trigger({"trigger": "interval", "interval_minutes": "5"}, timezone=SHANGHAI)
    assert spec == TriggerSpec(type=TriggerType.INTERVAL, params={"minutes": 5})
    spec = parse_trigger(
        {"trigger_type": "DATE", "trigger": "cron", "run_date": "2026-12-01"}, timezone=SHANGHAI
    )
    assert spec.type is TriggerType.DATE


def test_interval_keeps_positive_units_window_and_jitter():
    data = {
        "trigger_type": "interval",
        "interval_weeks": "0",
        "interval_hours": "1",
        "interval_minutes": 30,
        "start_date": "2026-12-01 08:00:00",
        "end_date": "2026-12-31T08:00:00+00:00",
        "jitter": "15",
    }
    assert parse_trigger(data, timezone=SHANGHAI).params == {
        "hours": 1,
        "minutes": 30,
        "start_date": "2026-12-01T08:00:00+08:00",
        "end_date": "2026-12-31T16:00:00+08:00",
        "jitter": 15,
    }


def test_dependency_trigger_has_no_params_and_no_apscheduler_trigger():
    spec = parse_trigger({"trigger_type": "dependency", "cron_hour": "2"}, timezone=SHANGHAI)
    assert spec == TriggerSpec(type=TriggerType.DEPENDENCY, params={})
    assert build_trigger(spec, SHANGHAI) is None
    assert trigger_text(spec, SHANGHAI) == "dependency"


ROUND_TRIP = [
    cron("*/15 9-18 * * 1-5"),
    cron("0 0 8 1 1 ? 2028"),
    cron("@weekly"),
    {"trigger_type": "cron", "cron_hour": "2", "cron_minute": "0", "cron_day_of_week": "0,6", "jitter": 30},
    {"trigger_type": "cron", "cron_day": "last fri", "start_date": "2026-12-01", "end_date": "2027-12-01"},
    {"trigger_type": "interval", "interval_seconds": "90", "start_date": "2026-12-01 08:00:00"},
    {"trigger_type": "date", "run_date": "2026-12-01T10:00:00"},
    {"trigger_type": "dependency"},
]


@pytest.mark.parametrize("data", ROUND_TRIP)
def test_params_parse_back_to_the_same_spec(data):
    spec = parse_trigger(data, timezone=SHANGHAI)
    stored = json.loads(json.dumps(spec.params))
    again = parse_trigger({"trigger_type": spec.type.value, "trigger_params": stored}, timezone=SHANGHAI)
    assert again == spec


# --- APScheduler triggers -------------------------------------------------------------------


def test_build_trigger_gives_apscheduler_triggers_in_the_timezone():
    cron_trigger = build_trigger(parse_trigger(cron("0 2 * * *"), timezone=SHANGHAI), SHANGHAI)
    assert isinstance(cron_trigger, CronTrigger)
    assert str(cron_trigger.timezone) == SHANGHAI
    interval = build_trigger(
        parse_trigger({"trigger_type": "interval", "interval_seconds": 60, "jitter": 5}, timezone=SHANGHAI),
        SHANGHAI,
    )
    assert isinstance(interval, IntervalTrigger)
    assert interval.jitter == 5
    once = build_trigger(
        parse_trigger({"trigger_type": "date", "run_date": "2026-12-01 10:00"}, timezone=SHANGHAI), SHANGHAI
    )
    assert isinstance(once, DateTrigger)
    assert once.run_date == at(SHANGHAI, 2026, 12, 1, 10)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ({"trigger_type": "cron", "cron_hour": "2", "cron_minute": "0"}, "cron[hour='2', minute='0']"),
        (cron("0 2 * * *"), "cron[hour='2', minute='0', second='0']"),
        (cron("0 3 1 * *"), "cron[day='1', hour='3', minute='0', second='0']"),
        (cron("30 9 * * 1-5"), "cron[day_of_week='mon-fri', hour='9', minute='30', second='0']"),
        (cron("* * * * *"), "cron[second='0']"),
        ({"trigger_type": "cron", "cron_hour": "2", "cron_minute": "*"}, "cron[hour='2', minute='*']"),
        ({"trigger_type": "interval", "interval_seconds": 60}, "interval[0:01:00]"),
        ({"trigger_type": "interval", "interval_days": 1, "interval_hours": 2}, "interval[1 day, 2:00:00]"),
        ({"trigger_type": "date", "run_date": "2026-12-01 10:00:00"}, "date[2026-12-01 10:00:00 CST]"),
    ],
)
def test_trigger_text_is_apschedulers_own(data, text):
    assert trigger_text(parse_trigger(data, timezone=SHANGHAI), SHANGHAI) == text


def test_leaving_out_leading_stars_does_not_change_the_schedule():
    spec = parse_trigger(cron("*/10 8 * * *"), timezone=SHANGHAI)
    full = CronTrigger(
        second="0", minute="*/10", hour="8", day="*", month="*", day_of_week="*", year="*", timezone=SHANGHAI
    )
    start = at(SHANGHAI, 2026, 11, 28)
    expected, previous, now = [], None, start
    for _ in range(8):
        previous = now = full.get_next_fire_time(previous, now)
        expected.append(previous)
    assert next_run_times(spec, SHANGHAI, 8, start=start) == expected


# --- errors ---------------------------------------------------------------------------------

ERRORS = [
    ({"trigger_type": "cron", "cron_second": "60"}, "cron_second"),
    ({"trigger_type": "cron", "cron_minute": "60"}, "cron_minute"),
    ({"trigger_type": "cron", "cron_hour": "24"}, "cron_hour"),
    ({"trigger_type": "cron", "cron_hour": "25"}, "cron_hour"),
    ({"trigger_type": "cron", "cron_day": "32"}, "cron_day"),
    ({"trigger_type": "cron", "cron_day": "0"}, "cron_day"),
    ({"trigger_type": "cron", "cron_month": "13"}, "cron_month"),
    ({"trigger_type": "cron", "cron_month": "smarch"}, "cron_month"),
    ({"trigger_type": "cron", "cron_month": "jan-mar/2"}, "cron_month"),
    ({"trigger_type": "cron", "cron_day_of_week": "8"}, "cron_day_of_week"),
    ({"trigger_type": "cron", "cron_day_of_week": "funday"}, "cron_day_of_week"),
    ({"trigger_type": "cron", "cron_day_of_week": "5-1"}, "cron_day_of_week"),
    ({"trigger_type": "cron", "cron_day_of_week": "fri-mon"}, "cron_day_of_week"),
    ({"trigger_type": "cron", "cron_day_of_week": "*/0"}, "cron_day_of_week"),
    ({"trigger_type": "cron", "cron_year": "1969"}, "cron_year"),
    ({"trigger_type": "cron", "cron_hour": "abc"}, "cron_hour"),
    ({"trigger_type": "cron", "cron_hour": "5-3"}, "cron_hour"),
    ({"trigger_type": "cron", "cron_hour": "1-"}, "cron_hour"),
    ({"trigger_type": "cron", "cron_minute": "*/0"}, "cron_minute"),
    ({"trigger_type": "cron", "cron_minute": "*/61"}, "cron_minute"),
    ({"trigger_type": "cron", "cron_minute": 1.5}, "cron_minute"),
    ({"trigger_type": "cron", "cron_day": "30", "cron_month": "2"}, "cron_day"),
    ({"trigger_type": "cron", "cron_hour": "2", "cron_minute": "0", "cron_second": "x"}, "cron_second"),
    ({"trigger_type": "cron"}, "cron_expression"),
    ({"trigger_type": "cron", "cron_expression": "   "}, "cron_expression"),
    (cron("0 2 * *"), "cron_expression"),
    (cron("0 0 2 * * * * *"), "cron_expression"),
    (cron("@fortnightly"), "cron_expression"),
    (cron("60 * * * *"), "cron_expression"),
    (cron("0 24 * * *"), "cron_expression"),
    (cron("0 0 32 * *"), "cron_expression"),
    (cron("0 0 * 13 *"), "cron_expression"),
    (cron("0 0 * * 8"), "cron_expression"),
    (cron("0 0 30 2 *"), "cron_expression"),
    (cron("every day please"), "cron_expression"),
    ({"trigger_type": "interval"}, "interval_seconds"),
    ({"trigger_type": "interval", "interval_seconds": 0, "interval_minutes": "0"}, "interval_seconds"),
    ({"trigger_type": "interval", "interval_seconds": "-5"}, "interval_seconds"),
    ({"trigger_type": "interval", "interval_minutes": -1, "interval_seconds": 5}, "interval_minutes"),
    ({"trigger_type": "interval", "interval_hours": "1.5"}, "interval_hours"),
    ({"trigger_type": "interval", "interval_days": "two"}, "interval_days"),
    ({"trigger_type": "interval", "interval_weeks": True}, "interval_weeks"),
    ({"trigger_type": "interval", "interval_weeks": 10**12}, "interval_weeks"),
    ({"trigger_type": "interval", "interval_seconds": 5, "jitter": -1}, "jitter"),
    ({"trigger_type": "interval", "interval_seconds": 5, "jitter": "soon"}, "jitter"),
    ({"trigger_type": "interval", "interval_seconds": 5, "start_date": "yesterday"}, "start_date"),
    (
        {
            "trigger_type": "interval",
            "interval_seconds": 5,
            "start_date": "2026-12-02",
            "end_date": "2026-12-01",
        },
        "end_date",
    ),
    (
        {
            "trigger_type": "cron",
            "cron_hour": "2",
            "start_date": "2026-12-02 10:00",
            "end_date": "2026-12-02 09:59",
        },
        "end_date",
    ),
    ({"trigger_type": "date"}, "run_date"),
    ({"trigger_type": "date", "run_date": "next tuesday"}, "run_date"),
    ({"trigger_type": "date", "run_date": "2026-13-01 10:00:00"}, "run_date"),
    ({"trigger_type": "date", "run_date": "2026-12-01 25:00:00"}, "run_date"),
    ({}, "trigger_type"),
    ({"trigger_type": ""}, "trigger_type"),
    ({"trigger_type": "weekly"}, "trigger_type"),
    ({"trigger_type": "cron", "trigger_params": {"hour": "2", "week": "3"}}, "trigger_params"),
    ({"trigger_type": "interval", "trigger_params": "seconds=60"}, "trigger_params"),
    ({"trigger_type": "cron", "trigger_params": {"hour": "24"}}, "cron_hour"),
    ({"trigger_type": "interval", "trigger_params": {"seconds": 0}}, "interval_seconds"),
]


@pytest.mark.parametrize(("data", "field"), ERRORS)
def test_bad_trigger_names_the_field_at_fault(data, field):
    with pytest.raises(InvalidTrigger) as caught:
        parse_trigger(data, timezone=SHANGHAI)
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ")
    assert caught.value.errors == {field: caught.value.message}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"trigger_type": "cron", "cron_hour": "25"}, "cron_hour: 25 is out of range 0-23"),
        (cron("0 24 * * *"), "cron_expression: hour 24 is out of range 0-23"),
        (
            {"trigger_type": "cron", "cron_day_of_week": "8"},
            "cron_day_of_week: 8 is out of range 0-7 (0 and 7 are Sunday)",
        ),
        ({"trigger_type": "weekly"}, "trigger_type: 'weekly' is not one of cron, interval, date, dependency"),
    ],
)
def test_error_messages_say_what_was_expected(data, message):
    with pytest.raises(InvalidTrigger, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        parse_trigger(data, timezone=SHANGHAI)


def test_wrong_field_count_is_named_in_the_message():
    with pytest.raises(InvalidTrigger, match="got 4"):
        parse_trigger(cron("0 2 * *"), timezone=SHANGHAI)
    with pytest.raises(InvalidTrigger, match="got 8"):
        parse_trigger(cron("0 0 2 * * * * *"), timezone=SHANGHAI)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "asia/shanghai", "", "../etc/passwd"])
def test_unknown_timezone_names_the_timezone_field(zone):
    spec = parse_trigger(cron("0 2 * * *"), timezone=SHANGHAI)
    for call in (
        lambda: parse_trigger(cron("0 2 * * *"), timezone=zone),
        lambda: build_trigger(spec, zone),
        lambda: next_run_times(spec, zone, start=at(SHANGHAI, 2026, 11, 28)),
    ):
        with pytest.raises(InvalidTrigger) as caught:
            call()
        assert caught.value.field == "timezone"


def test_a_date_in_the_past_is_accepted_and_has_no_next_run():
    spec = parse_trigger({"trigger_type": "date", "run_date": "2020-01-01 00:00:00"}, timezone=SHANGHAI)
    assert next_run_times(spec, SHANGHAI, start=at(SHANGHAI, 2026, 11, 28)) == []


def test_a_cron_that_ended_has_no_next_run():
    spec = parse_trigger(cron("0 0 8 1 1 ? 2020"), timezone=SHANGHAI)
    assert next_run_times(spec, SHANGHAI, start=at(SHANGHAI, 2026, 11, 28)) == []


# --- descriptions ---------------------------------------------------------------------------

DESCRIPTIONS = [
    (cron("0 2 * * *"), "每天 02:00 执行", "Every day at 02:00"),
    ({"trigger_type": "cron", "cron_hour": "2", "cron_minute": "0"}, "每天 02:00 执行", "Every day at 02:00"),
    (cron("15 30 2 * * *"), "每天 02:30:15 执行", "Every day at 02:30:15"),
    (cron("0 2,14 * * *"), "每天 02:00、14:00 执行", "Every day at 02:00 and 14:00"),
    (cron("30 * * * *"), "每小时第 30 分执行", "Every hour at minute 30"),
    (cron("0 * * * *"), "每小时整点执行", "Every hour on the hour"),
    (cron("0 */2 * * *"), "每 2 小时执行", "Every 2 hours"),
    (cron("*/5 * * * *"), "每 5 分钟执行", "Every 5 minutes"),
    (cron("* * * * *"), "每分钟执行", "Every minute"),
    ({"trigger_type": "cron", "cron_minute": "*"}, "每分钟执行", "Every minute"),
    (cron("*/10 * * * * *"), "每 10 秒执行", "Every 10 seconds"),
    (cron("0 9 * * 1"), "每周一 09:00 执行", "Every Monday at 09:00"),
    (cron("0 9 * * mon"), "每周一 09:00 执行", "Every Monday at 09:00"),
    (cron("30 9 * * 1-5"), "每周一至周五 09:30 执行", "Monday to Friday at 09:30"),
    (cron("0 9 * * 1,3,5"), "每周一、周三、周五 09:00 执行", "Every Monday, Wednesday and Friday at 09:00"),
    (cron("0 9 * * 0-4"), "每周日至周四 09:00 执行", "Sunday to Thursday at 09:00"),
    (cron("0 3 1 * *"), "每月 1 日 03:00 执行", "On day 1 of every month at 03:00"),
    (cron("0 3 1,15 * *"), "每月 1、15 日 03:00 执行", "On days 1 and 15 of every month at 03:00"),
    (
        {"trigger_type": "cron", "cron_day": "last", "cron_hour": "23"},
        "每月最后一天 23:00 执行",
        "On the last day of every month at 23:00",
    ),
    (cron("0 0 1 3 *"), "每年 3 月 1 日 00:00 执行", "Every year on March 1 at 00:00"),
    (cron("0 0 1 mar *"), "每年 3 月 1 日 00:00 执行", "Every year on March 1 at 00:00"),
    (cron("0 2 1 * 1"), "每月 1 日和每周一 02:00 执行", "On day 1 of every month and every Monday at 02:00"),
    (
        cron("0 2 1,15 * 1-5"),
        "每月 1、15 日和每周一至周五 02:00 执行",
        "On days 1 and 15 of every month and Monday to Friday at 02:00",
    ),
    (cron("19-19/4 * * * *"), "每小时第 19 分执行", "Every hour at minute 19"),
    # the rest go to cron-descriptor (more of them in test_describe.py)
    (
        cron("0 */15 9-18 * * mon-fri"),
        "每 15 分钟，在 09:00 和 18:59 之间，周一至周五执行",
        "Every 15 minutes, between 09:00 and 18:59, Monday through Friday",
    ),
    (cron("0 0 12 * * * 2027"), "在 12:00，仅在 2027 年执行", "At 12:00, only in 2027"),
    ({"trigger_type": "interval", "interval_seconds": 60}, "每 60 秒执行", "Every 60 seconds"),
    ({"trigger_type": "interval", "interval_minutes": 5}, "每 5 分钟执行", "Every 5 minutes"),
    ({"trigger_type": "interval", "interval_hours": 2}, "每 2 小时执行", "Every 2 hours"),
    ({"trigger_type": "interval", "interval_days": 1}, "每 1 天执行", "Every 1 day"),
    ({"trigger_type": "interval", "interval_weeks": 2}, "每 2 周执行", "Every 2 weeks"),
    (
        {"trigger_type": "interval", "interval_hours": 1, "interval_minutes": 30},
        "每 1 小时 30 分钟执行",
        "Every 1 hour and 30 minutes",
    ),
    (
        {"trigger_type": "date", "run_date": "2026-12-01 10:00:00"},
        "于 2026-12-01 10:00:00 执行一次",
        "Once at 2026-12-01 10:00:00",
    ),
    ({"trigger_type": "dependency"}, "依赖上游任务成功后执行", "After its upstream jobs succeed"),
]


@pytest.mark.parametrize(("data", "zh", "en"), DESCRIPTIONS)
def test_description_reads_naturally_in_chinese_and_english(data, zh, en):
    spec = parse_trigger(data, timezone=SHANGHAI)
    assert describe(spec) == zh
    assert describe(spec, "zh") == zh
    assert describe(spec, "en") == en


def test_description_falls_back_instead_of_raising_on_odd_params():
    odd = TriggerSpec(type=TriggerType.CRON, params={"hour": ["not", "text"]})
    assert describe(odd).startswith("按 cron 表达式")
    assert describe(TriggerSpec(type=TriggerType.INTERVAL, params={"seconds": "x"}), "en") == "interval"
    assert describe(TriggerSpec(type=TriggerType.DATE, params={}), "en") == "date"
