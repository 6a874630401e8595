"""The alert dispatcher: a thread of the active scheduler, never of its runs or its timing loop.

Every second, while this node leads (a round is put off while the runs' writer is busy — a burst of
thousands of runs due on one second starts sooner — but never for more than ``YIELD_SECONDS``):

1. judge the runs that finished since the last look (``services.alerts.scan_finished``);
2. raise ``long_running`` for runs still going past their limit;
3. claim the deliveries that are due and send them on a small pool of its own,
   so a channel that hangs until its timeout holds up neither the next fire nor the other channels.

A failing step is logged and retried a second later; it never stops the thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from whalefall.runtime import Runtime
from whalefall.services import alerts

log = logging.getLogger(__name__)
SENDERS = 4
INTERVAL_SECONDS = 1.0
YIELD_SECONDS = 5.0  # the longest a busy runner puts a round off


class AlertDispatcher:
    def __init__(self, runtime: Runtime, leading: Callable[[], bool], busy: Callable[[], bool] | None = None):
        self.runtime = runtime
        self.leading = leading
        self.busy = busy or (lambda: False)
        self._last_round = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._sending: set[int] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(SENDERS, thread_name_prefix="whalefall-alert")
        self._thread = threading.Thread(target=self._loop, name="whalefall-alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def due(self, now: float) -> bool:
        """Whether a round goes now (monotonic ``now``): at once when the runner is not busy, at the
        latest ``YIELD_SECONDS`` after the last one when it is."""
        if self.busy() and now - self._last_round < YIELD_SECONDS:
            return False
        self._last_round = now
        return True

    def _loop(self) -> None:
        while not self._stop.wait(INTERVAL_SECONDS):
            if not self.leading() or not self.due(time.monotonic()):
                continue
            try:
                self.step()
            except Exception:  # the dispatcher's boundary: log, and look again in a second
                log.exception("alert dispatcher step failed")

    def step(self) -> bool:
        """One round (see the module's docstring); True when it did something."""
        judged = read = alerts.scan_finished(self.runtime)
        while read == alerts.SCAN_BATCH:  # behind: catch up before sending
            read = alerts.scan_finished(self.runtime)
            judged += read
        raised = alerts.scan_long_running(self.runtime)
        claimed = alerts.due(self.runtime)
        for delivery_id in claimed:
            self._submit(delivery_id)
        return bool(judged or raised or claimed)

    def _submit(self, delivery_id: int) -> None:
        if self._pool is None:  # driven by a test, step by step: send here
            alerts.deliver(self.runtime, delivery_id)
            return
        with self._lock:
            if delivery_id in self._sending:
                return
            self._sending.add(delivery_id)
        self._pool.submit(self._send, delivery_id)

    def _send(self, delivery_id: int) -> None:
        try:
            alerts.deliver(self.runtime, delivery_id)
        except Exception:  # a delivery's boundary: it stays claimed and goes back to pending later
            log.exception("could not deliver alert %s", delivery_id)
        finally:
            with self._lock:
                self._sending.discard(delivery_id)
