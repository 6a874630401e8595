"""The scheduler role: one loop that leads, follows changes and dispatches runs.

Started by ``whalefall scheduler`` or ``whalefall serve``, never by an import.
The loop is a sequence of steps; :meth:`SchedulerService.step` does one and
says whether it did work, so a test can drive it without threads or sleeps.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import threading
import time
from collections import deque

from sqlalchemy import select

from whalefall.models import JobChange
from whalefall.runtime import Runtime
from whalefall.scheduler.alerts import AlertDispatcher
from whalefall.scheduler.engine import Engine
from whalefall.scheduler.runner import Runner
from whalefall.services import nodes, state
from whalefall.services import runs as run_service

log = logging.getLogger(__name__)
NODE_BEAT_SECONDS = 5.0
RECOVER_SECONDS = 10.0
CHANGE_OVERLAP = 200  # re-read this many recent feed ids: on PostgreSQL ids may commit out of order


class SchedulerService:
    def __init__(self, runtime: Runtime, role: str = "scheduler"):
        self.runtime = runtime
        self.role = role
        self.node_id = nodes.make_node_id(runtime.settings.node_name)
        self.runner = Runner(runtime, self.node_id, runtime.settings.executor_max_workers)
        self.engine = Engine(runtime, self.runner, self.node_id)
        self.alerts = AlertDispatcher(runtime, lambda: self.leading, busy=lambda: self.runner.ledger.busy)
        self.leading = False
        self.last_error: str | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: deque[int] = deque(maxlen=CHANGE_OVERLAP * 2)
        self._last_change = 0
        self._published: str | None = None
        self._timers = {"beat": 0.0, "lease": 0.0, "recover": 0.0}
        self.epoch: int | None = None  # the lease epoch this node leads under (the fencing token)
        self._lease_lock = threading.Lock()
        self._renewed_at = 0.0  # monotonic time of the last successful renewal
        self._keeper: threading.Thread | None = None
        self._become_pending = False

    # -- life ------------------------------------------------------------------

    def start(self, *, thread: bool = True) -> None:
        nodes.register_node(self.runtime, self.node_id, self.role)
        self.runtime.scheduler = self
        self.runtime.subscribe(self.wake)
        if thread:
            self._keeper = threading.Thread(target=self._keep_lease, name="whalefall-lease", daemon=True)
            self._keeper.start()
            self._thread = threading.Thread(target=self._loop, name="whalefall-scheduler", daemon=True)
            self._thread.start()
            self.alerts.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, wait_seconds: float | None = None) -> None:
        """Stop processing first, then let running runs finish (up to ``wait_seconds``, by default
        the shutdown grace setting), interrupt what is still running, then let go."""
        if wait_seconds is None:
            wait_seconds = self.runtime.settings.shutdown_grace_seconds
        self._stopping.set()
        self._wake.set()
        self.alerts.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._keeper is not None:
            self._keeper.join(timeout=10)
        self.engine.pause()
        self.runner.shutdown(wait=False)
        deadline = time.monotonic() + wait_seconds
        while self.runner.inflight and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.runner.inflight:
            log.warning("stopping with %d run(s) still going: interrupting them", self.runner.inflight)
            self.runner.abort_inflight()
            deadline = time.monotonic() + 10
            while self.runner.inflight and time.monotonic() < deadline:
                time.sleep(0.1)
        self.runner.close()
        self.engine.stop()
        try:
            if self.leading:
                state.withdraw(self.runtime, state.ENGINE_READY, self.node_id)  # health: engine stopped
                nodes.release(self.runtime, self.node_id)
            nodes.stop_node(self.runtime, self.node_id)
        except Exception:
            log.exception("could not release the lease on stop")
        self.leading = False

    # -- the loop --------------------------------------------------------------

    def _loop(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                did = self.step()
                backoff = 0.5
                if self.last_error:
                    self.last_error = None
            except Exception as exc:  # the loop must never end silently
                log.exception("scheduler step failed")
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                did = False
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 10)
            if not did:
                self._wake.wait(self.runtime.settings.sync_interval_seconds)
            self._wake.clear()

    def _due(self, name: str, every: float) -> bool:
        if time.monotonic() - self._timers[name] >= every:
            self._timers[name] = time.monotonic()
            return True
        return False

    def step(self) -> bool:
        """One round:

        1. renew this node's heartbeat (every 5 s);
        2. take or renew the lease; start the engine on gaining it, stop it on losing it;
        1–2 run on the lease keeper's own thread when the service runs threaded (see
        :meth:`keep_lease_once`); here when a test drives the steps.
        3. as leader: restart a dead engine, apply job changes made anywhere,
           dispatch queued runs, and recover runs of dead nodes and of this one that nothing here
           executes or still has an outcome for (every 10 s).

        Returns True when it did work (the loop then goes round again at once).
        """
        rt = self.runtime
        did = False
        if self._keeper is None:  # driven by a test: the lease is kept here
            did |= self.keep_lease_once()
        if self._become_pending:
            self._become_leader()
            did = True
        if not self.leading:
            return did
        if not self.engine.alive():
            log.error("the APScheduler thread died; restarting the engine")
            self.last_error = "the scheduler engine stopped and was restarted"
            self.engine.stop()
            self.engine.start()
            did = True
        did |= self._apply_changes()
        did |= self.engine.rewind() > 0
        for run_id in run_service.take_queued(rt, self.node_id, epoch=self.epoch):
            if not self.runner.submit(run_id):
                run_service.release(rt, run_id)
                break
            did = True
        if self._due("recover", RECOVER_SECONDS):
            did |= nodes.recover(rt, self.node_id, running_here=self.runner.owned()) > 0
        self._publish_health()
        return did

    # -- the lease ---------------------------------------------------------------

    def _keep_lease(self) -> None:
        """The lease keeper's thread: renew the lease and the node's heartbeat on time, whatever the
        scheduler's loop or APScheduler's lock are doing."""
        while not self._stopping.is_set():
            try:
                self.keep_lease_once()
            except Exception:  # the keeper must never end silently
                log.exception("keeping the lease failed")
            self._stopping.wait(0.5)

    def keep_lease_once(self) -> bool:
        """1. Heartbeat (every 5 s). 2. Take or renew the lease (every second while standing by, a
        quarter of the lease while leading). 3. On gaining it, have the loop become the leader; on
        losing it — or on finding that a renewal is overdue past the lease's length, as after the
        process was stopped — stop at once: no more claims, in-flight runs ended.

        Returns True when leadership changed.
        """
        rt = self.runtime
        lease_seconds = rt.settings.lease_seconds
        with self._lease_lock:
            if self.leading and time.monotonic() - self._renewed_at > lease_seconds:
                self._lose_lease("the lease was not renewed in time (the process stalled?)")
                return True
            if self._due("beat", NODE_BEAT_SECONDS):
                nodes.beat(rt, self.node_id)
            if not self._due("lease", 1.0 if not self.leading else lease_seconds / 4):
                return False
            try:
                epoch = nodes.take(rt, self.node_id)
            except Exception:
                if self.leading and time.monotonic() - self._renewed_at > lease_seconds * 0.75:
                    self._lose_lease("the lease cannot be renewed: the database is unreachable")
                    return True
                raise
            if epoch is not None and self.leading and epoch != self.epoch:
                # Our lease expired and we took it again: a new term; what we held may be someone's.
                self._lose_lease(f"the lease lapsed (epoch {self.epoch} → {epoch})")
            if epoch is not None:
                self._renewed_at = time.monotonic()
                self.epoch = epoch
                self.runner.epoch = epoch
                if not self.leading and not self._become_pending:
                    self._become_pending = True
                    self._wake.set()
                    return True
            elif self.leading:
                self._lose_lease("another node holds the lease")
                return True
        return False

    def _lose_lease(self, why: str) -> None:
        log.warning("lost the scheduler lease: %s; standing by", why)
        self.leading = False
        self._become_pending = False
        self.epoch = None
        self.runner.epoch = None
        self.engine.stop()
        self.runner.abort_inflight(resume=True)

    def _become_leader(self) -> None:
        self._become_pending = False
        if self.epoch is None:
            return
        log.info("this node (%s) is now the active scheduler (epoch %s)", self.node_id, self.epoch)
        self.leading = True
        with self.runtime.db.read() as session:
            newest = session.scalar(select(JobChange.id).order_by(JobChange.id.desc()).limit(1)) or 0
            # The engine is about to read every job: the changes so far are in what it reads, so
            # those of the look-back window are seen already (else the first step applies them again).
            recent = session.scalars(
                select(JobChange.id).where(JobChange.id > newest - CHANGE_OVERLAP).order_by(JobChange.id)
            )
            self._seen.extend(recent)
        self._last_change = newest
        nodes.recover(self.runtime, self.node_id, running_here=self.runner.owned())
        self._timers["recover"] = time.monotonic()
        state.withdraw(self.runtime, state.ENGINE_READY, self.node_id)  # health: a term of ours ended
        self.engine.start()
        with self._lease_lock:
            if not self.leading:  # lost while starting: the keeper stopped nothing that ran yet
                self.engine.stop()
                return
        state.put(self.runtime, state.ENGINE_READY, self.node_id)  # health: this leader can fire now
        _release_freed_memory()

    def _apply_changes(self) -> bool:
        with self.runtime.db.read() as session:
            rows = list(
                session.execute(
                    select(JobChange.id, JobChange.job_id)
                    .where(JobChange.id > self._last_change - CHANGE_OVERLAP)
                    .order_by(JobChange.id)
                    .limit(1000)
                )
            )
        fresh = [(cid, jid) for cid, jid in rows if cid > self._last_change or cid not in self._seen]
        fresh = [(cid, jid) for cid, jid in fresh if cid not in self._seen]
        if not fresh:
            return False
        for job_id in dict.fromkeys(jid for _cid, jid in fresh):
            self.engine.apply(job_id)
        self.runner.forget_dependencies()
        for cid, _jid in fresh:
            self._seen.append(cid)
            self._last_change = max(self._last_change, cid)
        self.engine.wakeup()
        return True

    # -- health ----------------------------------------------------------------

    def problem(self) -> str | None:
        """What is wrong with this scheduler now (claims the database refuses, a restarted engine), or None."""
        problems = [p for p in (self.engine.claim_problem, self.last_error) if p]
        return "; ".join(problems) or None

    def _publish_health(self) -> None:
        problem = self.problem()
        if problem != self._published:
            state.put(self.runtime, "scheduler_problem", problem)
            self._published = problem


def _release_freed_memory() -> None:
    """Give back to the system what building the schedule allocated and freed (every job's row was
    read once): the allocator keeps freed memory otherwise, and an idle server should look idle.

    What is left is the process's long-lived state (modules, mappers, the schedule of every job):
    frozen, the collector no longer walks it at every full collection — which, in a burst of
    thousands of runs, cost a tenth of a second each time."""
    gc.collect()
    gc.freeze()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim this way
        pass
