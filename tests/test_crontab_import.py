"""``whalefall jobs import --crontab``: a crontab read as cron reads it, made into shell jobs."""

from __future__ import annotations

import logging
import os
import subprocess
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from click.testing import CliRunner
from sqlalchemy import select

from whalefall.cli import cli
from whalefall.domain import crontab
from whalefall.models import Job
from whalefall.runtime import Runtime
from whalefall.services import jobs as job_service

SAMPLE = """\
# The DBA team's crontab
MAILTO=dba@example.com
SHELL=/bin/bash
PATH=/usr/local/bin:/usr/bin:/bin
BACKUP_DIR="/var/backups/db"

# Full dump of orders
# keeps seven days
30 2 * * * pg_dump -Fc orders > $BACKUP_DIR/orders.dump
@daily /usr/local/bin/rotate-logs.sh --keep 7
@hourly echo tick
0 9 * * 0,7 echo sunday
@reboot /usr/local/bin/start-agent
0 0 1 * * mail -s report dba@example.com%Hello,%100\\% done
*/5 * * * * echo tick
61 * * * * echo bad minute
this is not a crontab line
WHALEFALL_SECRET_KEY=stolen
@weekly
@fortnightly echo x
"""
SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Wednesday: the next Sunday is 2027-01-10.
NOW = datetime(2027, 1, 6, 12, 0, 30, tzinfo=SHANGHAI)


def by_line(table):
    return {entry.line: entry for entry in table.entries}


def problems(table):
    return {problem.line: problem.key for problem in table.problems}


# --- reading ---------------------------------------------------------------------------


def test_schedules_are_kept_and_nicknames_translated():
    entries = by_line(crontab.parse(SAMPLE))
    assert entries[9].expression == "30 2 * * *" and entries[9].schedule == "30 2 * * *"
    assert entries[10].expression == "0 0 * * *" and entries[10].schedule == "@daily"
    assert entries[11].expression == "0 * * * *"
    assert entries[12].expression == "0 9 * * 0,7"
    expected = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *"}
    expected |= {"@weekly": "0 0 * * 0", "@midnight": "0 0 * * *"}
    for nickname, fields in expected.items():
        [entry] = crontab.parse(f"{nickname} true\n").entries
        assert entry.expression == fields, nickname


def test_lines_that_cannot_be_translated_are_listed_with_their_line_and_reason():
    table = crontab.parse(SAMPLE)
    assert problems(table) == {
        13: "crontab_reboot",
        17: "crontab_not_a_job_line",
        18: "crontab_env_reserved",
        19: "crontab_no_command",
        20: "crontab_unknown_nickname",
    }
    assert 13 not in by_line(table)


def test_environment_lines_apply_to_the_lines_below_them_with_quotes_stripped():
    table = crontab.parse("A=1\n* * * * * one\nB = 'two words'\nA=3\n* * * * * two\n")
    first, second = table.entries
    assert first.env == {"A": "1"}
    assert second.env == {"A": "3", "B": "two words"}


def test_mailto_is_noted_not_set_and_shell_path_home_and_cron_tz_are_honoured():
    table = crontab.parse(SAMPLE)
    assert [(n.line, n.key) for n in table.notes] == [(2, "crontab_note_mailto")]
    entry = by_line(table)[9]
    assert entry.env == {
        "SHELL": "/bin/bash",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "BACKUP_DIR": "/var/backups/db",
    }
    fields = entry.job_fields()
    assert fields["command"] == ["/bin/bash", "-c", "pg_dump -Fc orders > $BACKUP_DIR/orders.dump"]
    assert "script" not in fields and "MAILTO" not in fields["env"]

    [tz_entry] = crontab.parse("CRON_TZ=UTC\nHOME=/srv/app\n0 1 * * * ./run\n").entries
    fields = tz_entry.job_fields()
    assert fields["timezone"] == "UTC" and fields["working_dir"] == "/srv/app"
    assert fields["script"] == "./run" and fields["env"] == {"HOME": "/srv/app"}


