"""What every role of the process shares: settings, the database, the task registry.

Built once per process (``create_app`` or a CLI command) and passed to the
services; nothing here starts a thread.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import ArgumentError

from whalefall.config import Settings, ensure_secret_key, load_settings, prepare_data_dir
from whalefall.db import Database
from whalefall.errors import ConfigError
from whalefall.sandbox.isolation import Sandbox
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

    @functools.cached_property
    def sandbox(self) -> Sandbox:
        """Where this process runs code and shell jobs (``isolation.Sandbox``), from the settings.

        Hidden from the jobs: the data dir, the package, the configuration file, the secret key
        and SQLite files wherever they are, the server user's home, and the admin's own list.
        """
        settings = self.settings
        hidden = [settings.data_dir.resolve(), Path(__file__).resolve().parent]
        for variable in ("WHALEFALL_CONFIG", "WHALEFALL_SECRET_KEY_FILE", "WHALEFALL_ENCRYPTION_KEY_FILE"):
            if os.environ.get(variable):
                hidden.append(Path(os.environ[variable]).resolve())
        database = self.db.engine.url
        if database.get_backend_name() == "sqlite" and database.database not in (None, "", ":memory:"):
            path = Path(database.database).resolve()
            hidden += [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        home = Path.home().resolve()
        if home != Path("/"):  # /root, /home/dba, /var/lib/whalefall …
            hidden.append(home)
        hidden += settings.path_list(settings.sandbox_hidden_paths)
        return Sandbox(
            mode=settings.sandbox,
            network=settings.sandbox_network,
            uid_base=settings.sandbox_uid_base,
            gid=settings.sandbox_gid,
            hidden=tuple(dict.fromkeys(hidden)),
            writable=tuple(settings.path_list(settings.sandbox_writable_paths)),
        )

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
