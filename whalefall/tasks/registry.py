"""The table of built-in tasks, by dotted path.

A task is a package with a function ``run(ctx: TaskContext, **params)`` (its
return value becomes the run's return value) and a pydantic model ``Params``
of what it accepts. Tasks are imported lazily, so a task whose module fails to
import breaks only the jobs that use it — and the services, which sit below
the tasks, check a job's ``params`` through this table without importing one.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import BaseModel

from whalefall.errors import UnknownTask
from whalefall.i18n import catalogue


class TaskEntry(NamedTuple):
    """Where a task's entry point and its parameter model live (``module:attribute``).

    ``template``: the task is also a template of the catalogue (SPEC §7), under its own name.
    """

    run: str
    params: str
    template: bool = False

    @classmethod
    def of(cls, module: str, *, template: bool = False) -> TaskEntry:
        """The usual layout: ``run`` and ``Params`` in the task's package."""
        return cls(f"{module}:run", f"{module}:Params", template)


BUILTIN_TASKS: dict[str, TaskEntry] = {
    "heartbeat": TaskEntry.of("whalefall.tasks.heartbeat"),
    "cleanup_old_logs": TaskEntry.of("whalefall.tasks.cleanup_old_logs"),
    "sync_accounts": TaskEntry.of("whalefall.tasks.sync_accounts"),
    "collect_database_sizes": TaskEntry.of("whalefall.tasks.collect_database_sizes"),
    "calculate_database_size_aggregations": TaskEntry.of(
        "whalefall.tasks.calculate_database_size_aggregations"
    ),
    "monitor_partition_health": TaskEntry.of("whalefall.tasks.monitor_partition_health"),
    # Templates: a job made from one is a built-in job whose params are data (SPEC §7).
    "database_backup": TaskEntry.of("whalefall.tasks.database_backup", template=True),
    "log_cleanup": TaskEntry.of("whalefall.tasks.log_cleanup", template=True),
    "sql_query": TaskEntry.of("whalefall.tasks.sql_query", template=True),
    "http_check": TaskEntry.of("whalefall.tasks.http_check", template=True),
    "backup_whalefall": TaskEntry.of("whalefall.tasks.backup_whalefall"),
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


def _load(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


class TaskRegistry:
    def __init__(self, table: dict[str, TaskEntry]):
        self._table = dict(table)

    @classmethod
    def default(cls) -> TaskRegistry:
        return cls(BUILTIN_TASKS)

    def names(self) -> list[str]:
        return sorted(self._table)

    def templates(self) -> list[str]:
        """The tasks that are templates, in the catalogue's order."""
        return [name for name, entry in self._table.items() if entry.template]

    def __contains__(self, name: object) -> bool:
        return name in self._table

    def describe(self, name: str, lang: str = "zh") -> str:
        return catalogue.text("task", name, lang) if name in catalogue.keys("task") else ""

    def _entry(self, name: str) -> TaskEntry:
        try:
            return self._table[name]
        except KeyError:
            raise UnknownTask(name) from None

    def resolve(self, name: str) -> Callable[..., Any]:
        """The task's entry point; raises :class:`UnknownTask` or the import's error."""
        return _load(self._entry(name).run)

    def params_model(self, name: str) -> type[BaseModel]:
        """The pydantic model of the task's parameters; raises :class:`UnknownTask` or the import's error."""
        model = _load(self._entry(name).params)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"{self._entry(name).params} is not a pydantic model")
        return model

    def check_params(
        self, name: str, params: dict[str, Any] | None, context: dict[str, Any] | None = None
    ) -> BaseModel:
        """``params`` checked by the task's model; raises pydantic's ``ValidationError`` or :class:`UnknownTask`.

        ``context`` reaches the model's validators (``data_dir``: the product's data directory).
        """
        return self.params_model(name).model_validate(params or {}, context=context)

    def call_params(self, name: str, params: dict[str, Any] | None) -> dict[str, Any]:
        """The keyword arguments a run passes to the task: ``params`` checked, with the model's defaults."""
        checked = self.check_params(name, params)
        return {field: getattr(checked, field) for field in type(checked).model_fields}

    def params_schema(self, name: str) -> dict[str, Any]:
        """The JSON Schema of the task's parameters, as the task catalogue shows it (without titles)."""
        return _untitled(self.params_model(name).model_json_schema())


def _untitled(schema: Any) -> Any:
    """``schema`` without pydantic's generated ``title`` keys, which only repeat the field names."""
    if isinstance(schema, dict):
        return {k: _untitled(v) for k, v in schema.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(schema, list):
        return [_untitled(v) for v in schema]
    return schema
