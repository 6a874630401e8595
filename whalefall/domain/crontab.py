"""A crontab read as cron reads it, as the shell jobs it becomes (``whalefall jobs import --crontab``).

What is translated, line by line (crontab(5)):

- ``m h dom mon dow command``: the five fields are kept as the job's ``cron_expression`` (the
  trigger parser gives them cron's meaning: Sunday is 0 or 7, names work);
  ``@yearly @annually @monthly @weekly @daily @midnight @hourly`` become their five fields;
  ``@reboot`` has no equivalent (a scheduler is not a boot) and is reported, not translated.
- The command is a ``/bin/sh -c`` script, as cron runs it. An unescaped ``%`` ends the command:
  the rest is the command's standard input, each further ``%`` a newline and a newline at the
  end, as cron feeds it; the script pipes it in (``printf '%s' '…' | { command; }``).
  ``\\%`` is a literal ``%``.
- ``NAME=value`` lines (spaces around ``=`` allowed, one pair of matching quotes stripped) set
  the environment of the lines below them, as cron does. ``SHELL`` runs the command with that
  shell (``SHELL -c``); ``HOME`` is also the working directory (cron starts commands there);
  ``CRON_TZ`` is the timezone of the schedules below it; ``MAILTO``/``MAILFROM`` have no
  equivalent (use alerts) and are noted. Names starting with ``WHALEFALL_`` are reserved.
- Comment lines directly above a job line (no blank or environment line between) are its
  description.
- A system crontab (``/etc/crontab``, ``/etc/cron.d/*``: a user column after the schedule) is
  read when asked or detected; the user column is dropped with a note, since a job runs as the
  sandbox's unprivileged user, never as the user named.

Nothing is dropped silently: every line that is not translated is a :class:`Problem` naming its
line number and why, and every approximation a :class:`Note`. Pure: no I/O, no database.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from whalefall.domain.cronrules import MACROS

NICKNAMES = MACROS  # cron's @yearly … @hourly, as the trigger parser reads them
DEFAULT_SHELL = "/bin/sh"
MAX_ID = 64
MAX_NAME = 200
_ENV_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_ID_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_WORD = re.compile(r"^[A-Za-z0-9_.]+$")
_OPERATORS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>>", "2>&1", "1>"}
_MINUTE = re.compile(r"^[0-9*]")  # what a minute field starts with; a word here is not a job line
_USER = re.compile(r"^[a-z_][a-z0-9_-]*\$?$")


@dataclass(frozen=True)
class Problem:
    """A line that is not translated: ``key`` of the catalogue's ``cli`` words with ``params``."""

    line: int
    key: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Note:
    """A line translated (or read) with an approximation the user should know about."""

    line: int
    key: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Entry:
    """One job line, translated."""

    line: int
    schedule: str  # as written: the five fields or the @nickname
    expression: str  # the five fields
    command: str  # the command as written (before any %)
    script: str  # what the shell runs
    shell: str  # the shell that runs it (SHELL)
    env: dict[str, str]
    working_dir: str | None
    timezone: str | None
    description: str
    user: str | None = None  # a system crontab's user column

    def job_fields(self) -> dict[str, Any]:
        """The shell job's fields of a job request (without id, name, category)."""
        data: dict[str, Any] = {"trigger_type": "cron", "cron_expression": self.expression}
        if self.shell == DEFAULT_SHELL:
            data["script"] = self.script
        else:
            data["command"] = [self.shell, "-c", self.script]
        if self.env:
            data["env"] = dict(self.env)
        if self.working_dir:
            data["working_dir"] = self.working_dir
        if self.timezone:
            data["timezone"] = self.timezone
        if self.description:
            data["description"] = self.description
        return data


@dataclass
class Crontab:
    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    system: bool = False


def parse(
    text: str,
    *,
    system: bool | None = None,
    known_user: Callable[[str], bool] = lambda name: False,
) -> Crontab:
    """Read a crontab. ``system`` True/False says whether lines carry a user column; None
    detects it (every job line's sixth word is a user for which ``known_user`` is true)."""
    lines = text.splitlines()
    if system is None:
        system = _looks_like_system(lines, known_user)
    result = Crontab(system=system)
    env: dict[str, str] = {}
    shell = DEFAULT_SHELL
    home: str | None = None
    timezone: str | None = None
    comments: list[str] = []
    users: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            comments = []
            continue
        if line.startswith("#"):
            comments.append(line[1:].strip())
            continue
        setting = _ENV_LINE.match(line)
        if setting:
            comments = []
            name, value = setting.group(1), _unquote(setting.group(2).strip())
            if name in ("MAILTO", "MAILFROM"):
                result.notes.append(Note(number, "crontab_note_mailto", {"name": name, "value": value}))
            elif name == "CRON_TZ":
                timezone = value or None
            elif name.upper().startswith("WHALEFALL_"):
                result.problems.append(Problem(number, "crontab_env_reserved", {"name": name}))
            else:
                env[name] = value
                if name == "SHELL":
                    shell = value or DEFAULT_SHELL
                elif name == "HOME":
                    home = value or None
            continue
        entry = _job_line(number, line, system, result)
        description = "\n".join(comments).strip()
        comments = []
        if entry is None:
            continue
        schedule, expression, user, command = entry
        if user is not None:
            users.setdefault(user, number)
        script_part, stdin = split_percent(command)
        if not script_part.strip():
            result.problems.append(Problem(number, "crontab_no_command"))
            continue
        result.entries.append(
            Entry(
                line=number,
                schedule=schedule,
                expression=expression,
                command=script_part.strip(),
                script=_with_stdin(script_part.strip(), stdin),
                shell=shell,
                env=dict(env),
                working_dir=home if home and home.startswith("/") else None,
                timezone=timezone,
                description=description,
                user=user,
            )
        )
    if system and users:
        names = ", ".join(users)
        result.notes.insert(0, Note(min(users.values()), "crontab_note_system", {"users": names}))
    return result


