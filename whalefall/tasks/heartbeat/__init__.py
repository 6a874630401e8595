"""``heartbeat``: record that the scheduler is alive; the cheapest job there is.

The record is the time of the latest heartbeat, written at most once a second per runtime (its
database): health reads it in seconds, and a thousand heartbeat jobs a second (the throughput
benchmark) need not queue a thousand writes of the same row behind the runs they are recorded in.
"""

from __future__ import annotations

import threading
import time
import weakref

from whalefall import clock
from whalefall.domain.base import Strict
from whalefall.services import state
from whalefall.tasks.registry import TaskContext

KEY = "heartbeat"
EVERY_SECONDS = 1.0
_written: weakref.WeakKeyDictionary[object, float] = weakref.WeakKeyDictionary()  # runtime → monotonic
_lock = threading.Lock()


class Params(Strict):
    pass  # no parameters


def run(ctx: TaskContext) -> str:
    now = clock.now().isoformat()
    with _lock:
        at = time.monotonic()
        due = at - _written.get(ctx.runtime, -EVERY_SECONDS) >= EVERY_SECONDS
        if due:
            _written[ctx.runtime] = at
    if due:
        state.put(ctx.runtime, KEY, now)
    return now
