"""``monitor_partition_health``: upkeep and health of the size tables' monthly partitions.

On PostgreSQL: create this and next month's partitions when missing, drop
those past ``partition_retention_months``, and report ``healthy`` or
``warning`` (oversized partitions). The run fails when a partition is still
missing after upkeep, so the failure alerts. On SQLite and MySQL it reports
that partitioning does not apply, and succeeds.
"""

from __future__ import annotations

from typing import Any

from whalefall import clock
from whalefall.domain.base import Strict
from whalefall.errors import PartitionsMissing
from whalefall.services import fleet_partitions, fleet_sizes
from whalefall.tasks.registry import TaskContext


class Params(Strict):
    pass  # no parameters: the retention is the setting partition_retention_months


def run(ctx: TaskContext) -> dict[str, Any]:
    runtime = ctx.runtime
    today = fleet_sizes.business_date(runtime, ctx.scheduled_time or clock.now())
    report = fleet_partitions.maintain(runtime, today)
    for name in report["created"]:
        ctx.logger.info("created partition %s", name)
    for name in report["dropped"]:
        ctx.logger.info(
            "dropped partition %s (past %d months)", name, runtime.settings.partition_retention_months
        )
    ctx.logger.info("partition health: %s — %s", report["status"], report["message"])
    if report["missing"]:
        raise PartitionsMissing(report["message"])
    return {k: report[k] for k in ("status", "message", "created", "dropped", "missing", "oversized")}
