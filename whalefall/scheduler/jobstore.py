"""APScheduler's SQLAlchemy job store, made safe for our use.

The store holds schedule state only: ``func`` is always the generic runner and
``args`` is ``[job_id]``; the definition lives in ``jobs``. Two changes to the
stock store:

1. A stored job that cannot be restored is **kept and flagged**, not deleted
   (the stock store deletes it, from whichever process reads it).
2. Errors from the database (locked, connection dropped) are retried and then
   reported instead of killing the scheduler thread, which the stock scheduler
   lets happen outside its due-jobs query while ``running`` stays true.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from apscheduler.job import Job as APJob
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import (
    Column,
    ColumnElement,
    Engine,
    Float,
    LargeBinary,
    MetaData,
    Table,
    Unicode,
    and_,
    select,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import SQLAlchemyError

from whalefall import clock

log = logging.getLogger(__name__)

TABLE = "apscheduler_jobs"
RETRIES = 3

T = TypeVar("T")


def jobstore_table(metadata: MetaData) -> Table:
    """The stock store's table, declared here so Alembic manages it too."""
    if TABLE in metadata.tables:
        return metadata.tables[TABLE]
    return Table(
        TABLE,
        metadata,
        # Binary collation on MySQL: job ids are case-sensitive, as in our own tables.
        Column(
            "id",
            Unicode(191).with_variant(
                mysql.VARCHAR(191, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
            ),
            primary_key=True,
        ),
        Column("next_run_time", Float(25), index=True),
        Column("job_state", LargeBinary, nullable=False),
    )


class SafeJobStore(SQLAlchemyJobStore):
    """See the module docstring. ``on_error`` and ``on_broken`` report upwards."""

    def __init__(
        self,
        engine: Engine,
        *,
        on_error: Callable[[str, str | None], None],
        on_broken: Callable[[str, str], None],
    ) -> None:
        super().__init__(engine=engine, tablename=TABLE)
        self._on_error = on_error
        self._on_broken = on_broken

    def _retrying(self, what: str, fn: Callable[[], T], fallback: Callable[[], T]) -> T:
        delay = 0.2
        for attempt in range(1, RETRIES + 1):
            try:
                result = fn()
            except SQLAlchemyError as exc:
                log.warning("job store %s failed (attempt %d/%d): %s", what, attempt, RETRIES, exc)
                if attempt == RETRIES:
                    self._on_error(what, f"job store {what} failed: {exc.__class__.__name__}: {exc}")
                    return fallback()
                time.sleep(delay)
                delay *= 2
            else:
                self._on_error(what, None)
                return result
        return fallback()  # pragma: no cover

    def update_job(self, job: APJob) -> None:
        self._retrying("update", lambda: super(SafeJobStore, self).update_job(job), lambda: None)

    def remove_job(self, job_id: str) -> None:
        self._retrying("remove", lambda: super(SafeJobStore, self).remove_job(job_id), lambda: None)

    def get_next_run_time(self) -> datetime | None:
        def query() -> datetime | None:
            when: datetime | None = super(SafeJobStore, self).get_next_run_time()  # untyped base
            return when

        def soon() -> datetime | None:
            # On failure, wake up again soon rather than sleeping forever or dying.
            return clock.now() + timedelta(seconds=2)

        return self._retrying("next-run-time query", query, soon)

    def get_due_jobs(self, now: datetime) -> list[APJob]:
        return self._retrying("due-jobs query", lambda: super(SafeJobStore, self).get_due_jobs(now), list)

    def _get_jobs(self, *conditions: ColumnElement[bool]) -> list[APJob]:
        jobs = []
        selectable = select(self.jobs_t.c.id, self.jobs_t.c.job_state).order_by(self.jobs_t.c.next_run_time)
        selectable = selectable.where(and_(*conditions)) if conditions else selectable
        with self.engine.begin() as connection:
            for row in connection.execute(selectable):
                try:
                    jobs.append(self._reconstitute_job(row.job_state))
                except Exception as exc:  # noqa: BLE001 - any restore failure is kept and flagged
                    log.error("stored schedule of job %r cannot be restored: %s", row.id, exc)
                    self._on_broken(row.id, f"{exc.__class__.__name__}: {exc}")
        return jobs

    def _reconstitute_job(self, job_state: bytes) -> APJob:
        state = pickle.loads(job_state)  # written only by this process's scheduler, never from a request
        job = APJob.__new__(APJob)
        job.__setstate__(state)
        job._scheduler = self._scheduler
        job._jobstore_alias = self._alias
        return job
