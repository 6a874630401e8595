"""The runner's workers: a fixed number of threads taking runs from one queue.

Built-in tasks run on the worker itself (no thread per run). A thread cannot be killed, so when
the watchdog ends a run whose task will not return (a timeout, a cancel, a lost lease), that
worker is *detached*: a new worker takes its place at once, and the detached one ends when its
task finally returns. The pool's capacity stays what was configured.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

_STOP = object()


class Workers:
    def __init__(self, size: int, name: str = "whalefall-run"):
        self._name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._detached: set[threading.Thread] = set()
        self._closed = False
        self._count = 0
        for _ in range(size):
            self._spawn()

    def _spawn(self) -> None:
        with self._lock:
            self._count += 1
            thread = threading.Thread(target=self._work, name=f"{self._name}_{self._count}", daemon=True)
            self._threads.add(thread)
        thread.start()

    def submit(self, fn: Callable[..., None], *args: Any) -> bool:
        """Queue ``fn(*args)``; False once the pool is shut down."""
        with self._lock:
            if self._closed:
                return False
            self._queue.put((fn, args))
        return True

    def detach(self, thread: threading.Thread) -> None:
        """``thread`` is stuck in a run that has ended: replace it; it ends when its task returns."""
        with self._lock:
            if thread not in self._threads or thread in self._detached or self._closed:
                return
            self._detached.add(thread)
        log.warning(
            "worker %s is left to a task that does not return; a new worker takes its place", thread.name
        )
        self._spawn()

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            fn, args = item
            try:
                fn(*args)
            except Exception:  # the run boundary inside fn records failures; this is a last guard
                log.exception("a worker's item failed")
            with self._lock:
                if me in self._detached:
                    break
        with self._lock:
            self._threads.discard(me)
            self._detached.discard(me)

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Take no more items; the queued ones still run. With ``wait``, join the workers."""
        with self._lock:
            if not self._closed:
                self._closed = True
                for _ in range(len(self._threads) - len(self._detached)):
                    self._queue.put(_STOP)
            threads = set(self._threads) - self._detached
        if wait:
            for thread in threads:
                thread.join(timeout)
