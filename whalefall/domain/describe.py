"""Human-readable text for a trigger, in Simplified Chinese (the default) or English.

Works on a trigger's canonical params (see ``whalefall.domain.triggers``): cron fields hold
APScheduler values, so days of the week are names. A 5-field crontab whose two day fields are both
restricted fires on either (``whalefall.domain.cronrules``), and is described so: "每月 1 日和每周一
02:00 执行"; everywhere else both must match, which cron-descriptor's "only on" says. Common shapes get a sentence of ours; the rest
are described by ``cron-descriptor`` (after translating the fields into the crontab terms it reads,
Sunday being 0), with its Chinese completed and its day and month names replaced by ours; what even
that cannot read falls back to showing the cron expression. Nothing here raises.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from cron_descriptor import ExpressionDescriptor, FormatError, MissingFieldError, Options

from whalefall.domain.cronrules import day_alternatives

_SIGNIFICANCE = ("year", "month", "day", "day_of_week", "hour", "minute", "second")
# What CronTrigger gives a field left out after the last one given (the rest become "*").
_DEFAULTS = {
    "year": "*",
    "month": "1",
    "day": "1",
    "day_of_week": "*",
    "hour": "0",
    "minute": "0",
    "second": "0",
}

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAYS_ZH = dict(zip(_DAYS, ("周一", "周二", "周三", "周四", "周五", "周六", "周日"), strict=True))
_DAYS_EN = dict(
    zip(_DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"), strict=True)
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_UNITS = ("weeks", "days", "hours", "minutes", "seconds")
_UNITS_ZH = {"weeks": "周", "days": "天", "hours": "小时", "minutes": "分钟", "seconds": "秒"}
_STEP = re.compile(r"(?:\*|0)/(\d+)")

# cron-descriptor's messages we word differently. Its zh_CN catalogue lacks some (which it then
# drops silently) and orders "on the third Friday of the month" word by word. ", or on {0}" is
# crontab's OR of day and weekday; except for a crontab that fires on either (_EITHER_DAY) both
# must match, which "only on {0}" says (an empty message makes cron-descriptor use that one).
_MESSAGES_ZH = {
    ", or on {0}": "",
    ", on the ": ", 每月的",
    " {0} of the month": "{0}",
    ", on the last {0} of the month": ", 每月的最后一个{0}",
    ", on the {0} of the month": ", 每月的{0}",
    ", {0} through {1}": ", {0} 至 {1}",
    ", every {0} weeks": ", 每 {0} 周",
    ", every {0} months": ", 每 {0} 个月",
    ", starting {0}": ", 从 {0} 开始",
    "starting {0}": "从 {0} 开始",
    ", {0} days before the last day of the month": ", 每月最后一天的前 {0} 天",
}
_MESSAGES_EN = {", or on {0}": "", "starting {0}": "starting {0}"}
_EITHER_DAY = ", or on {0}"
_MONTHS_ZH = tuple(f"{n} 月" for n in range(1, 13))
_CJK = r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_CJK_GAP = re.compile(rf"(?<={_CJK}) +(?={_CJK})")
# APScheduler's "last fri" / "3rd fri" in the day field, as crontab's 5L / 5#3 in the weekday one.
_NTH_WEEKDAY = re.compile(r"(?P<nth>1st|2nd|3rd|4th|5th|last) +(?P<day>[a-z]{3})")
_WEEKDAY_NAMES = re.compile(r"[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*")


def describe_trigger(trigger_type: str, params: Mapping[str, Any], lang: str = "zh") -> str:
    """A sentence for the trigger; ``lang`` starting with "en" gives English, anything else Chinese."""
    en = str(lang).lower().startswith("en")
    try:
        if trigger_type == "dependency":
            return "After its upstream jobs succeed" if en else "依赖上游任务成功后执行"
        if trigger_type == "date":
            when = datetime.fromisoformat(str(params["run_date"])).strftime("%Y-%m-%d %H:%M:%S")
            return f"Once at {when}" if en else f"于 {when} 执行一次"
        if trigger_type == "interval":
            return _interval(params, en)
        if trigger_type == "cron":
            return _cron(params, en) or _cron_fallback(params, en)
    except (KeyError, TypeError, ValueError, AttributeError):
        pass  # params not made by parse_trigger: say what we can below
    if trigger_type == "cron":
        return _cron_fallback(params, en)
    return str(trigger_type)


def _interval(params: Mapping[str, Any], en: bool) -> str:
    parts = [(unit, int(params[unit])) for unit in _UNITS if params.get(unit)]
    if not parts:
        raise ValueError("no interval")
    if en:
        words = [f"{n} {unit[:-1] if n == 1 else unit}" for unit, n in parts]
        return f"Every {_join_en(words)}"
    return "每 " + " ".join(f"{n} {_UNITS_ZH[unit]}" for unit, n in parts) + "执行"


def _effective(params: Mapping[str, Any]) -> dict[str, str]:
    """Every cron field as CronTrigger will see it, defaults filled in."""
    given = [name for name in _SIGNIFICANCE if params.get(name) not in (None, "")]
    last = _SIGNIFICANCE.index(given[-1]) if given else len(_SIGNIFICANCE)
    return {
        name: str(params[name]) if name in given else (_DEFAULTS[name] if index > last else "*")
        for index, name in enumerate(_SIGNIFICANCE)
    }


def _number(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def _every(value: str) -> int | None:
    """N for ``*/N`` (or ``0/N``), 1 for ``*``, else None."""
    if value == "*":
        return 1
    step = _STEP.fullmatch(value)
    return int(step[1]) if step else None


def _cron(params: Mapping[str, Any], en: bool) -> str | None:
    """A sentence for the common shapes; None when the schedule is not one of them."""
    alternatives = day_alternatives(params)
    if len(alternatives) > 1:
        return _either_day(params, en)
    f = _effective(alternatives[0])
    second, minute, hour = f["second"], f["minute"], f["hour"]
    day, month, dow = f["day"], f["month"], f["day_of_week"]
    if f["year"] != "*":
        return None
    calendar_free = day == month == dow == "*"

    # Every N seconds / minutes / hours.
    if calendar_free and minute == hour == "*" and (n := _every(second)):
        if n == 1:
            return "Every second" if en else "每秒执行"
        return f"Every {n} seconds" if en else f"每 {n} 秒执行"
    if calendar_free and hour == "*" and second == "0" and (n := _every(minute)):
        if n == 1:
            return "Every minute" if en else "每分钟执行"
        return f"Every {n} minutes" if en else f"每 {n} 分钟执行"
    if calendar_free and second == "0" and (m := _number(minute)) is not None and (n := _every(hour)):
        if n == 1 and m == 0:
            return "Every hour on the hour" if en else "每小时整点执行"
        if n == 1:
            return f"Every hour at minute {m}" if en else f"每小时第 {m} 分执行"
        if m == 0:
            return f"Every {n} hours" if en else f"每 {n} 小时执行"
        return f"Every {n} hours at minute {m}" if en else f"每 {n} 小时第 {m} 分执行"

    # At fixed times of day.
    times = _times(second, minute, hour, en)
    if times is None:
        return None
    if calendar_free:
        return f"Every day at {times}" if en else f"每天 {times} 执行"
    if day == month == "*":
        return _weekly(dow, times, en)
    if dow != "*":
        return None
    if month == "*":
        monthly = _monthly(day, en)
        if monthly is None:
            return None
        return f"{monthly} at {times}" if en else f"{monthly} {times} 执行"
    month_number = _number(month) or (_MONTHS.index(month) + 1 if month in _MONTHS else None)
    day_number = _number(day)
    if month_number is None or day_number is None:
        return None
    if en:
        return f"Every year on {_MONTHS_EN[month_number - 1]} {day_number} at {times}"
    return f"每年 {month_number} 月 {day_number} 日 {times} 执行"


def _times(second: str, minute: str, hour: str, en: bool) -> str | None:
    """ "02:00" or "02:00、14:00" / "02:00 and 14:00"; None unless the times of day are fixed."""
    s, m = _number(second), _number(minute)
    hours = [_number(item) for item in hour.split(",")]
    if s is None or m is None or None in hours:
        return None
    texts = [f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "") for h in hours if h is not None]
    return _join_en(texts) if en else "、".join(texts)


def _either_day(params: Mapping[str, Any], en: bool) -> str | None:
    """A crontab that fires on its days of the month and on its days of the week."""
    f = _effective(params)
    if f["year"] != "*" or f["month"] != "*":
        return None
    times = _times(f["second"], f["minute"], f["hour"], en)
    monthly = _monthly(f["day"], en)
    weekly = _weekdays(f["day_of_week"], en)
    if times is None or monthly is None or weekly is None:
        return None
    return f"{monthly} and {weekly} at {times}" if en else f"{monthly}和{weekly} {times} 执行"


def _monthly(day: str, en: bool) -> str | None:
    """ "On days 1 and 15 of every month" / "每月 1、15 日"; None unless days of the month are listed."""
    if day == "last":
        return "On the last day of every month" if en else "每月最后一天"
    days = [_number(item) for item in day.split(",")]
    if None in days:
        return None
    if en:
        label = "day" if len(days) == 1 else "days"
        return f"On {label} {_join_en([str(d) for d in days])} of every month"
    return f"每月 {'、'.join(str(d) for d in days)} 日"


def _weekly(dow: str, times: str, en: bool) -> str | None:
    weekly = _weekdays(dow, en)
    if weekly is None:
        return None
    return f"{weekly[:1].upper()}{weekly[1:]} at {times}" if en else f"{weekly} {times} 执行"


def _weekdays(dow: str, en: bool) -> str | None:
    """ "every Monday and Friday", "Monday to Friday" / "每周一、周五", "每周一至周五"."""
    spans = _day_spans(dow)
    if spans is None:
        return None
    if en:
        words = [" to ".join(_DAYS_EN[end] for end in span) for span in spans]
        if any(len(span) == 2 for span in spans):
            return _join_en(words)
        return f"every {_join_en(words)}"
    words = ["至".join(_DAYS_ZH[end] for end in span) for span in spans]
    return f"每{'、'.join(words)}"


def _day_spans(dow: str) -> list[tuple[str, ...]] | None:
    """Days of the week as single days and (first, last) spans; a run of three or more single
    days, Sunday wrapping round to Monday, becomes one span: "sun,mon,tue" -> ("sun", "tue")."""
    spans: list[tuple[str, ...]] = []
    for item in dow.split(","):
        ends = tuple(item.split("-"))
        if len(ends) > 2 or not all(end in _DAYS for end in ends):
            return None
        spans.append(ends)
    if len(spans) < 3 or any(len(span) != 1 for span in spans):
        return spans
    numbers = {_DAYS.index(span[0]) for span in spans}
    for first in numbers:
        run = [(first + offset) % 7 for offset in range(len(numbers))]
        if set(run) == numbers and len(numbers) == len(spans):
            return [(_DAYS[run[0]], _DAYS[run[-1]])]
    return spans


def _crontab_fields(params: Mapping[str, Any]) -> list[str]:
    """Seven fields in the order and terms cron-descriptor reads: second ... day_of_week, year,
    weekdays as crontab numbers (Sunday 0, or 7 closing a range such as ``fri-sun``)."""
    f = _effective(params)
    day, dow = f["day"], f["day_of_week"]
    if dow != "*":
        if not _WEEKDAY_NAMES.fullmatch(dow):
            raise ValueError(f"day_of_week {dow!r}")
        dow = ",".join(_weekday_numbers(item) for item in dow.split(","))
    if day == "last":
        day = "L"
    elif nth := _NTH_WEEKDAY.fullmatch(day):
        if dow != "*":
            raise ValueError(f"day {day!r} with day_of_week {dow!r}")
        number = _weekday_numbers(nth["day"])
        day, dow = "?", f"{number}L" if nth["nth"] == "last" else f"{number}#{nth['nth'][0]}"
    elif not re.fullmatch(r"[0-9*,/-]+", day):
        raise ValueError(f"day {day!r}")
    return [f["second"], f["minute"], f["hour"], day, f["month"], dow, f["year"]]


def _weekday_numbers(item: str) -> str:
    ends = item.split("-")
    numbers = [(_DAYS.index(end) + 1) % 7 for end in ends]  # ValueError for a name not in _DAYS
    if len(numbers) == 2 and numbers[1] == 0:
        numbers[1] = 7
    return "-".join(str(n) for n in numbers)


def _described(params: Mapping[str, Any], en: bool) -> str:
    """cron-descriptor's sentence, in our words for days and months; raises ValueError (or one of
    its errors) when it cannot read the schedule."""
    options = Options(locale_code="en_US" if en else "zh_CN", use_24hour_time_format=True)
    alternatives = day_alternatives(params)
    either = len(alternatives) > 1
    descriptor = _Descriptor(" ".join(_crontab_fields(params if either else alternatives[0])), options)
    messages = _MESSAGES_EN if en else _MESSAGES_ZH
    if either:  # cron-descriptor's own "or on" then
        messages = {key: text for key, text in messages.items() if key != _EITHER_DAY}
    descriptor.messages = messages
    text = descriptor.get_description()
    # Its names come from the process locale (calendar, strftime): map them to ours.
    days = _DAYS_EN if en else _DAYS_ZH
    names = {calendar.day_name[i]: days[_DAYS[i]] for i in range(7)}
    months = _MONTHS_EN if en else _MONTHS_ZH
    names.update({date(2000, n, 1).strftime("%B"): months[n - 1] for n in range(1, 13)})
    pattern = "|".join(rf"(?<![A-Za-z]){re.escape(name)}(?![A-Za-z])" for name in names)
    text = re.sub(pattern, lambda match: names[match[0]], text)
    if en:
        return text
    text = text.replace(", ", "，").replace(",", "，").replace("，和", "和")
    text = _YEAR.sub(r"\1 年", text)  # only years have four digits
    text = _CJK_GAP.sub("", re.sub(" +", " ", text)).strip().replace("从在", "从")
    return text + ("执行" if re.match(_CJK, text[-1:]) else " 执行")


class _Descriptor(ExpressionDescriptor):
    """cron-descriptor with some of its messages replaced (``messages``)."""

    messages: Mapping[str, str] = {}

    def translate(self, message: str) -> str:
        if message in self.messages:
            return self.messages[message]
        translated: str = super().translate(message)
        return translated


def _cron_fallback(params: Mapping[str, Any], en: bool) -> str:
    try:
        return _described(params, en)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, FormatError, MissingFieldError):
        pass  # not a schedule cron-descriptor reads: show the expression
    expression = params.get("expression") if isinstance(params, Mapping) else None
    if not expression:
        try:
            f = _effective(params)
            names = ("second", "minute", "hour", "day", "month", "day_of_week")
            expression = " ".join(f[name] for name in names)
            if f["year"] != "*":
                expression += f" {f['year']}"
        except (TypeError, AttributeError):
            expression = "?"
    return f"Cron: {expression}" if en else f"按 cron 表达式 {expression} 执行"


def _join_en(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]