def test_comments_directly_above_a_line_are_its_description():
    entries = by_line(crontab.parse(SAMPLE))
    assert entries[9].description == "Full dump of orders\nkeeps seven days"
    assert entries[10].description == ""  # the comments belonged to the line above
    separated = crontab.parse("# far away\n\n* * * * * x\n# near\nA=1\n* * * * * y\n").entries
    assert [e.description for e in separated] == ["", ""]


@pytest.mark.parametrize(
    ("command", "script", "stdin"),
    [
        ("echo hi", "echo hi", None),
        ("date +\\%Y-\\%m-\\%d", "date +%Y-%m-%d", None),
        ("cat%a%b", "cat", "a\nb"),
        ("mail x%Hello,%100\\% done", "mail x", "Hello,\n100% done"),
        ("wc -l%", "wc -l", ""),
    ],
)
def test_percent_signs_follow_cron(command, script, stdin):
    assert crontab.split_percent(command) == (script, stdin)


def test_the_input_after_a_percent_reaches_the_command_on_stdin_as_cron_feeds_it():
    [entry] = crontab.parse("* * * * * tr a-z A-Z; echo done%first%second \\% line\n").entries
    assert entry.command == "tr a-z A-Z; echo done"
    out = subprocess.run(["/bin/sh", "-c", entry.script], capture_output=True, text=True, check=True)
    assert out.stdout == "FIRST\nSECOND % LINE\ndone\n"


def test_a_system_crontab_is_detected_and_its_user_column_dropped_with_a_note():
    text = "SHELL=/bin/sh\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n@daily postgres vacuumdb -a\n"
    table = crontab.parse(text, known_user=lambda name: name in ("root", "postgres"))
    assert table.system
    assert [(e.user, e.command) for e in table.entries] == [
        ("root", "cd / && run-parts --report /etc/cron.hourly"),
        ("postgres", "vacuumdb -a"),
    ]
    assert table.notes[0].key == "crontab_note_system" and table.notes[0].params["users"] == "root, postgres"
    user_table = crontab.parse(text, known_user=lambda name: False)
    assert not user_table.system and user_table.entries[0].command.startswith("root cd /")
    forced = crontab.parse("0 1 * * * root\n", system=True)
    assert problems(forced) == {1: "crontab_no_user_or_command"}


def test_ids_come_from_the_command_unique_and_at_most_64_characters():
    table = crontab.parse(SAMPLE)
    ids = crontab.make_ids(table.entries)
    assert ids == [
        "pg_dump-orders",
        "rotate-logs.sh-7",
        "echo-tick",
        "echo-sunday",
        "mail-report",
        "echo-tick-2",
        "echo-bad-minute",
    ]
    long = crontab.parse("* * * * * " + "x" * 100 + "\n* * * * * " + "x" * 100 + "\n").entries
    prefixed = crontab.make_ids(long, prefix="p" * 40 + ".")
    assert [len(i) for i in prefixed] == [64, 64] and prefixed[0] != prefixed[1]
    assert crontab.slug("cd /srv && ./sync.sh --all") == "sync.sh"
    assert crontab.slug("LANG=C /opt/x/bin/report.py > /dev/null 2>&1") == "report.py"


# --- importing -------------------------------------------------------------------------


