"""Descriptions of the cron schedules our own sentences do not cover, read by cron-descriptor.

Each case goes through ``parse_trigger`` first, so the describer sees canonical params (weekday
names, APScheduler's ``last`` and ``3rd fri``), as it does in the product.
"""

from __future__ import annotations

import calendar
import re

import pytest

from whalefall.domain.describe import describe_trigger
from whalefall.domain.triggers import TriggerSpec, TriggerType, describe, parse_trigger

ENGLISH_NAMES = re.compile(
    "|".join([*calendar.day_name, *calendar.day_abbr, *calendar.month_name[1:], *calendar.month_abbr[1:]]),
    re.IGNORECASE,
)


def cron(expression: str) -> dict[str, str]:
    return {"trigger_type": "cron", "cron_expression": expression}


def fields(**values: str) -> dict[str, str]:
    return {"trigger_type": "cron", **{f"cron_{name}": value for name, value in values.items()}}


FALLBACKS = [
    # steps, an hour range and a weekday range (the example of issue 7)
    (
        cron("*/20 * 8-18 * * mon-fri"),
        "每 20 秒，在 08:00 和 18:59 之间，周一至周五执行",
        "Every 20 seconds, between 08:00 and 18:59, Monday through Friday",
    ),
    # crontab weekday numbers: 1-5 is Monday to Friday ...
    (
        fields(minute="*/15", hour="9-18", day_of_week="1-5"),
        "每 15 分钟，在 09:00 和 18:59 之间，周一至周五执行",
        "Every 15 minutes, between 09:00 and 18:59, Monday through Friday",
    ),
    # ... and a range may end on Sunday as 7 (or 0)
    (
        cron("0 */30 9-17 * * 5-7"),
        "每 30 分钟，在 09:00 和 17:59 之间，周五至周日执行",
        "Every 30 minutes, between 09:00 and 17:59, Friday through Sunday",
    ),
    (
        cron("0 */30 9-17 * * sat,0"),
        "每 30 分钟，在 09:00 和 17:59 之间，仅在周六和周日执行",
        "Every 30 minutes, between 09:00 and 17:59, only on Saturday and Sunday",
    ),
    # month and weekday names
    (
        cron("0 9 * jan-mar mon,wed,fri"),
        "在 09:00，仅在周一，周三和周五，1 月至 3 月执行",
        "At 09:00, only on Monday, Wednesday, and Friday, January through March",
    ),
    # a weekday step, expanded to names by parse_trigger
    (
        cron("0 9 */2 * */2"),
        "在 09:00，每 2 天，仅在周日，周二，周四和周六执行",
        "At 09:00, every 2 days, only on Sunday, Tuesday, Thursday, and Saturday",
    ),
    # L: the last day of the month (APScheduler's "last")
    (
        fields(day="last", month="2", hour="9"),
        "在 09:00，每月的最后一天，仅在 2 月执行",
        "At 09:00, on the last day of the month, only in February",
    ),
    # 5L: the last Friday of the month ("last fri")
    (
        fields(day="last fri", hour="9"),
        "在 09:00，每月的最后一个周五执行",
        "At 09:00, on the last Friday of the month",
    ),
    # 5#3: the third Friday of the month ("3rd fri")
    (
        fields(day="3rd fri", hour="9", minute="30"),
        "在 09:30，每月的第三个周五执行",
        "At 09:30, on the third Friday of the month",
    ),
    # a step starting at a minute, a stepped day range, a month step
    (
        cron("5/10 * * * *"),
        "每 10 分钟，从每小时的 5 分开始执行",
        "Every 10 minutes, starting at 5 minutes past the hour",
    ),
    (
        cron("0 30 2 1-10/2 */3 *"),
        "在 02:30，每 2 天，在每月的 1 和 10 号之间，每 3 个月执行",
        "At 02:30, every 2 days, between day 1 and 10 of the month, every 3 months",
    ),
    # a list of hours holding a step
    (
        cron("0 0,6-23/2 * * *"),
        "在 00:00 和每 2 小时，06:00 至 23:59 执行",
        "At 00:00 and every 2 hours, 06:00 through 23:59",
    ),
    # a year field, alone and as a range
    (cron("0 0 12 * * * 2027"), "在 12:00，仅在 2027 年执行", "At 12:00, only in 2027"),
    (
        cron("0 0 0 1 1 * 2027-2030"),
        "在 00:00，每月的 1 号，仅在 1 月，2027 年至 2030 年执行",
        "At 00:00, on day 1 of the month, only in January, 2027 through 2030",
    ),
    (
        cron("0 0 9 * * 1-5 2027"),
        "在 09:00，周一至周五，仅在 2027 年执行",
        "At 09:00, Monday through Friday, only in 2027",
    ),
    # a 6-field expression needs both the day and the weekday, as APScheduler reads it ...
    (
        cron("0 0 9 1-7 * mon"),
        "在 09:00，在每月的 1 和 7 号之间，仅在周一执行",
        "At 09:00, between day 1 and 7 of the month, only on Monday",
    ),
    # ... a crontab takes either, as cron reads it
    (
        cron("0 9 1-7 * mon"),
        "在 09:00，在每月的 1 和 7 号之间，或周一执行",
        "At 09:00, between day 1 and 7 of the month, or on Monday",
    ),
    # ... unless one of its day fields starts with "*", which cron counts as unrestricted
    (
        cron("0 0 */2 * 1"),
        "在 00:00，每 2 天，仅在周一执行",
        "At 00:00, every 2 days, only on Monday",
    ),
]


@pytest.mark.parametrize(("data", "zh", "en"), FALLBACKS)
def test_a_schedule_without_a_sentence_of_ours_is_described_by_cron_descriptor(data, zh, en):
    spec = parse_trigger(data, timezone="Asia/Shanghai")
    assert describe(spec, "zh") == zh
    assert describe(spec, "en") == en


@pytest.mark.parametrize(("data", "zh", "en"), FALLBACKS)
def test_chinese_descriptions_hold_no_english_day_or_month_names(data, zh, en):
    text = describe(parse_trigger(data, timezone="Asia/Shanghai"), "zh")
    assert not re.search(r"[A-Za-z]", text), text
    assert not ENGLISH_NAMES.search(text), text


@pytest.mark.parametrize(
    ("params", "zh", "en"),
    [
        # a list mixing a day and "last": more than cron-descriptor reads
        (
            {"second": "0", "minute": "0", "hour": "9", "day": "1,last", "expression": "0 9 1,last * *"},
            "按 cron 表达式 0 9 1,last * * 执行",
            "Cron: 0 9 1,last * *",
        ),
        # "3rd fri" together with a weekday
        (
            {"hour": "9", "day": "3rd fri", "day_of_week": "mon"},
            "按 cron 表达式 0 0 9 3rd fri * mon 执行",
            None,
        ),
        # not params parse_trigger makes
        ({"hour": "9", "day_of_week": "funday"}, "按 cron 表达式 0 0 9 * * funday 执行", None),
    ],
)
def test_what_cron_descriptor_cannot_read_shows_the_expression(params, zh, en):
    assert describe_trigger("cron", params, "zh") == zh
    if en:
        assert describe_trigger("cron", params, "en") == en


def test_common_shapes_keep_our_own_sentences():
    spec = parse_trigger(cron("30 9 * * 1-5"), timezone="Asia/Shanghai")
    assert describe(spec, "zh") == "每周一至周五 09:30 执行"
    assert (
        describe(TriggerSpec(type=TriggerType.CRON, params=spec.params), "en") == "Monday to Friday at 09:30"
    )
