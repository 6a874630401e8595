"""``backup_whalefall``: back up Whalefall's own database (as ``whalefall backup`` does), keep N days.

The backup is taken while the product runs (SQLite's online backup API, pg_dump or
mysqldump, see ``services.backup``) into ``<data dir>/backups/`` (setting ``backup_dir``); backups
there older than ``keep_days`` (setting ``backup_retention_days``, 30) are removed afterwards.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from whalefall.domain.base import Strict
from whalefall.services import backup
from whalefall.tasks.registry import TaskContext


class Params(Strict):
    keep_days: int | None = Field(
        None, ge=1, le=36_500, description="keep backups this many days (setting backup_retention_days)"
    )


def run(ctx: TaskContext, keep_days: int | None = None) -> dict[str, Any]:
    taken = backup.create(ctx.runtime, keep_days=keep_days)
    ctx.logger.info(
        "backup %s (%d bytes); removed %d old backup(s)", taken.path, taken.size, len(taken.removed)
    )
    return {
        "path": str(taken.path),
        "bytes": taken.size,
        "database_kind": taken.manifest["database_kind"],
        "alembic_revision": taken.manifest["alembic_revision"],
        "removed": [path.name for path in taken.removed],
    }
