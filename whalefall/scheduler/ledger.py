"""The ledger: the runner's writes, batched — one transaction for whatever is waiting.

Workers ask to *start* a run and wait for the answer (a run must not execute before its start
is committed: it may have been cancelled, or the lease lost). Outcomes and log flushes are
handed over without waiting. One thread writes them all: whatever gathered while the previous
transaction ran goes in the next (group commit), so a thousand runs a second cost a few
hundred commits, not three thousand, and the embedded SQLite's one writer is never fought over.

When the database refuses, waiting starts fail at once (their runs stay queued, for the next
leader or this one), while outcomes and logs are kept and written when it answers again — the
runs stay this process's to answer for meanwhile (:meth:`Ledger.unwritten`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from sqlalchemy.exc import SQLAlchemyError

from whalefall.models import Job, RunStatus
from whalefall.runtime import Runtime
from whalefall.services import runs as run_service
from whalefall.services.claims import RunJob

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0
LINGER_SECONDS = 0.002
BUSY_BATCH = 8
# While runs wait to start, outcomes wait (a worker does not wait for its outcome, it waits for
# its next start): at most this long, or until this many gathered — then they go in, in one batch.
OUTCOME_DELAY_SECONDS = 0.25
OUTCOME_BATCH = 2000

Started = tuple[run_service.RunStart, RunJob] | None


class Ledger:
    def __init__(
        self,
        runtime: Runtime,
        node_id: str,
        on_ended: Callable[[list[tuple[int, str, RunStatus]]], None] | None = None,
    ):
        self.runtime = runtime
        self.node_id = node_id
        self._on_ended = on_ended
        self._cond = threading.Condition()
        self._starts: list[tuple[int, int | None, RunJob | None, Future[Started]]] = []
        self._endings: dict[int, run_service.Ending] = {}
        self._endings_since = 0.0  # monotonic: when the oldest waiting outcome came
        self._logs: dict[int, tuple[str, int]] = {}
        self._writing: set[int] = set()  # outcomes in the transaction under way
        self._closing = False
        self._busy = False
        self._failing_since: float | None = None
        # Code and shell jobs' rows as last read, refreshed when their version moves.
        self._jobs: dict[str, Job] = {}
        self._thread = threading.Thread(target=self._loop, name="whalefall-ledger", daemon=True)
        self._thread.start()

    # -- what the workers hand over ------------------------------------------------

    def start(self, run_id: int, epoch: int | None, job: RunJob | None = None) -> Started:
        """queued → running, committed; the run and its job, or None when it must not run.
        ``job``: the run's built-in job as its claim read it (not read again). Raises the
        database's error when it refused."""
        future: Future[Started] = Future()
        with self._cond:
            self._starts.append((run_id, epoch, job, future))
            self._cond.notify()
        return future.result()

    def end(self, ending: run_service.Ending) -> None:
        with self._cond:
            if not self._endings:
                self._endings_since = time.monotonic()
            self._endings[ending.run_id] = ending
            self._logs.pop(ending.run_id, None)  # the outcome carries the whole log
            self._cond.notify()

    def save_log(self, run_id: int, text: str, start: int) -> None:
        with self._cond:
            if run_id not in self._endings:
                self._logs[run_id] = (text, start)
                self._cond.notify()

    @property
    def busy(self) -> bool:
        """Whether its last transaction was a big batch (runs are starting and ending by the many)."""
        return self._busy

    def unwritten(self) -> set[int]:
        """Runs whose outcome is not written yet (this process still answers for them)."""
        with self._cond:
            return set(self._endings) | set(self._writing)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is waiting (for at most ``timeout`` seconds), then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)

    # -- the writer ------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not (self._starts or self._endings or self._logs) and not self._closing:
                    self._cond.wait()
                if self._closing and not (self._starts or self._endings or self._logs):
                    return
                if self._busy:
                    # Under load, a moment's wait gathers a bigger batch: fewer commits per run.
                    until = time.monotonic() + LINGER_SECONDS
                    while not self._closing and (left := until - time.monotonic()) > 0:
                        self._cond.wait(left)
                starts, self._starts = self._starts, []
                if self._outcomes_wait(bool(starts)):
                    endings, logs = {}, {}
                else:
                    endings, self._endings = self._endings, {}
                    logs, self._logs = self._logs, {}
                self._writing = set(endings)
            self._busy = len(starts) + len(endings) >= BUSY_BATCH
            ok = self._write(starts, endings, logs)
            with self._cond:
                self._writing = set()
                if not ok:
                    # Keep what was refused, unless something newer came meanwhile.
                    for run_id, ending in endings.items():
                        self._endings.setdefault(run_id, ending)
                    for run_id, text in logs.items():
                        if run_id not in self._endings:
                            self._logs.setdefault(run_id, text)
                    if self._closing:
                        return
                    self._cond.wait(RETRY_SECONDS)

    def _outcomes_wait(self, starting: bool) -> bool:
        """Whether this transaction starts runs only: starts go first in a burst (the last of five
        thousand runs due at 02:00 starts sooner), the outcomes follow in bigger batches."""
        return (
            starting
            and not self._closing
            and len(self._endings) < OUTCOME_BATCH
            and time.monotonic() - self._endings_since < OUTCOME_DELAY_SECONDS
        )

    def _write(
        self,
        starts: list[tuple[int, int | None, RunJob | None, Future[Started]]],
        endings: dict[int, run_service.Ending],
        logs: dict[int, tuple[str, int]],
    ) -> bool:
        by_epoch: dict[int | None, list[tuple[int, Future[Started]]]] = {}
        known = {run_id: job for run_id, _, job, _ in starts if job is not None}
        for run_id, epoch, _, future in starts:
            by_epoch.setdefault(epoch, []).append((run_id, future))
        if not by_epoch:
            by_epoch[None] = []
        ended: list[tuple[int, str, RunStatus]] = []
        first = True
        for epoch, waiting in by_epoch.items():
            try:
                done = run_service.record(
                    self.runtime,
                    self.node_id,
                    starts=[run_id for run_id, _ in waiting],
                    endings=list(endings.values()) if first else [],
                    logs=logs if first else None,
                    epoch=epoch,
                    jobs=self._jobs,
                    known=known,
                )
            except Exception as exc:
                if not isinstance(exc, SQLAlchemyError):  # a bug: fail the waiting starts, never hang them
                    log.exception("the ledger could not write")
                if not first:
                    _fail(waiting, exc)
                    continue
                for rest in by_epoch.values():
                    _fail(rest, exc)
                if isinstance(exc, SQLAlchemyError):
                    self._refused(exc, len(endings))
                return False
            first = False
            started = {run.id: (run, job) for run, job in done.started}
            for run_id, future in waiting:
                future.set_result(started.get(run_id))
            ended += done.ended
        if self._failing_since is not None:
            log.info("run outcomes are written again (the database answers)")
            self._failing_since = None
        if ended and self._on_ended is not None:
            try:
                self._on_ended(ended)
            except Exception:  # what follows an outcome (dependencies) must not lose the next
                log.exception("after writing %d outcome(s)", len(ended))
        return True

    def _refused(self, exc: SQLAlchemyError, count: int) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            log.warning(
                "could not write %d run outcome(s) (%s); kept until the database returns",
                count,
                exc.__class__.__name__,
            )


def _fail(waiting: list[tuple[int, Future[Started]]], exc: BaseException) -> None:
    for _, future in waiting:
        if not future.done():
            future.set_exception(exc)
