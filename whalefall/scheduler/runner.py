"""The runner: executes claimed runs in the thread pool and writes their outcome.

The runner owns the lifecycle (queued → running → final); nothing is inferred
from APScheduler's events. Built-in tasks run in a watched thread, code jobs in
their own OS process (``executors.process``).
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
from typing import Any

from pydantic import ValidationError

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

    def abort_inflight(self) -> None:
        """Stop every run in flight now (shutdown past its grace): code jobs are killed and
        every such run ends ``interrupted``, to be retried by its policy."""
        self._aborting = True

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            self._accepting = False
        self.pool.shutdown(wait=wait, cancel_futures=False)

    def run_now(self, run_id: int) -> None:
        """Execute a run in the calling thread (``whalefall run``)."""
        with self._lock:
            self._inflight.add(run_id)
        self._execute(run_id)

    # -- one run ---------------------------------------------------------------

    def _execute(self, run_id: int) -> None:
        try:
            self._execute_guarded(run_id)
        except Exception:  # the run boundary: the one catch-all
            log.exception("runner failed on run %s", run_id, extra={"run_id": run_id})
            run_service.finish(
                self.runtime,
                run_id,
                RunStatus.FAILED,
                error_message="internal error in the runner; see the server log",
                traceback=traceback.format_exc(),
            )
        finally:
            with self._lock:
                self._inflight.discard(run_id)

    def _execute_guarded(self, run_id: int) -> None:
        rt = self.runtime
        if not run_service.start(rt, run_id, self.node_id):
            return  # cancelled before it started
        with rt.db.read() as session:
            run = session.get(Run, run_id)
            if run is None:
                return  # deleted since it started (only by hand: cleanup keeps active runs)
            job = session.get(Job, run.job_id)
        if job is None:
            run_service.finish(rt, run_id, RunStatus.FAILED, error_message=f"job {run.job_id!r} was deleted")
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
        if job.kind == JobKind.CODE:
            outcome = self._run_code(run, job, runlog)
        else:
            outcome = self._run_builtin(run, job, runlog)
        text, start = runlog.snapshot()
        finished = run_service.finish(
            rt,
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
        if finished is not None and outcome.status == RunStatus.SUCCESS:
            dependencies.after_success(rt, job.id)

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
            if self._aborting:
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
            return Outcome(stopped, error_message="interrupted: the scheduler stopped while it ran")
        if "error" in box:
            return Outcome(RunStatus.FAILED, error_message=box["error"], traceback=box["traceback"])
        return Outcome(RunStatus.SUCCESS, return_value=render_value(box.get("value")))

    def _run_code(self, run: Run, job: Job, runlog: RunLog) -> Outcome:
        from whalefall.scheduler.executors.process import run_code

        settings = self.runtime.settings
        workdir = settings.data_dir / "work" / f"run-{run.id}"
        timeout = job.timeout_seconds or settings.code_timeout_seconds
        last_poll = [0.0]

        def should_cancel() -> bool:
            if self._aborting:
                return True
            if runlog.due():
                text, start = runlog.snapshot()
                run_service.save_log(self.runtime, run.id, text, start)
            if time.monotonic() - last_poll[0] < CANCEL_POLL_SECONDS:
                return False
            last_poll[0] = time.monotonic()
            return run_service.cancel_requested(self.runtime, run.id)

        context = {
            "run_id": run.id,
            "job_id": job.id,
            "attempt": run.attempt,
            "scheduled_time": clock.iso(run.scheduled_time),
        }
        try:
            result = run_code(
                job.code or "",
                params=dict(job.params or {}),
                context=context,
                workdir=workdir,
                timeout=timeout,
                memory_limit_mb=settings.code_memory_limit_mb,
                on_output=runlog.append,
                should_cancel=should_cancel,
                cancel_poll_seconds=0.25,
                on_start=lambda pid: run_service.set_pid(self.runtime, run.id, pid),
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if result.status == "cancelled" and self._aborting:
            return Outcome(
                RunStatus.INTERRUPTED, error_message="interrupted: the scheduler stopped while it ran"
            )
        return Outcome(
            RunStatus(result.status),
            return_value=result.return_value,
            error_message=result.error_message,
            traceback=result.traceback,
        )
