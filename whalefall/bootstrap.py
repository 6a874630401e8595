"""What a fresh install needs before it serves: the schema, the default jobs, the first admin."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import OperationalError

from whalefall.errors import ConfigError
from whalefall.migrate import alembic_config, upgrade
from whalefall.runtime import Runtime
from whalefall.services import defaults, users


def _unreachable(runtime: Runtime, exc: Exception) -> ConfigError:
    url = runtime.db.engine.url.render_as_string(hide_password=True)
    reason = getattr(exc, "orig", None) or exc
    return ConfigError(f"WHALEFALL_DATABASE_URL: cannot use the database at {url}: {reason}")


def migrate_and_seed(runtime: Runtime) -> list[str]:
    try:
        upgrade(runtime.db.engine)
    except OperationalError as exc:
        raise _unreachable(runtime, exc) from None
    return defaults.seed(runtime)


def ensure_schema_current(runtime: Runtime) -> None:
    """Refuse to start a role on a database that `whalefall db upgrade` has not brought up to date."""
    script = ScriptDirectory.from_config(alembic_config(runtime.db.url))
    try:
        with runtime.db.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise _unreachable(runtime, exc) from None
    if current != script.get_current_head():
        raise ConfigError(
            f"the database schema is at {current or 'nothing'}, not {script.get_current_head()}: "
            "run `whalefall db upgrade` first"
        )


def first_admin(runtime: Runtime) -> str | None:
    return users.ensure_first_admin(runtime)


def check_secrets(runtime: Runtime) -> None:
    """Stop start-up when the encryption key cannot read the stored instance passwords."""
    from whalefall.fleet import check_secrets as check

    check(runtime)
