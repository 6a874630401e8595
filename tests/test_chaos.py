"""The chaos run, bounded: three schedulers on PostgreSQL, 150 jobs every second, the leader killed five
times and stalled once, the database cut once — nothing run twice, nothing claimed without the lease,
nothing stuck, every fire time accounted for, no server error. ``bench/chaos.py --minutes N`` runs it
longer."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import SERVER_URLS, unavailable

BENCH = Path(__file__).resolve().parent.parent / "bench" / "chaos.py"


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_kills_a_stall_and_a_database_cut_lose_nothing_and_run_nothing_twice():
    url = SERVER_URLS["postgresql"]
    try:
        sa.create_engine(url, connect_args={"connect_timeout": 3}).connect().close()
    except sa.exc.OperationalError as exc:
        unavailable(f"PostgreSQL is not reachable: {exc.orig}")
    spec = importlib.util.spec_from_file_location("whalefall_bench_chaos", BENCH)
    assert spec is not None and spec.loader is not None
    chaos = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = chaos  # its dataclasses look their module up there
    spec.loader.exec_module(chaos)
    report = chaos.run(minutes=1.25, jobs=150, kills=5, admin_url=url, log=False)
    print("\n".join(report.lines()))
    assert report.events.count("kill") == 5 and "stall" in report.events and "db cut 5 s" in report.events
    assert report.expected_fires > 0
    assert report.duplicates == 0
    assert report.unfenced == 0
    assert report.stuck == 0
    assert report.unaccounted == 0
    assert report.server_errors == 0 and report.api_answers > 0
    assert report.takeovers and max(report.takeovers) < 30
