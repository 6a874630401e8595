"""A 5-field crontab fires when cron would: our triggers against cronsim, an independent implementation.

cronsim follows Debian's cron (Vixie cron), the OR of the two day fields included. Thousands of
seeded random standard expressions — lists, ranges, steps, steps beyond their range, month and day
names, 7 for Sunday, both day fields restricted — are compared fire time by fire time from fixed
starts in Asia/Shanghai (no DST since 1991, so cronsim's DST quirks stay out of it). What cronsim
refuses is skipped; what it accepts, we must accept too.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime
from itertools import islice
from zoneinfo import ZoneInfo

import cronsim

from whalefall.domain.triggers import next_run_times, parse_trigger
from whalefall.errors import InvalidTrigger

ZONE = "Asia/Shanghai"
SEED = 20261128
EXPRESSIONS = 2000
FIRES = 4
# Fixed starts, on the half minute so that no start is itself a fire time: a Saturday late in
# November, the end of a 31-day month before a 28-day one, a leap-day eve, the last hour of a year.
STARTS = [
    datetime(2026, 11, 28, 10, 17, 30, tzinfo=ZoneInfo(ZONE)),
    datetime(2027, 1, 31, 23, 59, 30, tzinfo=ZoneInfo(ZONE)),
    datetime(2028, 2, 28, 12, 0, 30, tzinfo=ZoneInfo(ZONE)),
    datetime(2026, 12, 31, 23, 30, 30, tzinfo=ZoneInfo(ZONE)),
]

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (low, high, names numbered from low) per field, in crontab order.
FIELDS = [(0, 59, None), (0, 23, None), (1, 31, None), (1, 12, MONTH_NAMES), (0, 7, DAY_NAMES)]


def _value(rng: random.Random, low: int, high: int, names: tuple[str, ...] | None) -> str:
    number = rng.randint(low, high)
    if names and number - low < len(names) and rng.random() < 0.3:
        return names[number - low]
    return str(number)


def _item(rng: random.Random, low: int, high: int, names: tuple[str, ...] | None) -> str:
    """One list item: a value, a range, a start or a star with a step — the step often beyond it."""
    shape = rng.choices(["value", "range", "range/step", "*/step", "start/step"], [4, 2, 3, 2, 1])[0]
    span = high - low
    step = str(rng.choice([rng.randint(1, max(1, span // 3)), rng.randint(1, span + 8)]))
    if shape == "value":
        return _value(rng, low, high, names)
    if shape == "*/step":
        return f"*/{step}"
    first = rng.randint(low, high)
    if shape == "start/step":
        return f"{_value(rng, first, first, None)}/{step}"
    last = rng.randint(first, min(high, first + rng.choice([0, 2, 6, span])))
    ends = [_value(rng, first, first, None), _value(rng, last, last, None)]
    if names and rng.random() < 0.3:  # named ends, where the field has names for them
        ends = [names[n - low] if n - low < len(names) else str(n) for n in (first, last)]
    text = "-".join(ends)
    return f"{text}/{step}" if shape == "range/step" else text


def _field(rng: random.Random, index: int) -> str:
    low, high, names = FIELDS[index]
    star = 0.25 if index in (2, 4) else 0.35  # day fields: both restricted often enough
    if rng.random() < star:
        return "*"
    return ",".join(_item(rng, low, high, names) for _ in range(rng.choice([1, 1, 1, 2, 3])))


def _expressions() -> list[str]:
    rng = random.Random(SEED)
    return [" ".join(_field(rng, index) for index in range(5)) for _ in range(EXPRESSIONS)]


def _cron_times(expression: str, start: datetime) -> list[datetime] | None:
    """cronsim's next fire times, or None when it refuses the expression."""
    try:
        return list(islice(cronsim.CronSim(expression, start), FIRES))
    except cronsim.CronSimError:
        return None


def test_thousands_of_random_crontabs_fire_when_cron_would():
    counts: Counter[str] = Counter()
    refused, mismatches = [], []
    for number, expression in enumerate(_expressions()):
        start = STARTS[number % len(STARTS)]
        expected = _cron_times(expression, start)
        if expected is None:
            counts["refused by cronsim"] += 1
            continue
        try:
            spec = parse_trigger({"trigger_type": "cron", "cron_expression": expression}, timezone=ZONE)
        except InvalidTrigger as exc:
            refused.append((expression, exc.message))
            continue
        got = next_run_times(spec, ZONE, FIRES, start=start)
        counts["compared"] += 1
        fields = expression.split()
        if not fields[2].startswith("*") and not fields[4].startswith("*"):
            counts["both day fields restricted"] += 1
        if [t.isoformat() for t in got] != [t.isoformat() for t in expected]:
            mismatches.append((expression, start.isoformat(), got[:2], expected[:2]))
    assert refused[:5] == [], f"{len(refused)} expressions that cron accepts were refused"
    assert mismatches[:5] == [], f"{len(mismatches)} of {counts['compared']} differ"
    # The comparison is not vacuous: most expressions and the interesting shapes took part.
    assert counts["compared"] >= EXPRESSIONS * 0.8, counts
    assert counts["both day fields restricted"] >= 500, counts
