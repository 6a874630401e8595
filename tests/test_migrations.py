"""The Alembic migrations build exactly the schema the models describe, on every database."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from whalefall.migrate import MIGRATIONS, upgrade
from whalefall.models import Base
from whalefall.models.fleet import include_name


def test_migrated_schema_matches_the_models(any_runtime):
    with any_runtime.db.engine.connect() as conn:
        opts = {"compare_type": False, "include_name": include_name}  # PostgreSQL's monthly partitions
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
    assert diff == []


def _entries(items) -> list[str]:
    # Names of unnamed constraints are None on some databases: sort on the text.
    return sorted(repr(item) for item in items)


def schema_of(engine: sa.Engine) -> dict[str, Any]:
    """The schema as the database reports it: per table, its columns with their types, primary
    key, foreign keys, indexes and unique constraints; and the revision Alembic recorded."""
    with engine.connect() as conn:
        inspector = sa.inspect(conn)  # a fresh one: an inspector caches what it read
        tables = {}
        for table in sorted(inspector.get_table_names()):
            tables[table] = {
                "columns": [
                    (c["name"], c["type"].compile(dialect=engine.dialect), c["nullable"], c.get("default"))
                    for c in inspector.get_columns(table)
                ],
                "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
                "foreign_keys": _entries(
                    (fk["name"], fk["constrained_columns"], fk["referred_table"], fk["referred_columns"])
                    for fk in inspector.get_foreign_keys(table)
                ),
                "indexes": _entries(
                    (ix["name"], ix["column_names"], bool(ix["unique"]))
                    for ix in inspector.get_indexes(table)
                ),
                "unique_constraints": _entries(
                    (uq["name"], uq["column_names"]) for uq in inspector.get_unique_constraints(table)
                ),
            }
        revisions = sorted(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
    return {"tables": tables, "alembic_version": revisions}


def test_upgrading_twice_changes_nothing(any_runtime):
    engine = any_runtime.db.engine  # upgraded once already: the fixture migrated it
    before = schema_of(engine)
    assert "jobs" in before["tables"] and before["tables"]["jobs"]["columns"]
    assert before["alembic_version"] == [ScriptDirectory(str(MIGRATIONS)).get_current_head()]

    upgrade(engine)

    assert schema_of(engine) == before
