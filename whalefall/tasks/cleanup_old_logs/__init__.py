"""``cleanup_old_logs``: remove log files and run history past their retention.

Log files: ``*.log*`` files under ``<data dir>/logs/`` older than
``log_retention_days`` (by modification time). Runs: finished runs created
before ``run_retention_days`` ago, deleted in batches so a large history never
holds one long lock. Also prunes the job change feed and sign-in attempts.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field
from sqlalchemy import delete, select

from whalefall import clock
from whalefall.domain.base import Strict
from whalefall.models import ACTIVE_STATUSES, JobChange, LoginAttempt, Run
from whalefall.tasks.registry import TaskContext

BATCH = 1000
MAX_DAYS = 36_500  # a hundred years: past that a cutoff date leaves the calendar


class Params(Strict):
    log_days: int | None = Field(
        None, ge=1, le=MAX_DAYS, description="keep log files this many days (setting log_retention_days)"
    )
    run_days: int | None = Field(
        None, ge=1, le=MAX_DAYS, description="keep finished runs this many days (setting run_retention_days)"
    )


def remove_old_files(directory: Path, older_than_days: int, pattern: str = "*.log*") -> list[Path]:
    if not directory.is_dir():
        return []
    cutoff = (clock.now() - timedelta(days=older_than_days)).timestamp()
    removed = []
    for path in directory.rglob(pattern):
        if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def run(ctx: TaskContext, log_days: int | None = None, run_days: int | None = None) -> dict[str, int]:
    settings = ctx.runtime.settings
    log_days = log_days or settings.log_retention_days
    run_days = run_days or settings.run_retention_days
    files = remove_old_files(settings.data_dir / "logs", log_days)
    # A query run's CSV (services.run_results) goes with the run history.
    files += remove_old_files(settings.data_dir / "results", run_days, "run-*.csv")
    ctx.logger.info("removed %d log file(s) older than %d days", len(files), log_days)

    cutoff = clock.now() - timedelta(days=run_days)
    runs_removed = 0
    while not ctx.cancel_requested():
        with ctx.runtime.db.begin() as session:
            ids = list(
                session.scalars(
                    select(Run.id)
                    .where(Run.created_at < cutoff, Run.status.notin_(ACTIVE_STATUSES))
                    .limit(BATCH)
                )
            )
            if not ids:
                break
            session.execute(delete(Run).where(Run.id.in_(ids)))
        runs_removed += len(ids)
    ctx.logger.info("removed %d run(s) older than %d days", runs_removed, run_days)

    with ctx.runtime.db.begin() as session:
        session.execute(delete(JobChange).where(JobChange.at < clock.now() - timedelta(days=1)))
        session.execute(delete(LoginAttempt).where(LoginAttempt.at < clock.now() - timedelta(days=1)))
    return {"log_files_removed": len(files), "runs_removed": runs_removed}
