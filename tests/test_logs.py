"""Process logging: lines go through a queue to one writer thread, and all of them are written."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from whalefall import logs
from whalefall.config import Settings


class Stderr:
    """What the process wrote to stderr so far (pytest's capture), read as a whole."""

    def __init__(self, capsys):
        self.capsys = capsys
        self.text = ""

    def getvalue(self) -> str:
        self.text += self.capsys.readouterr().err
        return self.text


@pytest.fixture
def stderr(capsys):
    """The process's stderr; the root logger's handlers and level put back afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield Stderr(capsys)
    logs.flush()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def settings(tmp_path, **extra) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="test-secret", **extra)


def test_a_line_is_written_by_the_writer_thread_not_the_caller(stderr, tmp_path):
    logs.configure(settings(tmp_path))
    written_by: list[str] = []
    handler = logs._listener.handlers[0]
    emit = handler.emit
    handler.emit = lambda record: (written_by.append(threading.current_thread().name), emit(record))[1]
    logging.getLogger("whalefall.test").info(
        "run success: job %s", "beat", extra={"job_id": "beat", "run_id": 7, "status": "success"}
    )
    logs.flush()
    line = stderr.getvalue().strip()
    assert line.endswith("INFO whalefall.test: run success: job beat [job_id=beat run_id=7 status=success]")
    assert written_by and written_by[0] != threading.current_thread().name


def test_every_queued_line_is_out_once_flushed_and_later_ones_are_written_directly(stderr, tmp_path):
    logs.configure(settings(tmp_path))
    log = logging.getLogger("whalefall.test")
    for i in range(2000):
        log.warning("line %d", i)
    logs.flush()
    assert len(stderr.getvalue().splitlines()) == 2000
    log.warning("after the writer stopped")
    assert stderr.getvalue().splitlines()[-1].endswith("after the writer stopped")


def test_json_lines_keep_the_time_the_line_was_logged(stderr, tmp_path):
    logs.configure(settings(tmp_path, log_json=True))
    record_time: list[float] = []

    class Keep(logging.Filter):
        def filter(self, record):
            record_time.append(record.created)
            return True

    log = logging.getLogger("whalefall.test.json")
    log.addFilter(Keep())
    try:
        log.error("boom", extra={"run_id": 3})
    finally:
        log.filters.clear()
    logs.flush()
    data = json.loads(stderr.getvalue())
    assert data["message"] == "boom" and data["run_id"] == 3 and data["level"] == "ERROR"
    from datetime import datetime

    assert datetime.fromisoformat(data["time"]).timestamp() == pytest.approx(record_time[0], abs=1e-3)
