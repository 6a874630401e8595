"""``collect_database_sizes``: each active instance's database sizes for today's business day.

Per instance, in the fleet pool: read every database's size (MySQL
``information_schema``, PostgreSQL ``pg_database_size``, SQL Server data files
of ``sys.master_files``, Oracle tablespaces), leave out the engine's system
databases unless ``include_system_databases``, and replace the day's rows,
the instance total and the inventory in one transaction. The business day is
that of the run's scheduled time (or now) in the configured timezone.
"""

from __future__ import annotations

from pydantic import Field

from whalefall import clock
from whalefall.domain.base import Strict
from whalefall.fleet.base import Adapter
from whalefall.fleet.errors import FleetUnreachable
from whalefall.models.fleet import Instance
from whalefall.services import fleet_partitions, fleet_sizes
from whalefall.services.fleet_sessions import Outcome, load_instances, read_instance, run_per_instance
from whalefall.tasks.params import InstanceIds
from whalefall.tasks.registry import TaskContext

TASK = "collect_database_sizes"


class Params(Strict):
    instance_ids: InstanceIds = None
    include_system_databases: bool = Field(False, description="also the engine's own databases")


def run(
    ctx: TaskContext, instance_ids: list[int] | None = None, include_system_databases: bool = False
) -> str:
    runtime = ctx.runtime
    day = fleet_sizes.business_date(runtime, ctx.scheduled_time or clock.now())
    # Before the pool starts: on PostgreSQL the day's monthly partition must exist.
    fleet_partitions.ensure(runtime, [fleet_partitions.month_start(day)])

    def work(instance: Instance, session_id: int) -> Outcome:
        def read(adapter: Adapter):
            return adapter.database_sizes(), adapter.system_databases

        (sizes, system), version = read_instance(runtime, instance, read)
        if not sizes:
            raise FleetUnreachable(f"{instance.name} listed no databases at all; nothing stored was changed")
        kept = [s for s in sizes if include_system_databases or s.name not in system]
        counts = fleet_sizes.store(runtime, instance.id, kept, day)
        largest = sorted(
            (s for s in kept if s.size_bytes is not None), key=lambda s: s.size_bytes, reverse=True
        )[:5]
        return Outcome(
            counts=counts,
            details={
                "business_date": day.isoformat(),
                "version": version,
                "largest": {s.name: s.size_bytes for s in largest},
            },
        )

    return run_per_instance(ctx, TASK, load_instances(runtime, instance_ids), work)
