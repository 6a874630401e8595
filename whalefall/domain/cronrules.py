"""What a standard 5-field crontab means where APScheduler's CronTrigger reads it otherwise.

Cron (Vixie/ISC cron, as in Debian, cronie and the BSDs) and CronTrigger differ in two places; the
triggers module asks this one about both, so that a 5-field expression fires when cron would:

1. **The day of the month or the day of the week.** When both day fields of a crontab are
   restricted, cron runs on a day that matches *either* of them; CronTrigger requires *both*.
   ``0 2 1 * 1`` runs at 02:00 on the 1st of every month and on every Monday. A field counts as
   unrestricted when its text starts with ``*``, which is cron's own test: ``*/2`` is unrestricted
   (so ``0 0 */2 * 1`` means odd days that are Mondays), ``1-31`` and ``0-6`` are restricted.
   Quartz's ``?`` counts as ``*``. :func:`day_alternatives` turns such a schedule into two that
   CronTrigger reads as cron means them, to be joined by an ``OrTrigger``.
2. **A step larger than its range.** Cron takes ``19-19/4`` as 19, ``21-23/4`` as 21 and a minute
   ``*/60`` as 0: the range's first value. CronTrigger refuses them; :func:`plain_step` rewrites
   them first, and writes month names CronTrigger cannot read with a step (``jan-jun/2``) as
   numbers.

Both apply to 5-field expressions (and the ``@daily``-style macros) only: 6- and 7-field
expressions and the separate cron fields keep APScheduler's meaning and syntax, where both day
fields must match (see the triggers module).

Pure: strings in, strings out; nothing here raises.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_UNRESTRICTED = ("*", "?")
_STEPPED = re.compile(r"(?P<first>\*|\d+)(?:-(?P<last>\d+))?/(?P<step>\d+)")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# Month items CronTrigger reads as they are: a name or a range of names, without a step.
_NAMED_MONTHS = re.compile(r"[a-z]{3}(?:-[a-z]{3})?")
_MONTH = r"(?:[a-z]{3}|\d+)"
_MIXED_MONTHS = re.compile(rf"{_MONTH}(?:-{_MONTH})?(?:/\d+)?")


def expand_macro(expression: str) -> str:
    """``@daily`` and the other macros as the 5-field expression they stand for; others unchanged."""
    return MACROS.get(expression.lower(), expression)


def crontab_fields(expression: Any) -> list[str] | None:
    """The five fields of a standard crontab expression (macros expanded); None for any other."""
    if not isinstance(expression, str):
        return None
    parts = expand_macro(" ".join(expression.split())).split()
    return parts if len(parts) == 5 else None


def either_day(params: Mapping[str, Any]) -> bool:
    """Whether cron's OR of the two day fields applies: canonical cron params that came from a
    5-field expression whose day-of-month and day-of-week fields are both restricted."""
    fields = crontab_fields(params.get("expression"))
    return (
        fields is not None
        and not fields[2].startswith(_UNRESTRICTED)
        and not fields[4].startswith(_UNRESTRICTED)
    )


def day_alternatives(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Cron params as one or two schedules that CronTrigger reads the way cron means them.

    One, ``params`` unchanged, unless :func:`either_day`. Then two: one with the day of the
    month alone, one with the day of the week alone, the schedule being their union — or, when one
    of the two already names every day (``0-6`` is stored as ``*``), one schedule of every day.
    """
    if not either_day(params):
        return [dict(params)]
    if "*" in (params.get("day", "*"), params.get("day_of_week", "*")):
        return [{**params, "day": "*", "day_of_week": "*"}]
    return [{**params, "day_of_week": "*"}, {**params, "day": "*"}]


def plain_step(item: str, low: int, high: int) -> str:
    """A stepped item whose step exceeds its range (``19-19/4``, ``*/60``) as the one value cron
    takes from it (``19``, ``0``); every other item unchanged, for the caller's checks to judge.

    ``low`` and ``high`` are the field's bounds, used by ``*/n`` and ``a/n`` (``a`` to ``high``).
    """
    match = _STEPPED.fullmatch(item)
    if not match or (match["first"] == "*" and match["last"]):
        return item
    first = low if match["first"] == "*" else int(match["first"])
    last = int(match["last"]) if match["last"] else high
    step = int(match["step"])
    if step == 0 or first > last or step <= last - first:
        return item
    return str(first)


def month_numbers(item: str) -> str:
    """A month item with names CronTrigger cannot read (``jan-jun/2``, ``jan-6``) in numbers."""
    if _NAMED_MONTHS.fullmatch(item) or not _MIXED_MONTHS.fullmatch(item):
        return item
    names = re.findall(r"[a-z]{3}", item)
    if not all(name in _MONTHS for name in names):
        return item
    return re.sub(r"[a-z]{3}", lambda name: str(_MONTHS.index(name[0]) + 1), item)
