"""The Alembic migrations build exactly the schema the models describe, on every database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from whalefall.models import Base
from whalefall.models.fleet import include_name
from whalefall.scheduler.jobstore import jobstore_table


def test_migrated_schema_matches_the_models(any_runtime):
    jobstore_table(Base.metadata)
    with any_runtime.db.engine.connect() as conn:
        opts = {"compare_type": False, "include_name": include_name}  # PostgreSQL's monthly partitions
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
    assert diff == []


def test_upgrading_twice_changes_nothing(runtime):
    from whalefall.migrate import upgrade

    upgrade(runtime.db.engine)
    upgrade(runtime.db.engine)
