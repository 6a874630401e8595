"""``sync_accounts``: read every active instance's accounts and record what was added, changed, removed.

Per instance, in the fleet pool: connect, read all accounts with their
privileges, drop the excluded ones (the engine's own system accounts unless
``fleet_exclude_system_accounts`` is false, and the globs of
``fleet_account_exclude`` or the ``exclude`` parameter), then compare with
what is stored in one transaction. A failed read — or an answer with no
accounts at all — changes nothing stored for that instance.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from whalefall.domain.base import Strict
from whalefall.fleet.base import Adapter
from whalefall.fleet.errors import FleetUnreachable
from whalefall.models.fleet import Instance
from whalefall.services import fleet_accounts
from whalefall.services.fleet_sessions import Outcome, load_instances, read_instance, run_per_instance
from whalefall.tasks.params import InstanceIds
from whalefall.tasks.registry import TaskContext

TASK = "sync_accounts"


class Params(Strict):
    instance_ids: InstanceIds = None
    exclude: list[Annotated[str, StringConstraints(min_length=1, max_length=320)]] | None = Field(
        None, max_length=200, description="more account globs to leave out, e.g. 'monitor'@'%'"
    )


def _read(adapter: Adapter) -> tuple[list, dict[str, Any]]:
    accounts = adapter.accounts()
    details: dict[str, Any] = {}
    acl_rows = getattr(adapter, "acl_rows", None)
    if acl_rows is not None:  # PostgreSQL: what every role may do through PUBLIC
        from whalefall.fleet.postgresql import public_privileges

        details["public_privileges"] = public_privileges(acl_rows)
    return accounts, details


def run(ctx: TaskContext, instance_ids: list[int] | None = None, exclude: list[str] | None = None) -> str:
    runtime = ctx.runtime
    settings = runtime.settings

    def work(instance: Instance, session_id: int) -> Outcome:
        (accounts, details), version = read_instance(runtime, instance, _read)
        if not accounts:
            raise FleetUnreachable(
                f"{instance.name} answered with no accounts at all; nothing stored was changed "
                f"(may {instance.username!r} read the account catalogue?)"
            )
        patterns = fleet_accounts.exclusion_patterns(settings.fleet_account_exclude, instance.db_type)
        kept = fleet_accounts.keep(
            accounts,
            exclude_system=settings.fleet_exclude_system_accounts,
            patterns=patterns + list(exclude or []),
        )
        counts = fleet_accounts.apply(runtime, instance.id, kept, session_id)
        counts["excluded"] = len(accounts) - len(kept)
        details.update(
            version=version,
            superusers=sorted(a.key for a in kept if a.is_superuser),
            locked=sorted(a.key for a in kept if a.is_locked),
        )
        return Outcome(counts=counts, details=details)

    return run_per_instance(ctx, TASK, load_instances(runtime, instance_ids), work)
