"""``calculate_database_size_aggregations``: daily, weekly, monthly and quarterly size statistics.

For the business day before the run (``date`` to recompute another one):
the day itself, its Monday–Sunday week, its month and its quarter, per
database and per instance — average, maximum, minimum, sample count, and
the change against the previous period. Recomputing replaces, so re-runs
are harmless.
"""

from __future__ import annotations

from datetime import date as Date
from datetime import timedelta
from typing import Literal

from pydantic import Field

from whalefall import clock
from whalefall.domain.base import Strict
from whalefall.errors import InvalidInput
from whalefall.models.fleet import Instance
from whalefall.services import fleet_capacity, fleet_sizes
from whalefall.services.fleet_sessions import Outcome, load_instances, run_per_instance
from whalefall.tasks.params import InstanceIds
from whalefall.tasks.registry import TaskContext

TASK = "calculate_database_size_aggregations"


class Params(Strict):
    date: Date | None = Field(
        None, description="the business day to recompute (YYYY-MM-DD); yesterday by default"
    )
    periods: list[Literal["daily", "weekly", "monthly", "quarterly"]] | None = Field(
        None, min_length=1, max_length=4, description="which periods; all four by default"
    )
    instance_ids: InstanceIds = None


def target_day(ctx: TaskContext, date: str | Date | None) -> Date:
    if date:
        try:
            return Date.fromisoformat(str(date))
        except ValueError:
            raise InvalidInput(
                f"date: expected YYYY-MM-DD, got {date!r}",
                field="date",
                key="date_not_day",
                params={"value": date},
            ) from None
    return fleet_sizes.business_date(ctx.runtime, ctx.scheduled_time or clock.now()) - timedelta(days=1)


def run(
    ctx: TaskContext,
    date: str | Date | None = None,
    periods: list[str] | None = None,
    instance_ids: list[int] | None = None,
) -> str:
    day = target_day(ctx, date)
    chosen = tuple(periods or fleet_capacity.PERIODS)
    unknown = [p for p in chosen if p not in fleet_capacity.PERIODS]
    if unknown:
        known = ", ".join(fleet_capacity.PERIODS)
        raise InvalidInput(
            f"periods: unknown {unknown} (known: {known})",
            field="periods",
            key="periods_unknown",
            params={"unknown": ", ".join(unknown), "known": known},
        )
    ctx.logger.info("aggregating sizes for business day %s (%s)", day, ", ".join(chosen))

    def work(instance: Instance, session_id: int) -> Outcome:
        counts = fleet_capacity.aggregate(ctx.runtime, instance.id, day, chosen)
        return Outcome(counts=counts, details={"business_date": day.isoformat(), "periods": list(chosen)})

    return run_per_instance(ctx, TASK, load_instances(ctx.runtime, instance_ids), work)
