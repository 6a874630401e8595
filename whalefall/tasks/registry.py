"""The table of built-in tasks, by dotted path.

A task is a function ``run(ctx: TaskContext, **params)``; its return value
becomes the run's return value. Tasks are imported lazily, so a task whose
module fails to import breaks only the jobs that use it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from whalefall.errors import UnknownTask
from whalefall.i18n import catalogue

BUILTIN_TASKS: dict[str, str] = {
    "heartbeat": "whalefall.tasks.heartbeat:run",
    "cleanup_old_logs": "whalefall.tasks.cleanup_old_logs:run",
    "sync_accounts": "whalefall.tasks.sync_accounts:run",
    "collect_database_sizes": "whalefall.tasks.collect_database_sizes:run",
    "calculate_database_size_aggregations": "whalefall.tasks.calculate_database_size_aggregations:run",
    "monitor_partition_health": "whalefall.tasks.monitor_partition_health:run",
}


@dataclass
class TaskContext:
    """What a built-in task gets besides its params."""

    runtime: Any
    run_id: int
    job_id: str
    scheduled_time: datetime | None
    attempt: int
    logger: logging.Logger
    cancel_requested: Callable[[], bool] = field(default=lambda: False)


class TaskRegistry:
    def __init__(self, table: dict[str, str]):
        self._table = dict(table)

    @classmethod
    def default(cls) -> TaskRegistry:
        return cls(BUILTIN_TASKS)

    def names(self) -> list[str]:
        return sorted(self._table)

    def __contains__(self, name: object) -> bool:
        return name in self._table

    def describe(self, name: str, lang: str = "zh") -> str:
        return catalogue.text("task", name, lang) if name in catalogue.keys("task") else ""

    def resolve(self, name: str) -> Callable[..., Any]:
        """The task's entry point; raises :class:`UnknownTask` or the import's error."""
        try:
            path = self._table[name]
        except KeyError:
            raise UnknownTask(name) from None
        module_name, _, attr = path.partition(":")
        return getattr(importlib.import_module(module_name), attr)
