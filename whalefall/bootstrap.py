"""What a fresh install needs before it serves: the schema, the default jobs, the first admin."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from whalefall.errors import ConfigError
from whalefall.migrate import alembic_config, upgrade
from whalefall.runtime import Runtime
from whalefall.services import defaults, users


def migrate_and_seed(runtime: Runtime) -> list[str]:
    upgrade(runtime.db.engine)
    return defaults.seed(runtime)


def ensure_schema_current(runtime: Runtime) -> None:
    """Refuse to start a role on a database that `whalefall db upgrade` has not brought up to date."""
    script = ScriptDirectory.from_config(alembic_config(runtime.db.url))
    with runtime.db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != script.get_current_head():
        raise ConfigError(f"the database schema is at {current or 'nothing'}, not {script.get_current_head()}: "
                          "run `whalefall db upgrade` first")


def first_admin(runtime: Runtime) -> str | None:
    return users.ensure_first_admin(runtime)
