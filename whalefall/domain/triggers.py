"""A job's trigger: request fields in, a canonical spec and an APScheduler trigger out.

A trigger travels as a :class:`TriggerSpec` — its type plus canonical, JSON-serialisable params
(what the API returns as ``trigger_params`` and what the database stores). :func:`parse_trigger` is
the one way in and validates strictly; :func:`build_trigger` turns a spec into the APScheduler
trigger; :func:`next_run_times` previews it from an explicit start.

Day-of-week numbers follow crontab (0 and 7 are Sunday, 1 Monday … 6 Saturday) in expressions, in
the flat ``cron_day_of_week`` field and in ``trigger_params``; APScheduler 3.x counts from Monday, so
they are translated to day names, which is what the canonical params hold.

What the forms mean:

- A **5-field expression** (``minute hour day month day_of_week``, and ``@daily`` and the other
  macros) means what cron (Vixie/ISC cron) means: when both the day of the month and the day of
  the week are restricted (neither field starts with ``*``), it fires on a day matching *either*,
  so ``0 2 1 * 1`` runs on the 1st and on every Monday; the trigger is then an ``OrTrigger`` of
  two CronTriggers, rebuilt from the stored params each time. See ``whalefall.domain.cronrules``.
- **6- and 7-field expressions** (a leading second, a trailing year) and the **separate cron
  fields** (``cron_hour`` …) keep APScheduler's meaning: every field must match, the two day
  fields included (``0 0 2 1 * 1`` runs on a 1st that is a Monday).
- A 5-field expression also takes cron's syntax where CronTrigger's is narrower: a step larger
  than its range means the range's first value (``19-19/4`` is 19, minutes ``*/60`` are 0) and
  month names may carry a step (``jan-jun/2``). The other forms keep APScheduler's syntax, which
  refuses both; in every form days of the week are numbered as in crontab (above).

Pure: no database, no Flask, timezone-aware datetimes only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import BaseModel, ConfigDict

from whalefall.domain import cronrules
from whalefall.domain.describe import describe_trigger
from whalefall.errors import InvalidTrigger


class TriggerType(StrEnum):
    CRON = "cron"
    INTERVAL = "interval"
    DATE = "date"
    DEPENDENCY = "dependency"


class TriggerSpec(BaseModel):
    """A validated trigger: build it with :func:`parse_trigger`, not by hand."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: TriggerType
    params: dict[str, Any]


#: Cron fields in crontab/expression order (second first, as in a 6-field expression).
CRON_FIELDS = ("second", "minute", "hour", "day", "month", "day_of_week", "year")
#: The same fields in APScheduler's order, most significant first; it decides the defaults.
_SIGNIFICANCE = ("year", "month", "day", "day_of_week", "hour", "minute", "second")
INTERVAL_UNITS = ("weeks", "days", "hours", "minutes", "seconds")
_WINDOW = ("start_date", "end_date", "jitter")

_CANONICAL_KEYS: dict[TriggerType, frozenset[str]] = {
    TriggerType.CRON: frozenset((*CRON_FIELDS, "expression", *_WINDOW)),
    TriggerType.INTERVAL: frozenset((*INTERVAL_UNITS, *_WINDOW)),
    TriggerType.DATE: frozenset(("run_date",)),
    TriggerType.DEPENDENCY: frozenset(),
}
#: Canonical key -> the flat request field; errors always name the flat field.
FLAT_FIELDS: dict[str, str] = {
    "expression": "cron_expression",
    **{name: f"cron_{name}" for name in CRON_FIELDS},
    **{unit: f"interval_{unit}" for unit in INTERVAL_UNITS},
    "run_date": "run_date",
    "start_date": "start_date",
    "end_date": "end_date",
    "jitter": "jitter",
}

