"""The database fleet: one adapter per engine, behind :class:`whalefall.fleet.base.Adapter`.

Adapters are imported when first used, so a missing or broken driver breaks
only the instances of its engine.
"""

from __future__ import annotations

import importlib

from whalefall.fleet.base import Adapter, Target

ADAPTERS: dict[str, str] = {
    "mysql": "whalefall.fleet.mysql:MySQLAdapter",
    "postgresql": "whalefall.fleet.postgresql:PostgreSQLAdapter",
    "sqlserver": "whalefall.fleet.sqlserver:SQLServerAdapter",
    "oracle": "whalefall.fleet.oracle:OracleAdapter",
}


def adapter_class(db_type: str) -> type[Adapter]:
    module_name, _, attr = ADAPTERS[db_type].partition(":")
    return getattr(importlib.import_module(module_name), attr)


def open_adapter(target: Target) -> Adapter:
    """An adapter for ``target``, not yet connected: use it as ``with open_adapter(t) as a:``."""
    return adapter_class(target.db_type)(target)


def check_secrets(runtime) -> int:
    """See :func:`whalefall.fleet.crypto.check_secrets`: call at start-up, after migrating."""
    from whalefall.fleet.crypto import check_secrets as check

    return check(runtime)
