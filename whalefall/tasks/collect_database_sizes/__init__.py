"""``collect_database_sizes``: each active instance's database sizes for today's business day.

Per instance, in the fleet pool: read every database's size on disk (MySQL
InnoDB tablespace files plus other engines' data and index length,
PostgreSQL ``pg_database_size``, SQL Server data and log files of
``sys.master_files``, Oracle data and temp files per tablespace) and the
``fleet_top_tables`` largest tables of each database, leave out the engine's
system databases unless ``include_system_databases``, and replace the day's
rows, the largest tables, the instance total and the inventory in one
transaction. The server's facts (version, uptime, replication role) are
read on the same connection. An instance with a disk capacity whose
forecast says it fills in fewer than ``capacity_alert_days`` raises the
``capacity`` alert (once a day). The business day is that of the run's
scheduled time (or now) in the configured timezone.
"""

from __future__ import annotations

from pydantic import Field

from whalefall import clock
from whalefall.domain.base import Strict
from whalefall.fleet.base import Adapter
from whalefall.fleet.errors import FleetUnreachable
from whalefall.models.fleet import Instance
from whalefall.services import alerts, fleet_forecast, fleet_partitions, fleet_sizes
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

    top = runtime.settings.fleet_top_tables

    def work(instance: Instance, session_id: int) -> Outcome:
        def read(adapter: Adapter):
            return adapter.capacity(top), adapter.system_databases

        (capacity, system), version = read_instance(runtime, instance, read, facts=True)
        sizes = capacity.databases
        if not sizes:
            raise FleetUnreachable(f"{instance.name} listed no databases at all; nothing stored was changed")
        kept = [s for s in sizes if include_system_databases or s.name not in system]
        names = {s.name for s in kept}
        tables = [t for t in capacity.tables if t.database in names]
        counts = fleet_sizes.store(runtime, instance.id, kept, day, tables)
        largest = sorted(
            (s for s in kept if s.size_bytes is not None), key=lambda s: s.size_bytes, reverse=True
        )[:5]
        details = {
            "business_date": day.isoformat(),
            "version": version,
            "largest": {s.name: s.size_bytes for s in largest},
        }
        if capacity.notes:
            details["notes"] = capacity.notes
        forecast = _alert_capacity(ctx, instance.id, day)
        if forecast is not None:
            details["days_until_full"] = forecast["days_until_full"]
        return Outcome(counts=counts, details=details)

    return run_per_instance(ctx, TASK, load_instances(runtime, instance_ids), work)


def _alert_capacity(ctx: TaskContext, instance_id: int, day) -> dict | None:
    """The instance's forecast when it has a disk capacity; raises ``capacity`` when it is short."""
    runtime = ctx.runtime
    with runtime.db.read() as session:
        instance = session.get(Instance, instance_id)
        if instance is None or instance.disk_capacity_bytes is None:
            return None
        forecast = fleet_forecast.instance_forecast(
            session, instance, day, warn_days=runtime.settings.capacity_alert_days, databases=False
        )
    if forecast["warning"]:
        alerts.queue_capacity(runtime, forecast, day, job_id=ctx.job_id, run_id=ctx.run_id)
    return forecast