def _looks_like_system(lines: list[str], known_user: Callable[[str], bool]) -> bool:
    seen = False
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#") or _ENV_LINE.match(line):
            continue
        words = line.split()
        at = 1 if words[0].startswith("@") else 5
        if len(words) <= at + 1 or not _USER.match(words[at]) or not known_user(words[at]):
            return False
        seen = True
    return seen


def _job_line(
    number: int, line: str, system: bool, result: Crontab
) -> tuple[str, str, str | None, str] | None:
    """(schedule as written, five fields, user or None, command) or None with a problem recorded."""
    if line.startswith("@"):
        parts = line.split(None, 1)
        nickname = parts[0].lower()
        if nickname == "@reboot":
            result.problems.append(Problem(number, "crontab_reboot"))
            return None
        if nickname not in NICKNAMES:
            result.problems.append(Problem(number, "crontab_unknown_nickname", {"nickname": parts[0]}))
            return None
        schedule, expression, rest = parts[0], NICKNAMES[nickname], parts[1] if len(parts) > 1 else ""
    else:
        parts = line.split(None, 5)
        if len(parts) < 6 or not _MINUTE.match(parts[0]):
            result.problems.append(Problem(number, "crontab_not_a_job_line"))
            return None
        expression = " ".join(parts[:5])
        schedule, rest = expression, parts[5]
    user = None
    if system:
        words = rest.split(None, 1)
        if len(words) < 2:
            result.problems.append(Problem(number, "crontab_no_user_or_command"))
            return None
        user, rest = words
    if not rest.strip():
        result.problems.append(Problem(number, "crontab_no_command"))
        return None
    return schedule, expression, user, rest


def split_percent(command: str) -> tuple[str, str | None]:
    """``(command, stdin)``: cron's ``%`` rules. ``\\%`` is a literal ``%`` (the backslash goes);
    the first unescaped ``%`` ends the command, each further one is a newline of the input."""
    out: list[str] = []
    stdin: list[str] | None = None
    i = 0
    while i < len(command):
        ch = command[i]
        target = out if stdin is None else stdin
        if ch == "\\" and i + 1 < len(command) and command[i + 1] == "%":
            target.append("%")
            i += 2
            continue
        if ch == "%":
            if stdin is None:
                stdin = []
            else:
                stdin.append("\n")
        else:
            target.append(ch)
        i += 1
    return "".join(out), None if stdin is None else "".join(stdin)


def _with_stdin(command: str, stdin: str | None) -> str:
    if stdin is None:
        return command
    data = stdin if stdin.endswith("\n") else stdin + "\n"  # cron ends the input with a newline
    return f"printf '%s' {shlex.quote(data)} | {{\n{command}\n}}"


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


# --- ids and names ---------------------------------------------------------------------


def slug(command: str) -> str:
    """A short id-safe word for a command: its program and up to two plain arguments."""
    try:
        words = shlex.split(command, comments=False, posix=True)
    except ValueError:
        words = command.split()
    # Skip leading assignments and a leading "cd DIR &&" / "cd DIR;".
    while words and ("=" in words[0] and _ENV_LINE.match(words[0])):
        words = words[1:]
    if words and words[0] == "cd":
        for i, word in enumerate(words):
            if word in ("&&", ";") or word.endswith(";"):
                words = words[i + 1 :]
                break
    picked: list[str] = []
    for word in words:
        if word in _OPERATORS or word[:1] in "|;&<>" or word[:2] in ("2>", "1>"):
            break
        if not picked:
            picked.append(word.rstrip("/").rsplit("/", 1)[-1])
        elif word.startswith("-"):
            continue
        elif _WORD.match(word):
            picked.append(word)
        if len(picked) == 3:
            break
    text = _ID_CHARS.sub("-", "-".join(picked).lower()).strip("-._")
    return text[:48].strip("-._") or "job"


def make_ids(entries: list[Entry], prefix: str = "") -> list[str]:
    """An id per entry: ``prefix + slug``, then ``-2``, ``-3`` … until unique (≤ 64 characters)."""
    ids: list[str] = []
    used: set[str] = set()
    for entry in entries:
        base = prefix + slug(entry.command)
        counter = 1
        while True:
            suffix = "" if counter == 1 else f"-{counter}"
            candidate = base[: MAX_ID - len(suffix)] + suffix
            if candidate not in used:
                break
            counter += 1
        used.add(candidate)
        ids.append(candidate)
    return ids


def job_name(entry: Entry) -> str:
    name = " ".join(entry.command.split())
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"