_RANGES = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "day": (1, 31),
    "month": (1, 12),
    "day_of_week": (0, 7),
    "year": (1970, 9999),
}
_HINTS = {
    "second": "0-59, '*', a range a-b, a step */n or a list a,b",
    "minute": "0-59, '*', a range a-b, a step */n or a list a,b",
    "hour": "0-23, '*', a range a-b, a step */n or a list a,b",
    "day": "1-31, 'last', '1st mon'…'last fri', '*' or '?', ranges, steps or lists",
    "month": "1-12 or jan-dec, '*', ranges, steps or lists",
    "day_of_week": "0-7 (0 and 7 are Sunday) or mon-sun, '*' or '?', ranges, steps or lists",
    "year": "1970-9999, '*', ranges, steps or lists",
}
_NUMERIC_ITEM = re.compile(r"(?P<first>\d+)(?:-(?P<last>\d+))?(?:/(?P<step>\d+))?")
_ITEM_SYNTAX = {
    "month": [re.compile(r"[a-z]{3}(?:-[a-z]{3})?")],
    "day": [re.compile(r"last"), re.compile(r"(?:1st|2nd|3rd|4th|5th|last) +[a-z]{3}")],
}
_STAR_ITEM = re.compile(r"\*(?:/(?P<step>\d+))?")

# Crontab numbers 0..6 (7 is also Sunday) and APScheduler's Monday-first order.
_CRONTAB_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_APS_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_ITEM = re.compile(r"(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>\d+))?")

# A year-free schedule repeats within the 400-year Gregorian cycle; none in it means never.
_PROBE_START = datetime(2000, 1, 1, tzinfo=UTC)
_PROBE_END = datetime(2400, 1, 1, tzinfo=UTC)
_LONGEST_INTERVAL = timedelta(days=100 * 366)
_DATE_EXAMPLE = "ISO 8601, e.g. 2026-12-01T10:00:00+08:00 or 2026-12-01 10:00:00"


def load_timezone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises InvalidTrigger(field="timezone") when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidTrigger(
            f"timezone: {name!r} is not a known IANA time zone (e.g. Asia/Shanghai, UTC)",
            field="timezone",
            key="timezone_unknown",
            params={"value": name},
        ) from None


# --------------------------------------------------------------------------------------------
# parse


def parse_trigger(data: Mapping[str, Any], *, timezone: str) -> TriggerSpec:
    """Validate the trigger fields of a request and return the canonical spec.

    ``data`` holds either the flat console fields (``cron_hour``, ``interval_seconds``,
    ``run_date`` …) or ``trigger_params`` with canonical keys; ``trigger`` stands in for a missing
    ``trigger_type``. Empty strings and None mean "not given". When both a cron expression and
    cron fields are given, the expression wins.

    Raises InvalidTrigger whose ``field`` is the flat request field at fault (``cron_hour``,
    ``cron_expression``, ``interval_seconds``, ``run_date``, ``end_date``, ``trigger_type``,
    ``trigger_params`` for unknown structured keys, ``timezone``) — for the structured form too.
    """
    zone = load_timezone(timezone)
    trigger_type = _trigger_type(data)
    raw = _given_params(data, trigger_type)
    if trigger_type is TriggerType.CRON:
        params = _parse_cron(raw, zone)
    elif trigger_type is TriggerType.INTERVAL:
        params = _parse_interval(raw, zone)
    elif trigger_type is TriggerType.DATE:
        params = _parse_date(raw, zone)
    else:
        params = {}
    return TriggerSpec(type=trigger_type, params=params)


def _part(prefix: str) -> str:
    """The flat field a message is about: ``cron_hour`` for ``cron_hour: `` and ``cron_expression: hour ``."""
    if prefix.startswith("cron_expression: "):
        return "cron_" + prefix.removeprefix("cron_expression: ").strip()
    return prefix.rstrip(": ")


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _trigger_type(data: Mapping[str, Any]) -> TriggerType:
    value = data.get("trigger_type")
    if not _given(value):
        value = data.get("trigger")
    choices = ", ".join(TriggerType)
    if not _given(value):
        raise InvalidTrigger(
            f"trigger_type: required, one of {choices}",
            field="trigger_type",
            key="trigger_type_required",
            params={"choices": choices},
        )
    try:
        return TriggerType(str(value).strip().lower())
    except ValueError:
        raise InvalidTrigger(
            f"trigger_type: {value!r} is not one of {choices}",
            field="trigger_type",
            key="trigger_type_unknown",
            params={"value": value, "choices": choices},
        ) from None


