"""The scheduler fires a 5-field crontab when cron would: its stored schedule is an OR of the days."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import time_machine
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

from tests import test_scheduler as base
from whalefall.domain import cronrules
from whalefall.models import Job

start_scheduler = base.start_scheduler
make_job, stored_next_run_time = base.make_job, base.stored_next_run_time

# Friday 2026-11-27 10:00 in Shanghai; 2026-11-30 is a Monday, 2027-02-01 the first 1st that is one.
FRIDAY_MORNING = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 30, 2, 0, tzinfo=SHANGHAI)
CRONTAB = {"trigger_type": "cron", "cron_expression": "0 2 1 * 1", "timezone": "Asia/Shanghai"}


def next_run_time_of(runtime, job_id):
    with runtime.db.read() as session:
        return session.get(Job, job_id).next_run_time


def test_crontab_on_the_1st_and_mondays_is_stored_as_an_or_and_fires_on_monday(runtime, start_scheduler):
    with time_machine.travel(FRIDAY_MORNING, tick=True):
        first = start_scheduler()
        make_job(runtime, "either", **CRONTAB)
        first.step()
        assert isinstance(first.engine.aps.get_job("either").trigger, OrTrigger)
        assert stored_next_run_time(first, "either") == MONDAY
        first.stop(wait_seconds=1)
        # Restored from the job store at the next start, unchanged.
        second = start_scheduler()
        assert isinstance(second.engine.aps.get_job("either").trigger, OrTrigger)
        assert stored_next_run_time(second, "either") == MONDAY
    assert next_run_time_of(runtime, "either") == MONDAY


def test_a_crontab_stored_with_the_old_and_of_both_days_is_rebuilt_at_the_next_start(
    runtime, start_scheduler, monkeypatch
):
    with time_machine.travel(FRIDAY_MORNING, tick=True):
        # What the version before the OR rule stored: both days must match, so 2027-02-01.
        monkeypatch.setattr(cronrules, "either_day", lambda params: False)
        old = start_scheduler()
        make_job(runtime, "either", **CRONTAB)
        old.step()
        assert isinstance(old.engine.aps.get_job("either").trigger, CronTrigger)
        assert stored_next_run_time(old, "either") == datetime(2027, 2, 1, 2, 0, tzinfo=SHANGHAI)
        old.stop(wait_seconds=1)
        monkeypatch.undo()

        new = start_scheduler()
        assert isinstance(new.engine.aps.get_job("either").trigger, OrTrigger)
        assert stored_next_run_time(new, "either") == MONDAY
    assert next_run_time_of(runtime, "either") == MONDAY
