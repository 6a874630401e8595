"""What every role of the process shares: settings, the database, the task registry.

Built once per process (``create_app`` or a CLI command) and passed to the
services; nothing here starts a thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import ArgumentError

from whalefall.config import Settings, ensure_secret_key, load_settings, prepare_data_dir
from whalefall.db import Database
from whalefall.errors import ConfigError
from whalefall.tasks.registry import TaskRegistry

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings):
        self.settings = settings
        try:
            prepare_data_dir(settings)
            self.secret_key = ensure_secret_key(settings)
        except OSError as exc:
            raise ConfigError(
                f"WHALEFALL_DATA_DIR: cannot use {settings.data_dir} as the data directory: "
                f"{exc.strerror or exc}"
            ) from None
        try:
            self.db = Database(settings.resolved_database_url)
        except (ArgumentError, ImportError, ValueError) as exc:
            raise ConfigError(f"WHALEFALL_DATABASE_URL: not a usable database URL: {exc}") from None
        self.tasks = TaskRegistry.default()
        # Called after a service changed a job or queued a run, so a scheduler
        # in this same process reacts at once instead of at its next poll.
        self._listeners: list[Callable[[], None]] = []
        self.scheduler: Any = None  # the SchedulerService when this process runs one
        # Short-lived copies services keep per process (the open maintenance windows, …).
        self.caches: dict[str, Any] = {}

    @classmethod
    def from_env(cls, overrides: dict[str, Any] | None = None) -> Runtime:
        return cls(load_settings(overrides))

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def changed(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # a listener must never fail the change that was committed
                log.exception("change listener failed")

    def close(self) -> None:
        self.db.dispose()
