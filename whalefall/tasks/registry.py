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

BUILTIN_TASKS: dict[str, str] = {
    "heartbeat": "whalefall.tasks.heartbeat:run",
    "cleanup_old_logs": "whalefall.tasks.cleanup_old_logs:run",
    "sync_accounts": "whalefall.tasks.sync_accounts:run",
    "collect_database_sizes": "whalefall.tasks.collect_database_sizes:run",
    "calculate_database_size_aggregations": "whalefall.tasks.calculate_database_size_aggregations:run",
    "monitor_partition_health": "whalefall.tasks.monitor_partition_health:run",
}

DESCRIPTIONS: dict[str, dict[str, str]] = {
    "heartbeat": {"zh": "记录调度器存活时间", "en": "Record that the scheduler is alive"},
    "cleanup_old_logs": {"zh": "清理过期的日志文件和运行记录", "en": "Remove old log files and run history"},
    "sync_accounts": {
        "zh": "同步各实例的账户、角色与权限，记录新增、变更和删除",
        "en": "Sync every instance's accounts, roles and privileges; record what was added, changed, removed",
    },
    "collect_database_sizes": {
        "zh": "采集各实例每个数据库的容量（每个业务日一条）",
        "en": "Collect each database's size on every instance (one row per business day)",
    },
    "calculate_database_size_aggregations": {
        "zh": "按日、周、月、季度统计数据库与实例容量（平均、最大、最小、增长）",
        "en": "Daily, weekly, monthly and quarterly size statistics per database and instance",
    },
    "monitor_partition_health": {
        "zh": "维护容量表的月度分区（创建、清理）并检查健康状态",
        "en": "Create and drop the size tables' monthly partitions and check their health",
    },
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
        return DESCRIPTIONS.get(name, {}).get(lang, "")

    def resolve(self, name: str) -> Callable[..., Any]:
        """The task's entry point; raises :class:`UnknownTask` or the import's error."""
        try:
            path = self._table[name]
        except KeyError:
            raise UnknownTask(name) from None
        module_name, _, attr = path.partition(":")
        return getattr(importlib.import_module(module_name), attr)
