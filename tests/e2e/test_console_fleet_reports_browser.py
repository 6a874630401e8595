"""Fleet reports in a real Chromium (SPEC §14): an instance's facts and its last failed collection
on the instances list, "test all", the disk capacity from the dialog, and "days until full" in
red on the instance's page and the capacity page, with its largest tables.

The local MariaDB is collected for real (in this process, on the served install's database);
the size history the forecast fits is written by the test, dated explicitly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import delete

from tests.e2e import test_console_browser as base
from tests.fleet_support import mariadb_database
from tests.proc import SECRET_KEY
from whalefall.models.fleet import InstanceSize
from whalefall.runtime import Runtime
from whalefall.services import fleet_sizes
from whalefall.tasks import collect_database_sizes
from whalefall.tasks.registry import TaskContext

pytestmark = pytest.mark.process

browser, visit = base.browser, base.visit
DATABASE = "wf_e2e_fleet_reports"
GiB = 1024**3


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("reports")
    with base.serving(root) as served:
        served["data_dir"] = root / "data"
        yield served


@pytest.fixture(scope="module")
def server(served):
    return served


@pytest.fixture
def mariadb() -> Iterator[sa.URL]:
    with mariadb_database(
        DATABASE,
        f"CREATE TABLE {DATABASE}.orders (id INT PRIMARY KEY, pad VARCHAR(500))",
        f"INSERT INTO {DATABASE}.orders SELECT seq, REPEAT('o', 500) FROM seq_1_to_2000",
    ) as url:
        yield url


def test_facts_failures_test_all_disk_capacity_and_days_until_full_in_the_console(visit, served, mariadb):
    from playwright.sync_api import expect

    api = served["api"]
    maria = api.ok(
        "POST",
        "/instances",
        {
            "name": "e2e-maria",
            "db_type": "mysql",
            "host": mariadb.host,
            "port": mariadb.port,
            "username": mariadb.username,
            "password": mariadb.password or "",
        },
    )
    api.ok(
        "POST",
        "/instances",
        {"name": "e2e-wrong", "db_type": "mysql", "host": "127.0.0.1", "port": 1, "username": "nobody"},
    )
    rt = Runtime.from_env({"data_dir": served["data_dir"], "secret_key": SECRET_KEY})
    try:
        ctx = TaskContext(
            runtime=rt,
            run_id=0,
            job_id="e2e",
            scheduled_time=None,
            attempt=1,
            logger=logging.getLogger("e2e"),
            cancel_requested=lambda: False,
        )
        assert "1" in collect_database_sizes.run(ctx)  # one succeeded, one failed
        today = fleet_sizes.business_date(rt)
        # The history the forecast fits: 1.0, 1.1, 1.2 GiB on the last three days (today's replaced).
        with rt.db.begin() as session:
            session.execute(delete(InstanceSize).where(InstanceSize.instance_id == maria["id"]))
            for back in range(3):
                session.add(
                    InstanceSize(
                        instance_id=maria["id"],
                        collected_date=today - timedelta(days=2 - back),
                        total_bytes=int((1.0 + back / 10) * GiB),
                        database_count=1,
                        collected_at=datetime.now(base.TZ),
                    )
                )
    finally:
        rt.close()

    v = visit(viewport={"width": 1366, "height": 900}, reduced_motion="reduce")
    page = v.page
    v.sign_in("admin", landing="/scheduler/instances")
    wrong = page.locator('#instances tr[data-name="e2e-wrong"]')
    expect(wrong.locator('[data-f="failed_task"][data-task="collect_database_sizes"]')).to_contain_text(
        "上次容量采集失败"
    )
    row = page.locator('#instances tr[data-name="e2e-maria"]')
    expect(row.locator('[data-f="server_role"]')).to_have_text("主库")
    expect(row.locator('[data-f="uptime"]')).to_contain_text("已运行")

    # The disk capacity, in GiB, from the dialog.
    row.locator('button[data-action="edit"]').click()
    expect(page.locator("#i-disk_capacity_bytes")).to_have_value("")
    page.fill("#i-disk_capacity_bytes", "2")
    page.click("#instance-form button[type=submit]")
    expect(v.toast()).to_contain_text("e2e-maria")
    assert api.ok("GET", f"/instances/{maria['id']}")["disk_capacity_bytes"] == 2 * GiB

    page.click("#test-all")
    expect(v.toast()).to_contain_text("1 个连接成功，1 个失败")
    v.shot("24-instances-facts")

    # The instance: 0.8 GiB left at 0.1 GiB a day is 8 days — in red — and its largest tables.
    page.locator('#instances tr[data-name="e2e-maria"] a').first.click()
    days = page.locator('#forecast [data-f="days_until_full"]')
    expect(days).to_contain_text("8.0 天")
    expect(days).to_have_attribute("data-warning", "true")
    expect(days).to_have_class("text-danger fw-semibold")
    expect(page.locator(f'#largest-tables tr[data-table="{DATABASE}.orders"]')).to_be_visible()
    v.shot("25-instance-forecast")

    # The capacity page: the forecast table, closest to full first, the warning row red.
    v.go(f"/scheduler/capacity?instance_id={maria['id']}")
    first = page.locator("#forecast tbody tr").first
    expect(first).to_have_attribute("data-instance-id", str(maria["id"]))
    expect(first).to_have_class("table-danger")
    expect(first.locator('[data-f="days_until_full"]')).to_contain_text("8.0 天")
    expect(page.locator(f'#forecast tr[data-database="{DATABASE}"]')).to_be_visible()
    v.shot("26-capacity-forecast", full_page=False)
