"""Monthly partitions of the size tables on the product's own PostgreSQL; not applicable elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from tests.conftest import _truncate, make_runtime
from tests.fleet_support import ADMIN, context
from whalefall.domain.instancespec import InstanceCreate
from whalefall.fleet.base import DatabaseSize
from whalefall.runtime import Runtime
from whalefall.services import fleet_partitions, fleet_sizes, instances
from whalefall.tasks import monitor_partition_health

TODAY = date(2026, 11, 28)


@pytest.fixture
def pg_runtime(tmp_path, server_databases) -> Iterator[Runtime]:
    """A runtime whose own database is the PostgreSQL server's (migrated, so partitioned)."""
    rt = make_runtime(tmp_path, server_databases["postgresql"])
    _truncate(rt)
    for part in fleet_partitions.partitions(rt):  # start each test from the migration's two months
        with rt.db.engine.begin() as conn:
            conn.execute(sa.text(f'DROP TABLE "{part.name}"'))
    yield rt
    rt.close()


def names(rt) -> set[str]:
    return {p.name for p in fleet_partitions.partitions(rt)}


@pytest.mark.postgres
def test_upkeep_creates_this_and_next_month_and_drops_those_past_retention(pg_runtime):
    fleet_partitions.ensure(pg_runtime, [date(2025, 10, 1), date(2025, 11, 1), date(2025, 12, 1)])
    report = fleet_partitions.maintain(pg_runtime, TODAY)
    assert set(report["created"]) == {
        "database_sizes_p202611",
        "database_sizes_p202612",
        "instance_sizes_p202611",
        "instance_sizes_p202612",
    }
    # Twelve months before November 2026 is November 2025: October 2025 goes, November stays.
    assert set(report["dropped"]) == {"database_sizes_p202510", "instance_sizes_p202510"}
    assert names(pg_runtime) == {
        f"{t}_p{m}"
        for t in ("database_sizes", "instance_sizes")
        for m in ("202511", "202512", "202611", "202612")
    }
    assert report["status"] == "healthy" and report["missing"] == []
    again = fleet_partitions.maintain(pg_runtime, TODAY)
    assert again["created"] == [] and again["dropped"] == []
    assert fleet_partitions.last_report(pg_runtime)["status"] == "healthy"


@pytest.mark.postgres
def test_health_names_missing_and_oversized_partitions(pg_runtime):
    fleet_partitions.ensure(pg_runtime, [date(2026, 11, 1)])
    report = fleet_partitions.health(pg_runtime, TODAY)
    assert report["status"] == "warning"
    assert report["missing"] == ["database_sizes_p202612", "instance_sizes_p202612"]
    fleet_partitions.ensure(pg_runtime, [date(2026, 12, 1)])
    pg_runtime.settings.partition_warning_size_mb = 0  # every partition with a page is "oversized"
    report = fleet_partitions.health(pg_runtime, TODAY)
    assert report["status"] == "warning" and "database_sizes_p202611" in report["oversized"]


@pytest.mark.postgres
def test_sizes_land_in_their_month_partition_even_a_month_not_yet_created(pg_runtime):
    iid = instances.create(
        pg_runtime, InstanceCreate(name="x", db_type="mysql", host="h", username="u"), ADMIN
    ).id
    day = date(2027, 5, 3)
    fleet_partitions.ensure(
        pg_runtime, [fleet_partitions.month_start(day)]
    )  # what collect_database_sizes does
    fleet_sizes.store(pg_runtime, iid, [DatabaseSize("a", 10)], day)
    with pg_runtime.db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM database_sizes_p202705")).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM instance_sizes_p202705")).scalar() == 1


@pytest.mark.postgres
def test_the_task_reports_and_logs_what_it_did(pg_runtime):
    import time_machine

    with time_machine.travel(datetime(2026, 11, 28, 16, 30, tzinfo=UTC), tick=False):  # 00:30 on the 29th
        result = monitor_partition_health.run(context(pg_runtime))
    assert result["status"] == "healthy" and len(result["created"]) == 4


def test_on_sqlite_partitioning_does_not_apply_and_the_task_succeeds(runtime):
    result = monitor_partition_health.run(context(runtime))
    assert result["status"] == "not_applicable"
    assert "PostgreSQL" in result["message"] and "sqlite" in result["message"]
    assert fleet_partitions.ensure(runtime, [TODAY]) == []
