"""The APScheduler engine, kept in step with our ``jobs`` table.

APScheduler decides *when*; everything else is ours. Its job store is in memory, rebuilt from
``jobs`` whenever this node starts leading: per job the generic ``runner:fire`` reference,
``[job_id]``, a signature of the trigger it was built from, and the next run time — the one
``jobs.next_run_time`` holds, which only a successful (fenced) claim advances. Nothing is
persisted that only APScheduler knows, so a stale leader's engine can corrupt nothing: its
claims fail at the fence and its memory dies with it. Due times go to :meth:`Engine.fire`,
which claims each scheduled time in the runs table before anything executes; a time whose
claim the database refused is fired again (:meth:`Engine.rewind`) once it answers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.job import Job as APJob
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select

from whalefall import clock
from whalefall.domain import triggers
from whalefall.errors import InvalidTrigger
from whalefall.i18n import reasons
from whalefall.models import Job, JobKind, JobState, Run, RunStatus, TriggerSource
from whalefall.runtime import Runtime
from whalefall.scheduler.runner import Runner
from whalefall.services import claims
from whalefall.services import jobs as job_service
from whalefall.services import runs as run_service

log = logging.getLogger(__name__)
FIRE_REF = "whalefall.scheduler.runner:fire"
# What scheduling reads of a job (a row of these stands in for the job in _reconcile).
SCHEDULE_COLUMNS = (
    Job.id,
    Job.state,
    Job.kind,
    Job.func_name,
    Job.trigger_type,
    Job.trigger_params,
    Job.timezone,
    Job.misfire_grace_time,
    Job.coalesce,
    Job.broken_reason,
    Job.next_run_time,
)
MAX_CATCH_UP_FIRES = 1000  # bound on fires enumerated inside one grace window


class GuardedScheduler(BackgroundScheduler):
    """Processes due jobs only while running.

    The stock loop calls ``_process_jobs`` once more after ``shutdown`` wakes it
    (it checks only for *paused*), which advances due jobs' next run times
    while their executor is already closed: those fires are lost. Here a
    scheduler that is not running leaves the store alone, so the next start
    sees them as missed and catches up.
    """

    engine: Engine | None = None

    def _process_jobs(self) -> float | None:
        if self.state != STATE_RUNNING:
            return None
        began = time.monotonic()
        wait_seconds: float | None = super()._process_jobs()  # untyped base: seconds until the next due job
        if self.engine is not None:
            self.engine.flush()  # claim, in one transaction, every time this wake-up found due
        if wait_seconds is None:
            return None
        # The base measures the wait from when it looked at the clock, before the claims: without
        # this the next wake-up came that much late (a few ms, every time).
        return max(0.0, wait_seconds - (time.monotonic() - began))


class RunnerExecutor(BaseExecutor):
    """Passes due times to the engine, which gathers them for one claim per wake-up.
    APScheduler's own instance counting is bypassed: max_instances is enforced against the runs
    table, for scheduled and manual runs alike."""

    def __init__(self, engine: Engine):
        super().__init__()
        self._engine = engine

    def submit_job(self, job: APJob, run_times: list[datetime]) -> None:
        self._engine.fire(job, run_times)

    def _do_submit_job(self, job: APJob, run_times: list[datetime]) -> None:
        raise NotImplementedError  # pragma: no cover - submit_job is overridden


def _differs(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is not b
    return abs((a - b).total_seconds()) >= 1e-3


def signature(job: Any, timezone: str) -> str:
    """What the stored schedule was built from; a change means reschedule."""
    data = [job.trigger_type, job.trigger_params, timezone, job.misfire_grace_time, job.coalesce]
    # A crontab firing on either day field was stored as an AND schedule before: rebuild it once.
    # Added only when set, so that every other job's signature stays what it was.
    if reading := triggers.reading(job.trigger_type, job.trigger_params or {}):
        data.append(reading)
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Engine:
    def __init__(self, runtime: Runtime, runner: Runner, node_id: str):
        self.runtime = runtime
        self.runner = runner
        self.node_id = node_id
        self.aps: GuardedScheduler | None = None
        self._lock = threading.RLock()
        # Jobs whose claim the database refused: their time is fired again by rewind().
        self._unclaimed: set[str] = set()
        self.claim_problem: str | None = None  # the last refused claim, until one succeeds
        self._due: list[claims.ClaimRequest] = []  # gathered by fire(), claimed by flush()

    # -- life ------------------------------------------------------------------

    def start(self) -> None:
        """Start paused, bring the store in line with ``jobs``, catch up, then resume."""
        with self._lock:
            self.aps = GuardedScheduler(
                jobstores={"default": MemoryJobStore()},
                executors={"default": RunnerExecutor(self)},
                job_defaults={"coalesce": True, "max_instances": 1_000_000, "misfire_grace_time": None},
                timezone=self.runtime.settings.timezone,
            )
            self.aps.engine = self
            self.aps.start(paused=True)
            self.reconcile_all()
            self.catch_up()
            self.aps.resume()
            log.info("scheduler engine started")

    def pause(self) -> None:
        """Stop processing due jobs. Jobs due from now keep their stored next run time."""
        with self._lock:
            if self.aps is not None and self.aps.running:
                self.aps.pause()

    def stop(self) -> None:
        with self._lock:
            if self.aps is not None and self.aps.running:
                self.aps.pause()
                self.aps.shutdown(wait=False)
            self.aps = None

    def alive(self) -> bool:
        aps = self.aps
        thread = getattr(aps, "_thread", None)
        return bool(aps is not None and aps.running and thread is not None and thread.is_alive())

    def wakeup(self) -> None:
        if self.aps is not None and self.aps.running:
            self.aps.wakeup()

    # -- keeping the store in step --------------------------------------------

    def reconcile_all(self) -> None:
        """Bring the whole store in line with ``jobs``: one read of all jobs, one batch of next-run writes."""
        assert self.aps is not None
        stored = {j.id: j for j in self.aps.get_jobs()}
        with self.runtime.db.read() as session:
            # Plain rows of what scheduling reads (not ORM objects with code and params): ten
            # thousand jobs load in a fraction of the time and memory.
            jobs: list[Any] = list(session.execute(select(*SCHEDULE_COLUMNS)))
            fired = set(
                session.scalars(
                    select(Run.job_id)
                    .join(Job, Job.id == Run.job_id)
                    .where(
                        Job.trigger_type == triggers.TriggerType.DATE.value, Run.scheduled_time.isnot(None)
                    )
                    .distinct()
                )
            )
        next_times = {job.id: self._reconcile(job, stored.get(job.id), job.id in fired) for job in jobs}
        job_service.record_next_run_times(
            self.runtime,
            {job.id: next_times[job.id] for job in jobs if _differs(job.next_run_time, next_times[job.id])},
        )
        for job_id in set(stored) - {job.id for job in jobs}:
            self._remove(job_id)

    def apply(self, job_id: str) -> None:
        """Make the store's entry for one job match its row (added, changed, paused, deleted)."""
        assert self.aps is not None
        stored = self.aps.get_job(job_id)
        with self.runtime.db.read() as session:
            job = session.get(Job, job_id)
            fired = (
                job is not None
                and job.trigger_type == triggers.TriggerType.DATE
                and session.scalar(
                    select(Run.id).where(Run.job_id == job_id, Run.scheduled_time.isnot(None)).limit(1)
                )
                is not None
            )
        if job is None:
            if stored:
                self._remove(job_id)
            return
        next_run_time = self._reconcile(job, stored, fired)
        if _differs(job.next_run_time, next_run_time):
            job_service.record_next_run_times(self.runtime, {job_id: next_run_time})

    def _reconcile(self, job: Any, stored: APJob | None, fired: bool) -> datetime | None:
        """Add, replace or remove ``job``'s stored schedule; return its next run time (None: not scheduled)."""
        if job.state != JobState.ACTIVE or job.trigger_type == triggers.TriggerType.DEPENDENCY or fired:
            if stored:
                self._remove(job.id)
            return None
        if job.kind == JobKind.BUILTIN and job.func_name not in self.runtime.tasks:
            # Kept and flagged, never deleted: the user sees why it does not run and can fix it.
            job_service.mark_broken(self.runtime, job.id, f"unknown built-in function {job.func_name!r}")
            if stored:
                self._remove(job.id)
            return None
        tz = job_service.timezone_of(self.runtime, job)
        sig = signature(job, tz)
        if stored and stored.kwargs.get("sig") == sig:
            unchanged: datetime | None = stored.next_run_time
            return unchanged
        resume_at = job.next_run_time if stored is None else None
        try:
            trigger = triggers.build_trigger(job_service.spec_of(job), tz)
        except InvalidTrigger as exc:
            job_service.mark_broken(self.runtime, job.id, f"invalid trigger: {exc}")
            if stored:
                self._remove(job.id)
            return None
        if job.broken_reason:
            job_service.mark_broken(self.runtime, job.id, None)
        assert self.aps is not None  # reconciling happens only while started
        # Starting to lead, a job keeps the time its last claim left in ``jobs`` when that time
        # is due (the catch-up takes it from there) — the times after it were never claimed.
        # A time still to come is recomputed: the trigger may mean something else by now.
        if trigger is None:  # pragma: no cover - only dependency jobs have none, and they are not scheduled
            return None
        if resume_at is not None and resume_at <= clock.now():
            next_run_time: datetime | None = resume_at
        else:
            next_run_time = trigger.get_next_fire_time(None, clock.now())
        self._store(job, trigger, sig, next_run_time, replace=stored is not None)
        return next_run_time

    def _store(
        self, job: Any, trigger: Any, sig: str, next_run_time: datetime | None, *, replace: bool
    ) -> None:
        """Put ``job``'s schedule in APScheduler's memory store.

        Built from APScheduler's own pickled form (``Job.__setstate__``, version 1) rather than
        through ``add_job``, which validates the callable, fills defaults, takes the store lock and
        sends an event for every job — at ten thousand jobs most of a leader's start. Every job
        here is the same generic reference (``runner:fire``) with the job's id and the signature.
        """
        assert self.aps is not None
        apjob = APJob.__new__(APJob)
        apjob.__setstate__(
            {
                "version": 1,
                "id": job.id,
                "func": FIRE_REF,
                "trigger": trigger,
                "executor": "default",
                "args": (job.id,),
                "kwargs": {"sig": sig},
                "name": job.id,
                "misfire_grace_time": job.misfire_grace_time,
                "coalesce": job.coalesce,
                "max_instances": 1_000_000,
                "next_run_time": next_run_time,
            }
        )
        apjob._scheduler = self.aps
        apjob._jobstore_alias = "default"
        store = self.aps._lookup_jobstore("default")
        with self.aps._jobstores_lock:
            if replace:
                try:
                    store.remove_job(job.id)
                except JobLookupError:
                    pass
            store.add_job(apjob)
        if self.aps.running:
            self.aps.wakeup()

    def rewind(self) -> int:
        """Fire again the times whose claim the database refused: each such job's next run time
        goes back to what ``jobs`` holds (advanced only by claims); with ``coalesce`` they become
        one run that counts them. Returns how many jobs were rewound."""
        with self._lock:
            if self.aps is None or not self._unclaimed:
                return 0
            pending = set(self._unclaimed)
            with self.runtime.db.read() as session:  # may fail again: then they stay pending
                rows = session.execute(select(Job.id, Job.next_run_time).where(Job.id.in_(pending))).all()
            truth = {job_id: when for job_id, when in rows}
            self._unclaimed -= pending
            rewound = 0
            for job_id in pending:
                apjob = self.aps.get_job(job_id)
                when = truth.get(job_id)
                if (
                    apjob is None
                    or when is None
                    or apjob.next_run_time is None
                    or when >= apjob.next_run_time
                ):
                    continue
                self.aps.modify_job(job_id, next_run_time=when)
                rewound += 1
            if rewound:
                self.aps.wakeup()
            return rewound

    def _remove(self, job_id: str) -> None:
        assert self.aps is not None
        try:
            self.aps.remove_job(job_id)
        except JobLookupError:
            pass

    # -- catching up after downtime ---------------------------------------------

    def catch_up(self) -> None:
        """Handle every stored time that passed while no scheduler ran, cheaply.

        Instead of letting APScheduler enumerate every missed fire (a per-second
        job down for a day is 86,400 trigger computations before the loop
        starts), look only inside the grace window: with coalesce one catch-up
        run, otherwise one per fire in the window; anything older than the window
        becomes one ``missed`` record. The stored next run time jumps to the
        first fire after now. Every job's times are claimed together (:meth:`flush`).
        """
        assert self.aps is not None
        now = clock.now()
        unclaimed_next: dict[str, datetime | None] = {}
        for apjob in self.aps._lookup_jobstore("default").get_due_jobs(now):
            first_missed = apjob.next_run_time
            grace = timedelta(seconds=apjob.misfire_grace_time or 0)
            window_start = max(first_missed, now - grace)
            fires: list[datetime] = []
            t = (
                first_missed
                if first_missed >= window_start
                else apjob.trigger.get_next_fire_time(None, window_start)
            )
            while t is not None and t <= now and len(fires) < MAX_CATCH_UP_FIRES:
                fires.append(t)
                t = apjob.trigger.get_next_fire_time(t, t)
            following = apjob.trigger.get_next_fire_time(None, now)
            if following is not None and following <= now:
                following = apjob.trigger.get_next_fire_time(following, now)
            self.aps.modify_job(apjob.id, next_run_time=following)
            job_id = apjob.args[0]
            if first_missed < window_start:
                # One record for every time before the grace window: the first, and how many more.
                more = count_fires(apjob.trigger, first_missed, window_start) - 1
                reason = reasons.english(
                    "missed_down_more" if more > 0 else "missed_down",
                    due=first_missed.isoformat(),
                    grace=apjob.misfire_grace_time,
                    more=more,
                )
                self._due.append(
                    claims.ClaimRequest(
                        job_id,
                        first_missed,
                        TriggerSource.CATCH_UP,
                        late_reason=reason,
                        coalesced=max(more, 0),
                        coalesced_from=(
                            apjob.trigger.get_next_fire_time(
                                first_missed, first_missed + timedelta(microseconds=1)
                            )
                            if more > 0
                            else None
                        ),
                    )
                )
            folded: list[datetime] = []
            if fires and apjob.coalesce:
                folded, fires = fires[:-1], fires[-1:]
            for i, when in enumerate(fires):
                self._due.append(
                    claims.ClaimRequest(
                        job_id,
                        when,
                        TriggerSource.CATCH_UP,
                        next_run_time=following if i == len(fires) - 1 else None,
                        coalesced=len(folded),
                        coalesced_from=folded[0] if folded else None,
                    )
                )
            if not fires:
                unclaimed_next[job_id] = following
        self.flush()
        job_service.record_next_run_times(self.runtime, unclaimed_next)

    # -- firing -----------------------------------------------------------------

    def fire(self, apjob: APJob, run_times: list[datetime]) -> None:
        """Called in APScheduler's thread for a job's due times: gather a claim for each, for
        :meth:`flush` at the end of the wake-up.

        With ``coalesce`` APScheduler passes only the last due time; the times it folded into it
        (from the job's stored next run time on) are counted onto that run, so no fire time goes
        unaccounted.
        """
        now = clock.now()
        job_id = apjob.args[0]
        grace = apjob.misfire_grace_time
        following = apjob.trigger.get_next_fire_time(run_times[-1], now)
        folded = 0
        folded_from = None
        first_due = apjob.next_run_time
        if apjob.coalesce and first_due is not None and first_due < run_times[0]:
            folded = count_fires(apjob.trigger, first_due, run_times[0])
            folded_from = first_due if folded else None
        for i, when in enumerate(run_times):
            late = (now - when).total_seconds()
            reason = None
            if grace is not None and late > grace:
                reason = reasons.english("missed_late", late=f"{late:.0f}", grace=grace)
            self._due.append(
                claims.ClaimRequest(
                    job_id,
                    when,
                    TriggerSource.SCHEDULE,
                    next_run_time=following if i == len(run_times) - 1 else None,
                    late_reason=reason,
                    coalesced=folded,
                    coalesced_from=folded_from,
                )
            )
        if len(self._due) >= claims.CLAIM_CHUNK:
            self.flush()  # a burst (thousands due at 02:00:00): the first runs start while the rest are gathered

    def flush(self) -> None:
        """Claim every gathered time in one transaction (per chunk), then hand the queued runs to
        the runner. A claim refused for a lost lease drops them all: this node no longer leads.
        Any other refusal keeps the jobs for :meth:`rewind`, which fires their times again."""
        due, self._due = self._due, []
        if not due:
            return
        try:
            claimed = claims.claim_many(self.runtime, due, node=self.node_id, epoch=self.runner.epoch)
        except claims.LeaseLost:
            log.warning("not claiming %d due time(s): this node no longer holds the lease", len(due))
            return
        except Exception as exc:
            log.exception("could not claim %d due time(s)", len(due))
            self.claim_problem = f"claiming scheduled runs failed: {exc.__class__.__name__}: {exc}"[:500]
            self._unclaimed.update(r.job_id for r in due)  # fired again by rewind() once the database answers
            return
        self.claim_problem = None
        for claim in claimed:
            if (
                claim is not None
                and claim.status == RunStatus.QUEUED
                and not self.runner.submit(claim.run_id, claim.job)
            ):
                # Shutting down: leave it queued and unowned so the next start runs it within its grace.
                run_service.release(self.runtime, claim.run_id)


def count_fires(trigger: object, start: datetime, end: datetime, limit: int = 10_000) -> int:
    """How many fire times ``trigger`` has in [start, end), ``start`` being one of them.

    An interval (without jitter) is counted by arithmetic; other triggers by enumeration, at most
    ``limit`` (a per-second cron after a day down is 86,400 computations otherwise): the range
    recorded beside the count is exact either way.
    """
    if end <= start:
        return 0
    if isinstance(trigger, IntervalTrigger) and not trigger.jitter:
        step = float(trigger.interval.total_seconds())
        return int(math.ceil((end - start).total_seconds() / step - 1e-9))
    count = 0
    when: datetime | None = start
    get_next = trigger.get_next_fire_time  # type: ignore[attr-defined]
    while when is not None and when < end and count < limit:
        count += 1
        when = get_next(when, when + timedelta(microseconds=1))
    return count
