"""The runner: executes claimed runs on its workers and records their lifecycle.

The runner owns the lifecycle (queued → running → final); nothing is inferred from APScheduler's
events. Its writes go through the :class:`~whalefall.scheduler.ledger.Ledger`, which batches
them. Built-in tasks run on the worker itself; code and shell jobs in their own OS process
(``executors.process``). One watchdog thread looks after every run in flight: it flushes logs,
ends runs past their timeout, asks the database once a second which runs were cancelled, and
ends the runs of a node that lost its lease.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from whalefall import clock
from whalefall.errors import UnknownTask
from whalefall.i18n import reasons
from whalefall.models import Job, JobKind, RunStatus
from whalefall.models.run import RETRYABLE_STATUSES
from whalefall.runtime import Runtime
from whalefall.scheduler.ledger import Ledger
from whalefall.scheduler.runlog import RunLog, task_logger
from whalefall.scheduler.workers import Workers
from whalefall.services import dependencies
from whalefall.services import jobs as job_service
from whalefall.services import runs as run_service
from whalefall.services.claims import RunJob
from whalefall.tasks.registry import TaskContext

log = logging.getLogger(__name__)
CANCEL_POLL_SECONDS = 1.0
WATCH_SECONDS = 0.25


def fire(job_id: str, sig: str | None = None) -> None:
    """The one function the job store refers to. Never called: the Whalefall executor runs jobs."""
    raise RuntimeError("whalefall.scheduler.runner:fire is only a reference; runs go through the Runner")


@dataclass
class Outcome:
    status: RunStatus
    return_value: str | None = None
    error_message: str | None = None
    traceback: str | None = None


def render_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


@dataclass
class Watch:
    """One run in flight, as the watchdog sees it."""

    run_id: int
    runlog: RunLog
    deadline: float | None  # monotonic; None: the executor keeps its own (code jobs)
    builtin: bool
    thread: threading.Thread
    started_at: Any = None
    cancel: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    limit: int | None = None  # the timeout, in seconds, for the message
    stopped: Outcome | None = None  # why the watchdog ended it
    done: bool = False  # the worker has its outcome


class Runner:
    def __init__(self, runtime: Runtime, node_id: str, max_workers: int):
        self.runtime = runtime
        self.node_id = node_id
        self._upstreams: frozenset[str] | None = None  # jobs others depend on (see forget_dependencies)
        self.ledger = Ledger(runtime, node_id, on_ended=self._after_ended)
        self.pool = Workers(max_workers)
        self._accepting = True
        self._aborting = False
        self._lock = threading.Lock()
        self._inflight: set[int] = set()
        # Runs to end now because this node lost the lease (the node goes on, as a standby).
        self._abandoned: set[int] = set()
        self._watches: dict[int, Watch] = {}
        self._closed = threading.Event()
        self._watchdog = threading.Thread(target=self._watch_loop, name="whalefall-watchdog", daemon=True)
        self._watchdog.start()
        # The lease epoch runs are started under, set by the scheduler service (``run_now``, for
        # ``whalefall run``, starts without one).
        self.epoch: int | None = None

    @property
    def inflight(self) -> int:
        with self._lock:
            return len(self._inflight)

    def submit(self, run_id: int, job: RunJob | None = None) -> bool:
        """Hand a claimed run to the workers (with its built-in job as the claim read it, if it
        did); False (run stays queued for the next start) when shutting down."""
        with self._lock:
            if not self._accepting:
                return False
            self._inflight.add(run_id)
        if not self.pool.submit(self._execute, run_id, True, job):
            with self._lock:
                self._inflight.discard(run_id)
            return False
        return True

    def abort_inflight(self, *, resume: bool = False) -> None:
        """Stop every run in flight now: code jobs are killed and every such run ends
        ``interrupted``, to be retried by its policy. With ``resume`` (the lease was lost) the
        runner takes new runs again afterwards; else (shutdown past its grace) it stays aborting."""
        if not resume:
            self._aborting = True
            return
        with self._lock:
            self._abandoned |= self._inflight

    def owned(self) -> set[int]:
        """Runs this process still answers for: executing, or with an outcome to write."""
        with self._lock:
            inflight = set(self._inflight)
        return inflight | self.ledger.unwritten()

    def _stopping(self, run_id: int) -> bool:
        return self._aborting or run_id in self._abandoned

    def _interrupted_because(self, run_id: int) -> str:
        if run_id in self._abandoned and not self._aborting:
            return reasons.english("interrupted_lease_lost")
        return reasons.english("interrupted_stopped")

    def _end(self, run_id: int, outcome: Outcome, runlog: RunLog | None, started_at: Any) -> None:
        text, start = runlog.snapshot() if runlog is not None else (None, None)
        self.ledger.end(
            run_service.Ending(
                run_id,
                outcome.status,
                return_value=outcome.return_value,
                error_message=outcome.error_message,
                traceback=outcome.traceback,
                log_text=text,
                log_start=start,
                started_at=started_at,
            )
        )

    def forget_dependencies(self) -> None:
        """Jobs changed: read again which jobs others depend on, at the next outcome."""
        self._upstreams = None

    def _after_ended(self, ended: list[tuple[int, str, RunStatus]]) -> None:
        """What finished runs mean for the jobs that depend on theirs: a success may start them,
        a failure for good records them skipped."""
        upstreams = self._upstreams
        if upstreams is None:
            upstreams = self._upstreams = dependencies.upstreams(self.runtime)
        ended = [(run_id, job_id, status) for run_id, job_id, status in ended if job_id in upstreams]
        succeeded = {job_id for _, job_id, status in ended if status == RunStatus.SUCCESS}
        if succeeded:
            dependencies.after_success(self.runtime, *succeeded)
        for run_id, job_id, status in ended:
            if status.value in RETRYABLE_STATUSES:
                dependencies.after_failure(self.runtime, run_id, job_id)

    def shutdown(self, wait: bool = True) -> None:
        """Take no more runs (queued ones still run). With ``wait``, wait for them, then :meth:`close`."""
        with self._lock:
            self._accepting = False
        self.pool.shutdown(wait=wait)
        if wait:
            self.close()

    def close(self) -> None:
        """Stop the watchdog and write the outcomes still waiting: after the runs in flight ended."""
        self._closed.set()
        self.ledger.close()

    def run_now(self, run_id: int) -> None:
        """Execute a run in the calling thread (``whalefall run``)."""
        with self._lock:
            self._inflight.add(run_id)
        self._execute(run_id, fenced=False)

    # -- one run ---------------------------------------------------------------

    def _execute(self, run_id: int, fenced: bool = True, job: RunJob | None = None) -> None:
        try:
            self._execute_guarded(run_id, fenced, job)
        except Exception:  # the run boundary: the one catch-all
            log.exception("runner failed on run %s", run_id, extra={"run_id": run_id})
            self.ledger.end(
                run_service.Ending(
                    run_id,
                    RunStatus.FAILED,
                    error_message=reasons.english("runner_error"),
                    traceback=traceback.format_exc(),
                )
            )
        finally:
            with self._lock:
                self._inflight.discard(run_id)
                self._abandoned.discard(run_id)
                self._watches.pop(run_id, None)

    def _execute_guarded(self, run_id: int, fenced: bool, claimed_job: RunJob | None) -> None:
        rt = self.runtime
        epoch = self.epoch
        if fenced and epoch is None:
            run_service.release(rt, run_id)  # not leading (any more): the leader takes it
            return
        try:
            started = self.ledger.start(run_id, epoch if fenced else None, claimed_job)
        except SQLAlchemyError as exc:
            # Not started: the run stays queued and owned by this node; recovery frees it.
            log.warning(
                "could not start run %s (%s)", run_id, exc.__class__.__name__, extra={"run_id": run_id}
            )
            return
        if started is None:
            return  # cancelled before it started, or the lease was lost
        run, job = started
        tz = job_service.timezone_of(rt, job)
        runlog = RunLog(tz)
        fields = {
            "job_id": job.id,
            "run_id": run_id,
            "attempt": run.attempt,
            "trigger_source": run.trigger_source,
        }
        log.debug("run started: job %s run %s", job.id, run_id, extra=fields)
        clock_started = time.monotonic()
        builtin = job.kind not in (JobKind.CODE, JobKind.SHELL)
        watch = Watch(
            run_id,
            runlog,
            clock_started + job.timeout_seconds if builtin and job.timeout_seconds else None,
            builtin,
            threading.current_thread(),
            run.started_at,
            limit=job.timeout_seconds,
        )
        with self._lock:
            self._watches[run_id] = watch
        if builtin:
            outcome = self._run_builtin(run, job, runlog, watch)
        else:
            assert job.full is not None  # the start reads a code or shell job's whole row
            outcome = self._run_code(run, job.full, runlog, watch)
        with watch.lock:
            if watch.stopped is not None and builtin:
                return  # the watchdog ended it already; what the task did after is dropped
            watch.done = True
        self._end(run_id, outcome, runlog, run.started_at)
        duration = round(time.monotonic() - clock_started, 3)
        level = logging.INFO if outcome.status == RunStatus.SUCCESS else logging.WARNING
        log.log(
            level,
            "run %s: job %s run %s in %.3f s%s",
            outcome.status.value,
            job.id,
            run_id,
            duration,
            f": {outcome.error_message}" if outcome.error_message else "",
            extra={
                **fields,
                "status": outcome.status.value,
                "duration_seconds": duration,
                "error": outcome.error_message,
            },
        )

    # -- the watchdog ------------------------------------------------------------

    def _watch_loop(self) -> None:
        last_poll = 0.0
        while not self._closed.wait(WATCH_SECONDS):
            try:
                poll = time.monotonic() - last_poll >= CANCEL_POLL_SECONDS
                if poll:
                    last_poll = time.monotonic()
                self.watch_once(poll_cancels=poll)
            except Exception:  # the watchdog must never end silently
                log.exception("watching the runs in flight failed")

    def watch_once(self, *, poll_cancels: bool = True) -> int:
        """One look at every run in flight (see the module's docstring); how many it ended."""
        with self._lock:
            watches = [w for w in self._watches.values() if w.stopped is None and not w.done]
        cancelled: set[int] = set()
        if poll_cancels and watches:
            try:
                cancelled = run_service.cancels_requested(self.runtime, [w.run_id for w in watches])
            except SQLAlchemyError:
                cancelled = set()  # asked again at the next poll
        now = time.monotonic()
        ended = 0
        for w in watches:
            if self._stopping(w.run_id):
                why = Outcome(RunStatus.INTERRUPTED, error_message=self._interrupted_because(w.run_id))
            elif w.deadline is not None and now > w.deadline:
                why = Outcome(RunStatus.TIMEOUT, error_message=reasons.english("timed_out", seconds=w.limit))
            elif w.run_id in cancelled:
                why = Outcome(RunStatus.CANCELLED, error_message=reasons.english("cancelled_running"))
            else:
                if w.runlog.due():
                    text, start = w.runlog.snapshot()
                    self.ledger.save_log(w.run_id, text, start)
                continue
            with w.lock:
                if w.done:
                    continue
                w.stopped = why
                w.cancel.set()
            ended += 1
            if w.builtin:
                # A thread cannot be killed: the run ends now, the task is asked to stop
                # (ctx.cancel_requested()), and its worker is replaced until it does.
                self._end(w.run_id, why, w.runlog, w.started_at)
                with self._lock:
                    self._inflight.discard(w.run_id)  # ended: a stop no longer waits for it
                self.pool.detach(w.thread)
        return ended

    # -- the executors -------------------------------------------------------------

    def _run_builtin(self, run: run_service.RunStart, job: RunJob, runlog: RunLog, watch: Watch) -> Outcome:
        try:
            fn = self.runtime.tasks.resolve(job.func_name or "")
        except UnknownTask as exc:
            job_service.mark_broken(self.runtime, job.id, str(exc))
            return Outcome(RunStatus.FAILED, error_message=str(exc))
        except Exception as exc:  # noqa: BLE001 - an import error in the task's own module
            return Outcome(
                RunStatus.FAILED,
                error_message=reasons.english("cannot_load_task", task=job.func_name, error=exc),
                traceback=traceback.format_exc(),
            )
        try:
            # The params as the task's model reads them (checked when the job was saved, and again
            # here: a job stored before its task's model changed fails with the field named).
            kwargs = self.runtime.tasks.call_params(job.func_name or "", job.params)
        except ValidationError as exc:
            return Outcome(RunStatus.FAILED, error_message=reasons.english("bad_params", error=exc))
        ctx = TaskContext(
            runtime=self.runtime,
            run_id=run.id,
            job_id=job.id,
            scheduled_time=run.scheduled_time,
            attempt=run.attempt,
            logger=task_logger(job.id, run.id, runlog),
            cancel_requested=watch.cancel.is_set,
        )
        try:
            value = fn(ctx, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - everything the task raises is its failure
            return Outcome(
                RunStatus.FAILED,
                error_message=f"{exc.__class__.__name__}: {exc}",
                traceback=traceback.format_exc(),
            )
        return Outcome(RunStatus.SUCCESS, return_value=render_value(value))

    def _run_code(self, run: run_service.RunStart, job: Job, runlog: RunLog, watch: Watch) -> Outcome:
        from whalefall.sandbox.isolation import SandboxUnavailable
        from whalefall.scheduler.executors.process import run_code
        from whalefall.services import job_credentials

        settings = self.runtime.settings
        sandbox = self.runtime.sandbox
        try:
            sandbox.check()
        except SandboxUnavailable as exc:
            return Outcome(RunStatus.FAILED, error_message=reasons.english("sandbox_refused", error=exc))
        workdir = settings.data_dir / "work" / f"run-{run.id}"
        timeout = job.timeout_seconds or settings.code_timeout_seconds
        try:
            instances = job_credentials.issue(self.runtime, job, run.id)
        except job_credentials.CredentialsUnavailable as exc:
            return Outcome(RunStatus.FAILED, error_message=reasons.english("no_credentials", error=exc))
        context = {
            "instances": list(instances),
            "run_id": run.id,
            "job_id": job.id,
            "attempt": run.attempt,
            "scheduled_time": clock.iso(run.scheduled_time),
        }
        command, command_env, cwd = None, None, None
        if job.kind == JobKind.SHELL:
            # A shell job's context is its environment: WHALEFALL_RUN_ID, WHALEFALL_JOB_ID, …
            command, command_env, where = job_service.shell_command(job)
            for key in ("run_id", "job_id", "attempt", "scheduled_time"):
                command_env[f"WHALEFALL_{key.upper()}"] = "" if context[key] is None else str(context[key])
            cwd = Path(where) if where else None
        try:
            result = run_code(
                job.code or "",
                params=dict(job.params or {}),
                context=context,
                workdir=workdir,
                timeout=timeout,
                memory_limit_mb=settings.code_memory_limit_mb,
                cpu_seconds=settings.code_cpu_seconds,
                max_processes=settings.code_max_processes,
                file_size_mb=settings.code_file_size_mb,
                sandbox=sandbox,
                run_id=run.id,
                instances=instances,
                on_use=lambda name: job_credentials.record_use(self.runtime, job, run.id, name),
                on_output=runlog.append,
                should_cancel=watch.cancel.is_set,
                cancel_poll_seconds=0.25,
                on_start=lambda pid: run_service.set_pid(self.runtime, run.id, pid),
                command=command,
                command_env=command_env,
                cwd=cwd,
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if result.status == "cancelled" and watch.stopped is not None:
            return watch.stopped  # interrupted (the lease was lost, shutdown) or cancelled
        return Outcome(
            RunStatus(result.status),
            return_value=result.return_value,
            error_message=result.error_message,
            traceback=result.traceback,
        )
