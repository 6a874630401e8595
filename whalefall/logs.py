"""Process logging: readable lines by default, one JSON object per line with ``log_json``.

Run events carry ``job_id``, ``run_id``, ``status``, ``duration_seconds`` and
``error`` as structured fields (passed with ``extra=``).

A line is handed to a queue and written by one thread of its own (the standard library's
``QueueHandler``/``QueueListener``): a worker that logs its run's end does not wait for stderr,
nor for the nineteen others logging theirs. What is queued is written at exit (:func:`flush`).
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import sys
import time
from datetime import UTC, datetime
from logging.handlers import QueueHandler, QueueListener

from whalefall.config import Settings

STRUCTURED = ("job_id", "run_id", "attempt", "trigger_source", "status", "duration_seconds", "error")


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in STRUCTURED:
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # The stock one formats the local time anew for every line; a busy scheduler logs a
        # thousand lines a second, all within the same second.
        second = int(record.created)
        cached = self._second
        if cached[0] != second:
            cached = self._second = (second, time.strftime(self.default_time_format, self.converter(second)))
        return f"{cached[1]},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(
            f"{k}={getattr(record, k)}" for k in STRUCTURED if getattr(record, k, None) is not None
        )
        return f"{line} [{fields}]" if fields else line


_listener: QueueListener | None = None
_queued: QueueHandler | None = None


def configure(settings: Settings) -> None:
    global _listener, _queued
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if settings.log_json else TextFormatter())
    flush()  # configured again (a second command in one process): the new stream replaces the old
    lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _listener = QueueListener(lines, handler)
    _listener.start()
    _queued = QueueHandler(lines)
    root = logging.getLogger()
    root.handlers[:] = [_queued]
    root.setLevel(settings.log_level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


def flush() -> None:
    """Write every line still queued, stop the writer, and write later lines directly (until
    :func:`configure` queues them again)."""
    global _listener, _queued
    listener, _listener = _listener, None
    queued, _queued = _queued, None
    if listener is None:
        return
    listener.stop()
    root = logging.getLogger()
    root.handlers[:] = [listener.handlers[0] if h is queued else h for h in root.handlers]


atexit.register(flush)
