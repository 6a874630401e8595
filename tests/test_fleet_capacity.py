"""Size statistics with explicit dates: periods, averages, changes, idempotence, the business day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from tests.fleet_support import ADMIN, context
from whalefall.domain.instancespec import InstanceCreate
from whalefall.fleet.base import DatabaseSize
from whalefall.models.fleet import SizeAggregation
from whalefall.services import fleet_capacity, fleet_sizes, instances
from whalefall.tasks import calculate_database_size_aggregations as aggregations


def instance(rt, name: str = "db1") -> int:
    return instances.create(
        rt, InstanceCreate(name=name, db_type="postgresql", host="h", username="u"), ADMIN
    ).id


def sizes(rt, iid: int, first: date, days: int, per_day: dict[str, int], growth: dict[str, int]) -> None:
    """``days`` days of sizes from ``first``: each database starts at ``per_day`` and grows by ``growth`` a day."""
    for n in range(days):
        fleet_sizes.store(
            rt,
            iid,
            [DatabaseSize(name, start + n * growth.get(name, 0)) for name, start in per_day.items()],
            first + timedelta(days=n),
        )


def aggregation(rt, iid: int, period: str, scope: str = "database", name: str = "a") -> SizeAggregation:
    with rt.db.read() as session:
        return session.scalar(
            select(SizeAggregation).where(
                SizeAggregation.instance_id == iid,
                SizeAggregation.period == period,
                SizeAggregation.scope == scope,
                SizeAggregation.database_name == ("" if scope == "instance" else name),
            )
        )


@pytest.mark.parametrize(
    "period, day, bounds",
    [
        ("daily", date(2026, 3, 4), (date(2026, 3, 4), date(2026, 3, 4))),
        ("weekly", date(2026, 3, 4), (date(2026, 3, 2), date(2026, 3, 8))),  # a Wednesday: Monday to Sunday
        ("weekly", date(2026, 3, 8), (date(2026, 3, 2), date(2026, 3, 8))),  # a Sunday ends its week
        ("weekly", date(2026, 3, 9), (date(2026, 3, 9), date(2026, 3, 15))),
        ("monthly", date(2024, 2, 29), (date(2024, 2, 1), date(2024, 2, 29))),
        ("monthly", date(2026, 12, 31), (date(2026, 12, 1), date(2026, 12, 31))),
        ("quarterly", date(2026, 5, 20), (date(2026, 4, 1), date(2026, 6, 30))),
        ("quarterly", date(2026, 12, 1), (date(2026, 10, 1), date(2026, 12, 31))),
    ],
)
def test_each_period_is_the_one_containing_the_day(period, day, bounds):
    assert fleet_capacity.period_bounds(period, day) == bounds


def test_the_previous_period_of_a_quarter_crosses_the_year():
    assert fleet_capacity.previous_bounds("quarterly", date(2026, 2, 1)) == (
        date(2025, 10, 1),
        date(2025, 12, 31),
    )


def test_week_month_and_quarter_statistics_and_their_change(runtime):
    iid = instance(runtime)
    # Two weeks: Mon 2026-03-02 .. Sun 2026-03-15; "a" grows 10 a day from 100, "b" stays at 50.
    sizes(runtime, iid, date(2026, 3, 2), 14, {"a": 100, "b": 50}, {"a": 10})
    text = aggregations.run(context(runtime), date="2026-03-15")
    assert text.startswith("成功 1 个，失败 0 个")

    week = aggregation(runtime, iid, "weekly")
    assert (week.period_start, week.period_end) == (date(2026, 3, 9), date(2026, 3, 15))
    assert (week.min_bytes, week.max_bytes, week.sample_count) == (170, 230, 7)
    assert week.avg_bytes == 200 and week.previous_avg_bytes == 130
    assert week.change_bytes == 70 and week.change_percent == pytest.approx(53.85)

    day = aggregation(runtime, iid, "daily")
    assert (day.avg_bytes, day.sample_count, day.change_bytes) == (230, 1, 10)
    month = aggregation(runtime, iid, "monthly")
    assert (month.period_start, month.sample_count, month.avg_bytes) == (date(2026, 3, 1), 14, 165)
    assert month.previous_avg_bytes is None and month.change_bytes is None  # nothing in February
    quarter = aggregation(runtime, iid, "quarterly")
    assert (quarter.period_start, quarter.period_end) == (date(2026, 1, 1), date(2026, 3, 31))

    total = aggregation(runtime, iid, "weekly", scope="instance")
    assert (total.avg_bytes, total.min_bytes, total.max_bytes) == (250, 220, 280)
    assert aggregation(runtime, iid, "weekly", name="b").change_bytes == 0


def test_recomputing_replaces_instead_of_adding(runtime):
    iid = instance(runtime)
    sizes(runtime, iid, date(2026, 3, 2), 3, {"a": 100}, {"a": 1})
    aggregations.run(context(runtime), date="2026-03-04")
    fleet_sizes.store(runtime, iid, [DatabaseSize("a", 1000)], date(2026, 3, 4))  # a re-collection that day
    aggregations.run(context(runtime), date="2026-03-04")
    with runtime.db.read() as session:
        rows = session.scalars(select(SizeAggregation).where(SizeAggregation.period == "weekly")).all()
    assert len(rows) == 2  # one per scope
    assert aggregation(runtime, iid, "weekly").max_bytes == 1000


def test_by_default_yesterday_of_the_business_day_in_the_configured_timezone(runtime):
    iid = instance(runtime)
    sizes(runtime, iid, date(2026, 3, 31), 1, {"a": 7}, {})
    # 17:30 UTC on 31 March is 01:30 on 1 April in Shanghai: yesterday there is 31 March.
    with time_machine.travel(datetime(2026, 3, 31, 17, 30, tzinfo=UTC), tick=False):
        aggregations.run(context(runtime))
    assert aggregation(runtime, iid, "daily").period_start == date(2026, 3, 31)
    assert aggregation(runtime, iid, "quarterly").period_start == date(2026, 1, 1)


def test_a_late_run_aggregates_for_its_scheduled_day(runtime):
    iid = instance(runtime)
    sizes(runtime, iid, date(2026, 6, 9), 1, {"a": 7}, {})
    scheduled = datetime(2026, 6, 9, 20, 0, tzinfo=UTC)  # 04:00 on the 10th in Shanghai
    with time_machine.travel(datetime(2026, 6, 12, tzinfo=UTC), tick=False):
        aggregations.run(context(runtime, scheduled_time=scheduled))
    assert aggregation(runtime, iid, "daily").period_start == date(2026, 6, 9)


def test_bad_parameters_are_refused_before_anything_runs(runtime):
    instance(runtime)
    with pytest.raises(ValueError, match="date"):
        aggregations.run(context(runtime), date="yesterday")
    with pytest.raises(ValueError, match="periods"):
        aggregations.run(context(runtime), periods=["yearly"])


def test_collection_days_follow_the_configured_timezone(runtime):
    # Midnight in Shanghai is 16:00 UTC.
    with time_machine.travel(datetime(2026, 3, 31, 15, 59, tzinfo=UTC), tick=False):
        assert fleet_sizes.business_date(runtime) == date(2026, 3, 31)
    with time_machine.travel(datetime(2026, 3, 31, 16, 0, 1, tzinfo=UTC), tick=False):
        assert fleet_sizes.business_date(runtime) == date(2026, 4, 1)
    runtime.settings.timezone = "UTC"
    with time_machine.travel(datetime(2026, 3, 31, 23, 59, tzinfo=UTC), tick=False):
        assert fleet_sizes.business_date(runtime) == date(2026, 3, 31)


def test_series_and_rankings_for_the_charts(runtime):
    one, two = instance(runtime, "one"), instance(runtime, "two")
    sizes(runtime, one, date(2026, 3, 2), 14, {"a": 100, "b": 5000}, {"a": 10})
    sizes(runtime, two, date(2026, 3, 2), 14, {"c": 300}, {"c": 100})
    for day in ("2026-03-08", "2026-03-15"):
        aggregations.run(context(runtime), date=day)
    with runtime.db.read() as session:
        per_instance = fleet_capacity.series(session, period="weekly")
        per_database = fleet_capacity.series(session, period="weekly", instance_id=one, database="a")
        ranks = fleet_capacity.rankings(session, period="weekly", limit=2)
    assert [(s["instance_name"], len(s["points"])) for s in per_instance] == [("one", 2), ("two", 2)]
    assert [p["avg_bytes"] for p in per_database[0]["points"]] == [130, 200]
    assert ranks["period_start"] == "2026-03-09"
    assert [r["database"] for r in ranks["largest"]] == ["b", "c"]
    assert [r["database"] for r in ranks["fastest_growing"]] == ["c", "a"]
