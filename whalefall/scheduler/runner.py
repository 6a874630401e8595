"""The runner: executes claimed runs in the thread pool and writes their outcome.

The runner owns the lifecycle (queued → running → final); nothing is inferred
from APScheduler's events. Built-in tasks run in a watched thread, code jobs in
their own OS process (``executors.process``), and so do shell jobs (the launcher becomes
their command).
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from whalefall import clock
from whalefall.errors import UnknownTask
from whalefall.models import Job, JobKind, Run, RunStatus
from whalefall.runtime import Runtime
from whalefall.scheduler.runlog import RunLog, task_logger
from whalefall.services import dependencies
from whalefall.services import jobs as job_service
from whalefall.services import runs as run_service
from whalefall.tasks.registry import TaskContext

log = logging.getLogger(__name__)
CANCEL_POLL_SECONDS = 1.0


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


class Runner:
    def __init__(self, runtime: Runtime, node_id: str, max_workers: int):
        self.runtime = runtime
        self.node_id = node_id
        self.pool = ThreadPoolExecutor(max_workers, thread_name_prefix="whalefall-run")
        self._accepting = True
        self._aborting = False
        self._lock = threading.Lock()
        self._inflight: set[int] = set()
        # Runs to end now because this node lost the lease (the node goes on, as a standby).
        self._abandoned: set[int] = set()
        # Outcomes the database refused (it was unreachable): written by write_pending() later.
        self._pending: dict[int, dict[str, Any]] = {}
        # The lease epoch runs are started under, set by the scheduler service (``run_now``, for
        # ``whalefall run``, starts without one).
        self.epoch: int | None = None

    @property
    def inflight(self) -> int:
        with self._lock:
            return len(self._inflight)

    def submit(self, run_id: int) -> bool:
        """Hand a claimed run to the pool; False (run stays queued for the next start) when shutting down."""
        with self._lock:
            if not self._accepting:
                return False
            self._inflight.add(run_id)
        try:
            self.pool.submit(self._execute, run_id)
        except RuntimeError:  # pool already shut down
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
            return set(self._inflight) | set(self._pending)

    def _stopping(self, run_id: int) -> bool:
        return self._aborting or run_id in self._abandoned

    def _interrupted_because(self, run_id: int) -> str:
        if run_id in self._abandoned and not self._aborting:
            return "interrupted: this node lost the scheduler lease while it ran"
        return "interrupted: the scheduler stopped while it ran"

    def write_pending(self) -> int:
        """Write the outcomes the database refused before; how many were written now."""
        with self._lock:
            pending = list(self._pending.items())
        written = 0
        for run_id, outcome in pending:
            try:
                finished = run_service.finish(self.runtime, run_id, **outcome)
            except SQLAlchemyError:
                return written  # still unreachable: try again at the next step
            with self._lock:
                self._pending.pop(run_id, None)
            written += 1
            log.info(
                "outcome of run %s written after the database came back", run_id, extra={"run_id": run_id}
            )
            if finished is not None:
                self._downstream(finished)
        return written

    def _finish(self, run_id: int, status: RunStatus, **fields: Any) -> Run | None:
        """Write a run's outcome; when the database refuses, keep it for :meth:`write_pending`."""
        try:
            return run_service.finish(self.runtime, run_id, status, **fields)
        except SQLAlchemyError as exc:
            log.warning(
                "could not write the outcome of run %s (%s); kept until the database returns",
                run_id,
                exc.__class__.__name__,
                extra={"run_id": run_id},
            )
            with self._lock:
                self._pending[run_id] = {"status": status, **fields}
            return None

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            self._accepting = False
        self.pool.shutdown(wait=wait, cancel_futures=False)

    def run_now(self, run_id: int) -> None:
        """Execute a run in the calling thread (``whalefall run``)."""
        with self._lock:
            self._inflight.add(run_id)
        self._execute(run_id, fenced=False)

    # -- one run ---------------------------------------------------------------

    def _execute(self, run_id: int, fenced: bool = True) -> None:
        try:
            self._execute_guarded(run_id, fenced)
        except Exception:  # the run boundary: the one catch-all
            log.exception("runner failed on run %s", run_id, extra={"run_id": run_id})
            self._finish(
                run_id,
                RunStatus.FAILED,
                error_message="internal error in the runner; see the server log",
                traceback=traceback.format_exc(),
            )
        finally:
            with self._lock:
                self._inflight.discard(run_id)
                self._abandoned.discard(run_id)

    def _execute_guarded(self, run_id: int, fenced: bool) -> None:
        rt = self.runtime
        epoch = self.epoch
        if fenced and epoch is None:
            run_service.release(rt, run_id)  # not leading (any more): the leader takes it
            return
        if not run_service.start(rt, run_id, self.node_id, epoch=epoch if fenced else None):
            return  # cancelled before it started, or the lease was lost
        with rt.db.read() as session:
            run = session.get(Run, run_id)
            if run is None:
                return  # deleted since it started (only by hand: cleanup keeps active runs)
            job = session.get(Job, run.job_id)
        if job is None:
            self._finish(run_id, RunStatus.FAILED, error_message=f"job {run.job_id!r} was deleted")
            return
        tz = job_service.timezone_of(rt, job)
        runlog = RunLog(tz)
        fields = {
            "job_id": job.id,
            "run_id": run_id,
            "attempt": run.attempt,
            "trigger_source": run.trigger_source,
        }
        log.info("run started: job %s run %s", job.id, run_id, extra=fields)
        started = time.monotonic()
        if job.kind in (JobKind.CODE, JobKind.SHELL):
            outcome = self._run_code(run, job, runlog)
        else:
            outcome = self._run_builtin(run, job, runlog)
        text, start = runlog.snapshot()
        finished = self._finish(
            run_id,
            outcome.status,
            return_value=outcome.return_value,
            error_message=outcome.error_message,
            traceback=outcome.traceback,
            log_text=text,
            log_start=start,
        )
        duration = round(time.monotonic() - started, 3)
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
        if finished is not None:
            self._downstream(finished)

    def _downstream(self, finished: Run) -> None:
        """What a finished run means for the jobs that depend on it: a success may start them,
        a failure for good records them skipped."""
        if finished.status == RunStatus.SUCCESS.value:
            dependencies.after_success(self.runtime, finished.job_id)
        else:
            dependencies.after_failure(self.runtime, finished.id)

    def _watch(
        self,
        run_id: int,
        runlog: RunLog,
        deadline: float | None,
        done: threading.Event,
        cancel: threading.Event,
    ) -> RunStatus | None:
        """Wait for ``done``, flushing the log; return TIMEOUT or CANCELLED if that came first."""
        last_poll = 0.0
        while not done.wait(0.25):
            if self._stopping(run_id):
                cancel.set()
                return RunStatus.INTERRUPTED
            if runlog.due():
                text, start = runlog.snapshot()
                run_service.save_log(self.runtime, run_id, text, start)
            if deadline is not None and time.monotonic() > deadline:
                cancel.set()
                return RunStatus.TIMEOUT
            if time.monotonic() - last_poll >= CANCEL_POLL_SECONDS:
                last_poll = time.monotonic()
                if run_service.cancel_requested(self.runtime, run_id):
                    cancel.set()
                    return RunStatus.CANCELLED
        return None

    def _run_builtin(self, run: Run, job: Job, runlog: RunLog) -> Outcome:
        try:
            fn = self.runtime.tasks.resolve(job.func_name or "")
        except UnknownTask as exc:
            job_service.mark_broken(self.runtime, job.id, str(exc))
            return Outcome(RunStatus.FAILED, error_message=str(exc))
        except Exception as exc:  # noqa: BLE001 - an import error in the task's own module
            return Outcome(
                RunStatus.FAILED,
                error_message=f"cannot load task {job.func_name!r}: {exc}",
                traceback=traceback.format_exc(),
            )
        try:
            # The params as the task's model reads them (checked when the job was saved, and again
            # here: a job stored before its task's model changed fails with the field named).
            kwargs = self.runtime.tasks.call_params(job.func_name or "", job.params)
        except ValidationError as exc:
            return Outcome(RunStatus.FAILED, error_message=f"params: {exc}")
        cancel = threading.Event()
        done = threading.Event()
        box: dict[str, Any] = {}
        ctx = TaskContext(
            runtime=self.runtime,
            run_id=run.id,
            job_id=job.id,
            scheduled_time=run.scheduled_time,
            attempt=run.attempt,
            logger=task_logger(job.id, run.id, runlog),
            cancel_requested=cancel.is_set,
        )

        def target() -> None:
            try:
                box["value"] = fn(ctx, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - everything the task raises is its failure
                box["error"] = f"{exc.__class__.__name__}: {exc}"
                box["traceback"] = traceback.format_exc()
            finally:
                done.set()

        # A thread cannot be killed: on timeout or cancel the run ends now and
        # the task is asked to stop (ctx.cancel_requested()); its result is dropped.
        threading.Thread(target=target, name=f"whalefall-task-{run.id}", daemon=True).start()
        deadline = time.monotonic() + job.timeout_seconds if job.timeout_seconds else None
        stopped = self._watch(run.id, runlog, deadline, done, cancel)
        if stopped == RunStatus.TIMEOUT:
            return Outcome(stopped, error_message=f"timed out after {job.timeout_seconds} s")
        if stopped == RunStatus.CANCELLED:
            return Outcome(stopped, error_message="cancelled while running")
        if stopped == RunStatus.INTERRUPTED:
            return Outcome(stopped, error_message=self._interrupted_because(run.id))
        if "error" in box:
            return Outcome(RunStatus.FAILED, error_message=box["error"], traceback=box["traceback"])
        return Outcome(RunStatus.SUCCESS, return_value=render_value(box.get("value")))

    def _run_code(self, run: Run, job: Job, runlog: RunLog) -> Outcome:
        from whalefall.sandbox.isolation import SandboxUnavailable
        from whalefall.scheduler.executors.process import run_code
        from whalefall.services import job_credentials

        settings = self.runtime.settings
        sandbox = self.runtime.sandbox
        try:
            sandbox.check()
        except SandboxUnavailable as exc:
            return Outcome(
                RunStatus.FAILED,
                error_message=(
                    f"refused: code and shell jobs run only in the sandbox, which cannot be set up "
                    f"here: {exc}. An admin may set WHALEFALL_SANDBOX=none to run them without isolation."
                ),
            )
        workdir = settings.data_dir / "work" / f"run-{run.id}"
        timeout = job.timeout_seconds or settings.code_timeout_seconds
        last_poll = [0.0]

        def should_cancel() -> bool:
            if self._stopping(run.id):
                return True
            if runlog.due():
                text, start = runlog.snapshot()
                run_service.save_log(self.runtime, run.id, text, start)
            if time.monotonic() - last_poll[0] < CANCEL_POLL_SECONDS:
                return False
            last_poll[0] = time.monotonic()
            return run_service.cancel_requested(self.runtime, run.id)

        try:
            instances = job_credentials.issue(self.runtime, job, run.id)
        except job_credentials.CredentialsUnavailable as exc:
            return Outcome(RunStatus.FAILED, error_message=f"cannot hand over credentials: {exc}")
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
                should_cancel=should_cancel,
                cancel_poll_seconds=0.25,
                on_start=lambda pid: run_service.set_pid(self.runtime, run.id, pid),
                command=command,
                command_env=command_env,
                cwd=cwd,
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if result.status == "cancelled" and self._stopping(run.id):
            return Outcome(RunStatus.INTERRUPTED, error_message=self._interrupted_because(run.id))
        return Outcome(
            RunStatus(result.status),
            return_value=result.return_value,
            error_message=result.error_message,
            traceback=result.traceback,
        )