def _given_params(data: Mapping[str, Any], trigger_type: TriggerType) -> dict[str, Any]:
    """The canonical keys the user gave a value for, from ``trigger_params`` or the flat form."""
    allowed = _CANONICAL_KEYS[trigger_type]
    structured = data.get("trigger_params")
    if _given(structured) and not isinstance(structured, Mapping):
        raise InvalidTrigger("trigger_params: expected an object", field="trigger_params")
    if structured:
        unknown = sorted(str(key) for key in structured if key not in allowed)
        if unknown:
            raise InvalidTrigger(
                f"trigger_params: unknown key(s) {', '.join(unknown)} for a {trigger_type} trigger;"
                f" expected some of {', '.join(sorted(allowed)) or 'nothing'}",
                field="trigger_params",
            )
        return {key: value for key, value in structured.items() if _given(value)}
    return {key: data[FLAT_FIELDS[key]] for key in allowed if _given(data.get(FLAT_FIELDS[key]))}


def _parse_cron(raw: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    expression = None
    if "expression" in raw:
        fields, expression = _split_expression(raw["expression"])
        prefixes = {name: f"cron_expression: {name} " for name in fields}
    else:
        fields = {name: raw[name] for name in CRON_FIELDS if name in raw}
        if not fields:
            raise InvalidTrigger(
                "cron_expression: give a cron expression (e.g. '0 2 * * *') or at least one of "
                "the cron fields (cron_second … cron_year)",
                field="cron_expression",
                key="cron_needs_fields",
            )
        prefixes = {name: f"{FLAT_FIELDS[name]}: " for name in fields}

    params: dict[str, Any] = {}
    is_crontab = cronrules.crontab_fields(expression) is not None
    for name in CRON_FIELDS:
        if name in fields:
            field = "cron_expression" if expression else FLAT_FIELDS[name]
            params[name] = _clean_cron_field(name, fields[name], field, prefixes[name], is_crontab)
    start, end = _parse_window(raw, zone)
    jitter = _parse_jitter(raw)
    if expression:
        params["expression"] = expression
    _check_cron_fires(params, start, end, zone)
    params.update(_window_params(start, end, jitter))
    return params


def _split_expression(value: Any) -> tuple[dict[str, str], str]:
    expression = " ".join(str(value).split())
    parts = cronrules.expand_macro(expression).split()
    if len(parts) == 5:
        fields = {"second": "0", **dict(zip(CRON_FIELDS[1:6], parts, strict=True)), "year": "*"}
    elif len(parts) == 6:
        fields = {**dict(zip(CRON_FIELDS[:6], parts, strict=True)), "year": "*"}
    elif len(parts) == 7:
        fields = dict(zip(CRON_FIELDS, parts, strict=True))
    else:
        raise InvalidTrigger(
            f"cron_expression: expected 5, 6 or 7 fields separated by spaces "
            f"(minute hour day month day_of_week, with a leading second and a trailing year), "
            f"got {len(parts)}",
            field="cron_expression",
            key="cron_field_count",
            params={"count": len(parts)},
        )
    return fields, expression


def _clean_cron_field(name: str, value: Any, field: str, prefix: str, is_crontab: bool = False) -> str:
    """One cron field, normalised (lower case, no spaces around commas) and checked.

    Day-of-week numbers are translated from crontab to names. In a 5-field expression
    (``is_crontab``), what cron accepts and CronTrigger does not is rewritten: month names in
    items such as ``jan-jun/2`` as numbers, a step larger than its range as the one value cron
    takes from it (``19-19/4`` -> ``19``). The value is finally given to APScheduler's CronTrigger
    alone, so whatever it refuses is refused here, naming ``field``.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _invalid_item(prefix, value, name, field)
    text = re.sub(r"\s*,\s*", ",", str(value).strip().lower())
    if name == "day_of_week":
        text = _crontab_weekdays(text, field, prefix)
    else:
        if name == "day" and text == "?":  # Quartz habit: "no specific value"
            text = "*"
        items = []
        for item in text.split(","):
            if is_crontab and name == "month":
                item = cronrules.month_numbers(item)
            _check_item(name, item, field, prefix)
            items.append(cronrules.plain_step(item, *_RANGES[name]) if is_crontab else item)
        text = ",".join(items)
    try:
        CronTrigger(**{name: text}, timezone=UTC)
    except ValueError as exc:
        raise _invalid_item(prefix, value, name, field, detail=f" ({exc})") from None
    return text


def _invalid_item(prefix: str, value: Any, name: str, field: str, detail: str = "") -> InvalidTrigger:
    return InvalidTrigger(
        f"{prefix}{value!r} is not valid{detail}; expected {_HINTS[name]}",
        field=field,
        key="cron_invalid",
        params={"field": _part(prefix), "value": value, "hint": name},
    )


def _check_item(name: str, item: str, field: str, prefix: str) -> None:
    low, high = _RANGES[name]
    if star := _STAR_ITEM.fullmatch(item):
        numbers: Iterable[str | None] = ()
        step = star["step"]
    elif numeric := _NUMERIC_ITEM.fullmatch(item):
        numbers, step = (numeric["first"], numeric["last"]), numeric["step"]
    elif any(pattern.fullmatch(item) for pattern in _ITEM_SYNTAX.get(name, ())):
        return  # names: APScheduler checks them
    else:
        raise _invalid_item(prefix, item, name, field)
    for number in numbers:
        if number is not None and not low <= int(number) <= high:
            raise InvalidTrigger(
                f"{prefix}{int(number)} is out of range {low}-{high}",
                field=field,
                key="cron_out_of_range",
                params={"field": _part(prefix), "value": int(number), "low": low, "high": high},
            )
    if step is not None and int(step) == 0:
        raise InvalidTrigger(
            f"{prefix}{item!r}: a step must be greater than 0",
            field=field,
            key="cron_step_zero",
            params={"field": _part(prefix), "value": item},
        )


def _crontab_weekdays(text: str, field: str, prefix: str) -> str:
    """Translate a crontab day-of-week field into APScheduler's terms (names, Monday first).

    Numeric items, and name ranges only valid in crontab order (``sun-thu``), are expanded to
    names so that ranges crossing Sunday keep working: ``1-5`` -> ``mon-fri``, ``5-7`` ->
    ``fri-sun``, ``*/2`` -> ``sun,tue,thu,sat``, ``0-6`` -> ``*``. Plain names and name ranges
    APScheduler understands (``mon``, ``mon-fri``) pass through.
    """
    if text in ("*", "?"):
        return "*"
    pieces: list[str] = []
    for item in text.split(","):
        for piece in _weekday_item(item, field, prefix):
            if piece not in pieces:
                pieces.append(piece)
    return "*" if "*" in pieces else ",".join(pieces)


def _weekday_item(item: str, field: str, prefix: str) -> list[str]:
    match = _WEEKDAY_ITEM.fullmatch(item.replace("?", "*"))
    if not match:
        raise _invalid_item(prefix, item, "day_of_week", field)
    step = int(match["step"]) if match["step"] else None
    if step == 0:
        raise InvalidTrigger(
            f"{prefix}{item!r}: a step must be greater than 0",
            field=field,
            key="cron_step_zero",
            params={"field": _part(prefix), "value": item},
        )
    if match["range"] == "*":
        if step is None:
            return ["*"]
        first, last = 0, 6
    else:
        ends = match["range"].split("-")
        if step is None and all(end in _APS_DAYS for end in ends):
            if len(ends) == 1 or _APS_DAYS.index(ends[0]) <= _APS_DAYS.index(ends[1]):
                return [match["range"]]
        first = _weekday_number(ends[0], field, prefix)
        if len(ends) == 2:
            last = _weekday_number(ends[1], field, prefix)
        else:  # "1/2" runs to the field's last value, which is 7 (Sunday) in crontab
            last = first if step is None else 7
        if first > last:
            raise InvalidTrigger(
                f"{prefix}{item!r}: a range must not run backwards (0 and 7 are Sunday, 1 Monday … "
                f"6 Saturday)",
                field=field,
                key="cron_backwards",
                params={"field": _part(prefix), "value": item},
            )
    days = [_CRONTAB_DAYS[number % 7] for number in range(first, last + 1, step or 1)]
    order = sorted({_APS_DAYS.index(day) for day in days})
    if len(order) == 7:
        return ["*"]
    is_range = "-" in item or step is not None
    if is_range and len(order) > 2 and order == list(range(order[0], order[-1] + 1)):
        return [f"{_APS_DAYS[order[0]]}-{_APS_DAYS[order[-1]]}"]
    return list(dict.fromkeys(days))


def _weekday_number(token: str, field: str, prefix: str) -> int:
    if token.isdigit():
        if not 0 <= int(token) <= 7:
            raise InvalidTrigger(
                f"{prefix}{int(token)} is out of range 0-7 (0 and 7 are Sunday)",
                field=field,
                key="cron_weekday_range",
                params={"field": _part(prefix), "value": int(token)},
            )
        return int(token)
    if token in _CRONTAB_DAYS:
        return _CRONTAB_DAYS.index(token)
    raise InvalidTrigger(
        f"{prefix}{token!r} is not a day of the week; expected 0-7 (0 and 7 are Sunday) or mon-sun",
        field=field,
        key="cron_not_weekday",
        params={"field": _part(prefix), "value": token},
    )


def _check_cron_fires(
    params: dict[str, Any], start: datetime | None, end: datetime | None, zone: ZoneInfo
) -> None:
    """Refuse a schedule that names no real date (30 February); checked on the calendar alone.

    A crontab that fires on either day field (:func:`cronrules.either_day`) always has its days of
    the week, so it always fires.
    """
    alternatives = [_trigger_fields(fields) for fields in cronrules.day_alternatives(params)]
    field = "cron_expression" if "expression" in params else "cron_day"
    for fields in alternatives:
        try:
            CronTrigger(**fields, start_date=start, end_date=end, timezone=zone)
        except ValueError as exc:  # every field passed alone; kept as a guard for combinations
            raise InvalidTrigger(f"{field}: {exc}", field=field) from None
    if "day" not in params or params.get("year", "*") != "*" or len(alternatives) > 1:
        return
    probe = CronTrigger(**alternatives[0], end_date=_PROBE_END, timezone=UTC)
    if probe.get_next_fire_time(None, _PROBE_START) is None:
        weekday = params.get("day_of_week", "*")
        raise InvalidTrigger(
            f"{field}: day {params['day']!r} never occurs in month {params.get('month', '*')!r}"
            + (f" on {weekday!r}" if weekday != "*" else "")
            + "; the job would never run",
            field=field,
            key="cron_never",
            params={"field": field, "day": params["day"], "month": params.get("month", "*")},
        )


def _parse_interval(raw: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    units: dict[str, int] = {}
    for unit in INTERVAL_UNITS:
        if unit in raw:
            field = FLAT_FIELDS[unit]
            number = _whole_number(raw[unit], field)
            if number < 0:
                raise InvalidTrigger(
                    f"{field}: {number} is negative; expected a whole number >= 0",
                    field=field,
                    key="negative",
                    params={"field": field, "value": number},
                )
            if number:
                units[unit] = number
    if not units:
        raise InvalidTrigger(
            "interval_seconds: give at least one of interval_weeks, interval_days, interval_hours, "
            "interval_minutes or interval_seconds greater than 0",
            field="interval_seconds",
            key="interval_none",
        )
    try:
        too_long = timedelta(**units) > _LONGEST_INTERVAL
    except OverflowError:
        too_long = True
    if too_long:
        field = FLAT_FIELDS[next(iter(units))]
        raise InvalidTrigger(
            f"{field}: the interval must not exceed 100 years",
            field=field,
            key="interval_too_long",
            params={"field": field},
        )
    start, end = _parse_window(raw, zone)
    return {**units, **_window_params(start, end, _parse_jitter(raw))}


def _parse_date(raw: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    if "run_date" not in raw:
        raise InvalidTrigger(
            f"run_date: required for a date trigger ({_DATE_EXAMPLE})",
            field="run_date",
            key="run_date_required",
        )
    return {"run_date": parse_datetime(raw["run_date"], zone, "run_date").isoformat()}


def parse_datetime(value: Any, zone: ZoneInfo, field: str) -> datetime:
    """An aware datetime from ISO 8601 text (or a date/datetime); naive values are in ``zone``.

    A wall time that does not exist (the hour skipped when DST starts) moves forward by the gap.
    Raises InvalidTrigger naming ``field``.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise InvalidTrigger(
                f"{field}: {value!r} is not a date-time; expected {_DATE_EXAMPLE}",
                field=field,
                key="not_datetime",
                params={"field": field, "value": value},
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC).astimezone(zone)


def _parse_window(raw: dict[str, Any], zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    start = parse_datetime(raw["start_date"], zone, "start_date") if "start_date" in raw else None
    end = parse_datetime(raw["end_date"], zone, "end_date") if "end_date" in raw else None
    if start and end and end < start:
        raise InvalidTrigger(
            f"end_date: {end.isoformat()} is before start_date {start.isoformat()}",
            field="end_date",
            key="end_before_start",
            params={"end": end.isoformat(), "start": start.isoformat()},
        )
    return start, end


def _parse_jitter(raw: dict[str, Any]) -> int:
    if "jitter" not in raw:
        return 0
    jitter = _whole_number(raw["jitter"], "jitter")
    if jitter < 0:
        raise InvalidTrigger(
            f"jitter: {jitter} is negative; expected seconds >= 0",
            field="jitter",
            key="negative",
            params={"field": "jitter", "value": jitter},
        )
    return jitter


def _window_params(start: datetime | None, end: datetime | None, jitter: int) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if start:
        params["start_date"] = start.isoformat()
    if end:
        params["end_date"] = end.isoformat()
    if jitter:
        params["jitter"] = jitter
    return params


def _whole_number(value: Any, field: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise InvalidTrigger(
        f"{field}: {value!r} is not a whole number",
        field=field,
        key="not_whole_number",
        params={"field": field, "value": value},
    )


# --------------------------------------------------------------------------------------------
# build, preview, describe


def build_trigger(spec: TriggerSpec, timezone: str) -> BaseTrigger | None:
    """The APScheduler trigger for ``spec`` in ``timezone``; None for a dependency trigger.

    An interval without ``start_date`` counts from now, as APScheduler does.
    Raises InvalidTrigger(field="timezone") for an unknown zone.
    """
    return _build(spec, load_timezone(timezone), with_jitter=True)


def _build(
    spec: TriggerSpec, zone: ZoneInfo, *, with_jitter: bool, anchor: datetime | None = None
) -> BaseTrigger | None:
    params = spec.params
    if spec.type is TriggerType.DEPENDENCY:
        return None
    if spec.type is TriggerType.DATE:
        return DateTrigger(run_date=parse_datetime(params["run_date"], zone, "run_date"), timezone=zone)
    start = parse_datetime(params["start_date"], zone, "start_date") if params.get("start_date") else None
    end = parse_datetime(params["end_date"], zone, "end_date") if params.get("end_date") else None
    jitter = (params.get("jitter") or None) if with_jitter else None
    if spec.type is TriggerType.INTERVAL:
        units = {unit: params[unit] for unit in INTERVAL_UNITS if unit in params}
        if start is None and anchor is not None:
            start = anchor + timedelta(**units)
        return IntervalTrigger(**units, start_date=start, end_date=end, timezone=zone, jitter=jitter)
    alternatives = cronrules.day_alternatives(params)
    if len(alternatives) > 1 and not _day_occurs(params["day"], params.get("month", "*")):
        # 31 November: the days of the week alone, and no trigger searching to year 9999 for it
        alternatives = alternatives[1:]
    if len(alternatives) == 1:
        return CronTrigger(
            **_trigger_fields(alternatives[0]), start_date=start, end_date=end, timezone=zone, jitter=jitter
        )
    # Cron's day of the month *or* day of the week: each alone, whichever comes first.
    either = [
        CronTrigger(**_trigger_fields(fields), start_date=start, end_date=end, timezone=zone)
        for fields in alternatives
    ]
    return OrTrigger(either, jitter=jitter)


@lru_cache(maxsize=256)
def _day_occurs(day: str, month: str) -> bool:
    """Whether the day of the month ``day`` ever falls in ``month`` (both canonical fields)."""
    probe = CronTrigger(day=day, month=month, end_date=_PROBE_END, timezone=UTC)
    return probe.get_next_fire_time(None, _PROBE_START) is not None


def _trigger_fields(params: Mapping[str, Any]) -> dict[str, str]:
    """The cron fields to give CronTrigger, the redundant ``*`` ones left out.

    CronTrigger makes every field before the last one given ``*`` and every field after it its
    minimum. So a ``*`` before the last restricted field can be left out without changing the
    schedule, which keeps the trigger text short: "cron[hour='2', minute='0', second='0']".
    """
    fields = {name: params[name] for name in _SIGNIFICANCE if name in params}
    restricted = [name for name, value in fields.items() if value != "*"]
    if not restricted:  # all "*": keep the least significant, so the defaults stay the same
        return dict(list(fields.items())[-1:])
    last = _SIGNIFICANCE.index(restricted[-1])
    return {name: value for name, value in fields.items() if value != "*" or _SIGNIFICANCE.index(name) > last}


def next_run_times(
    spec: TriggerSpec, timezone: str, count: int = 5, *, start: datetime | None = None
) -> list[datetime]:
    """The next ``count`` times the trigger fires at or after ``start`` (default: now).

    Times are aware, in ``timezone``, and follow what APScheduler itself computes (without
    jitter). An interval without ``start_date`` is taken as created at ``start``, so it first fires
    one interval later. Empty for a dependency trigger and for a date that has passed.
    """
    zone = load_timezone(timezone)
    if start is None:
        start = datetime.now(zone)
    elif start.tzinfo is None:
        start = start.replace(tzinfo=zone)
    trigger = _build(spec, zone, with_jitter=False, anchor=start)
    if trigger is None or count <= 0:
        return []
    if isinstance(trigger, DateTrigger):
        return [trigger.run_date.astimezone(zone)] if trigger.run_date >= start else []
    times: list[datetime] = []
    previous, now = None, start
    while len(times) < count:
        try:
            fire = trigger.get_next_fire_time(previous, now)
        except (OverflowError, ValueError):  # ran off the end of the calendar (year 9999)
            break
        if fire is None:
            break
        # CronTrigger can return a wall time that does not exist (02:30 on the day DST starts,
        # which is an instant one gap later); round-trip through UTC to show the real local time.
        times.append(fire.astimezone(UTC).astimezone(zone))
        previous = now = fire
    return times


def describe(spec: TriggerSpec, lang: str = "zh") -> str:
    """Human-readable text for the trigger, in ``lang`` "zh" or "en"; never raises."""
    return describe_trigger(spec.type.value, spec.params, lang)


def reading(trigger_type: str, params: Mapping[str, Any]) -> str:
    """How stored params are read where that once differed: "crontab-either-day" for a crontab
    that fires on either day field, else "". A stored schedule built before the OR rule is rebuilt
    when this is part of what it was built from."""
    if trigger_type == TriggerType.CRON and cronrules.either_day(params):
        return "crontab-either-day"
    return ""


def trigger_text(spec: TriggerSpec, timezone: str) -> str:
    """APScheduler's own text for the trigger (``cron[hour='2', minute='0']``), or "dependency"."""
    trigger = build_trigger(spec, timezone)
    return "dependency" if trigger is None else str(trigger)
