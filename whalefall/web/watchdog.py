"""The dead-man's switch of a web process: a thread that asks every 10 s whether a scheduler leads.

Started by ``whalefall web`` and ``whalefall serve`` (never at import, never by
``create_app``); the check itself is ``services.alerts.watch_scheduler``.
"""

from __future__ import annotations

import logging
import threading

from whalefall.runtime import Runtime
from whalefall.services import alerts

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 10.0


class Watchdog:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="whalefall-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(INTERVAL_SECONDS):
            try:
                event = alerts.watch_scheduler(self.runtime)
            except Exception:  # the watchdog's boundary: a database outage must not end it
                log.exception("could not check the scheduler")
                continue
            if event is not None:
                log.warning("alert sent: %s", event.value)
