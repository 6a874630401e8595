"""A run's log while it runs: lines in memory, the tail kept, flushed in batches."""

from __future__ import annotations

import logging
import threading
import time
from zoneinfo import ZoneInfo

from whalefall import clock, defaults


class RunLog:
    def __init__(self, timezone: str, max_chars: int = defaults.RUN_LOG_MAX_CHARS):
        self._zone = ZoneInfo(timezone)
        self._max = max_chars
        self._lock = threading.Lock()
        self._text = ""
        self._start = 0  # characters dropped from the front
        self._dirty = False
        self._flushed_at = 0.0

    def append(self, line: str) -> None:
        stamp = clock.now().astimezone(self._zone).strftime("%Y-%m-%d %H:%M:%S")
        with self._lock:
            self._text += f"{stamp} {line.rstrip(chr(10))}\n"
            if len(self._text) > self._max:
                cut = len(self._text) - self._max
                self._text = self._text[cut:]
                self._start += cut
            self._dirty = True

    def snapshot(self) -> tuple[str, int]:
        with self._lock:
            self._dirty = False
            return self._text, self._start

    def due(self, every: float = 0.5) -> bool:
        """True when there is something new and the last flush is ``every`` seconds old."""
        if not self._dirty or time.monotonic() - self._flushed_at < every:
            return False
        self._flushed_at = time.monotonic()
        return True


class RunLogHandler(logging.Handler):
    """Sends a task logger's records to its run's log."""

    def __init__(self, runlog: RunLog):
        super().__init__(logging.DEBUG)
        self.runlog = runlog

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.runlog.append(f"{record.levelname} {record.getMessage()}")
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def task_logger(job_id: str, run_id: int, runlog: RunLog) -> logging.Logger:
    """A logger private to one run; its lines also reach the process log."""
    logger = logging.Logger(f"whalefall.jobs.{job_id}.{run_id}", logging.INFO)
    logger.addHandler(RunLogHandler(runlog))
    logger.parent = logging.getLogger("whalefall.jobs")
    return logger