@pytest.fixture
def rt(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.upper().startswith("WHALEFALL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("WHALEFALL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    assert CliRunner().invoke(cli, ["db", "upgrade"]).exit_code == 0
    runtime = Runtime.from_env()
    yield runtime
    runtime.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def jobs_of(runtime, category="crontab"):
    with runtime.db.read() as session:
        return {j.id: j for j in session.scalars(select(Job).where(Job.category == category))}


def import_crontab(tmp_path, text, *args):
    path = tmp_path / "crontab.txt"
    path.write_text(text, encoding="utf-8")
    return CliRunner().invoke(cli, ["jobs", "import", "--crontab", str(path), *args])


def test_a_dry_run_shows_the_jobs_and_the_lines_left_out_and_changes_nothing(rt, tmp_path):
    with time_machine.travel(NOW, tick=False):
        result = import_crontab(tmp_path, SAMPLE, "--dry-run")
    assert result.exit_code == 1, result.output  # some lines are not translated
    assert "6 job(s) would be created from" in result.stdout
    assert "echo-sunday" in result.stdout and "0 9 * * 0,7" in result.stdout
    assert "2027-01-10 09:00:00" in result.stdout
    assert "pg_dump -Fc orders > $BACKUP_DIR/orders.dump" in result.stdout
    assert "dry run: nothing was changed" in result.stdout
    assert "line 13: @reboot runs when the machine starts" in result.stderr
    assert "line 16: " in result.stderr and "minute" in result.stderr
    assert "line 2: MAILTO=dba@example.com is not used" in result.stderr
    assert jobs_of(rt) == {}


def test_an_import_with_untranslatable_lines_creates_nothing_and_says_why(rt, tmp_path):
    result = import_crontab(tmp_path, SAMPLE)
    assert result.exit_code == 1
    assert "nothing was created" in result.stderr and "line 20: @fortnightly" in result.stderr
    assert jobs_of(rt) == {}


def test_an_import_creates_shell_jobs_that_fire_when_cron_would(rt, tmp_path):
    with time_machine.travel(NOW, tick=False):
        result = import_crontab(tmp_path, SAMPLE, "--skip-untranslatable", "--prefix", "cron.")
    assert result.exit_code == 0, result.output
    assert "6 job(s) created from" in result.stdout
    jobs = jobs_of(rt)
    assert sorted(jobs) == sorted(
        f"cron.{i}"
        for i in (
            "pg_dump-orders",
            "rotate-logs.sh-7",
            "echo-tick",
            "echo-sunday",
            "mail-report",
            "echo-tick-2",
        )
    )
    tz = "Asia/Shanghai"
    next_runs = {i: job_service.to_dict(rt, j)["next_run_time"] for i, j in jobs.items()}
    assert next_runs["cron.pg_dump-orders"] == "2027-01-07 02:30:00"
    assert next_runs["cron.rotate-logs.sh-7"] == "2027-01-07 00:00:00"
    assert next_runs["cron.echo-tick"] == "2027-01-06 13:00:00"
    assert next_runs["cron.echo-sunday"] == "2027-01-10 09:00:00"
    assert next_runs["cron.mail-report"] == "2027-02-01 00:00:00"
    assert next_runs["cron.echo-tick-2"] == "2027-01-06 12:05:00"
    dump = job_service.to_dict(rt, jobs["cron.pg_dump-orders"], with_code=True)
    assert dump["kind"] == "shell" and dump["timezone"] == tz
    assert dump["command"] == ["/bin/bash", "-c", "pg_dump -Fc orders > $BACKUP_DIR/orders.dump"]
    assert (
        dump["env"]["BACKUP_DIR"] == "/var/backups/db"
        and dump["description"] == "Full dump of orders\nkeeps seven days"
    )
    assert dump["name"] == "pg_dump -Fc orders > $BACKUP_DIR/orders.dump" and dump["created_by"] == "cli"


def test_an_id_already_in_use_is_reported_and_the_existing_job_left_alone(rt, tmp_path):
    assert import_crontab(tmp_path, "@hourly echo tick\n").exit_code == 0
    again = import_crontab(tmp_path, "@daily echo tick\n@daily echo tock\n")
    assert again.exit_code == 1 and "line 1: " in again.stderr and "echo-tick" in again.stderr
    jobs = jobs_of(rt)
    assert sorted(jobs) == ["echo-tick"] and jobs["echo-tick"].trigger_params["minute"] == "0"
    assert jobs["echo-tick"].trigger_params["hour"] == "*"


def test_the_output_speaks_the_users_language(rt, tmp_path, monkeypatch):
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    result = import_crontab(tmp_path, "@reboot x\n@hourly echo tick\n", "--dry-run")
    assert "将从" in result.stdout and "第 1 行：@reboot 在机器启动时运行" in result.stderr
    assert "试运行：未做任何修改" in result.stdout


def test_a_bad_prefix_is_refused(rt, tmp_path):
    result = import_crontab(tmp_path, "@hourly echo tick\n", "--prefix", "bad prefix/")
    assert result.exit_code == 2 and "--prefix" in result.output
