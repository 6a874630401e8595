"""The fleet's console pages in a real Chromium, against a real ``whalefall serve``.

An admin creates an instance for the local MariaDB through the dialog, tests its
connection (the version comes back as a toast), opens its detail after the
fleet tasks ran, looks at its capacity chart, and deletes it. Screenshots of the
three pages land in ``test-artifacts/screenshots/``. The server, the browser and
the ``visit`` helper are those of ``test_console_browser.py`` (its own server
for this module).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import pytest
import sqlalchemy as sa

from tests.conftest import SERVER_URLS, unavailable
from tests.e2e import test_console_browser as base
from tests.proc import wait_until

pytestmark = pytest.mark.process

# The fixtures of the console's browser tests (a server of this module's own, the browser, visits).
server, browser, visit = base.server, base.browser, base.visit
TZ = base.TZ
NAME = "e2e-mariadb"
DATABASE = "wf_e2e_console_fleet"
VERSION = re.compile(r"\d+\.\d+")


@pytest.fixture
def mariadb() -> Iterator[sa.URL]:
    """The local MariaDB, with a database of this test's own holding a little data."""
    url = sa.engine.make_url(SERVER_URLS["mariadb"])
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE}")
            conn.exec_driver_sql(f"CREATE DATABASE {DATABASE}")
            conn.exec_driver_sql(f"CREATE TABLE {DATABASE}.t (id INT PRIMARY KEY, v VARCHAR(200))")
            conn.exec_driver_sql(
                f"INSERT INTO {DATABASE}.t VALUES (1, REPEAT('x', 200)), (2, REPEAT('y', 200))"
            )
    except Exception as exc:  # noqa: BLE001  (any failure means: no server to point at)
        unavailable(f"MariaDB is not reachable at {url.host}:{url.port}: {exc}")
    try:
        yield url
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE}")
        engine.dispose()


def version_toast(page):
    """A success toast naming the server's version (the API's words, in the page's language)."""
    return page.locator('#wf-toasts .toast[data-kind="success"]', has_text=VERSION).last


def run_task(api, job_id: str, function: str, params: dict | None = None) -> None:
    """Create a job for a built-in fleet task, run it now and wait until it succeeded."""
    api.ok(
        "POST",
        "/jobs",
        {
            "id": job_id,
            "name": job_id,
            "trigger_type": "interval",
            "interval_days": 1,
            "function": function,
            "params": params or {},
        },
    )
    run_id = api.ok("POST", f"/jobs/{job_id}/run")["run_id"]
    run = wait_until(
        lambda: (r := api.ok("GET", f"/runs/{run_id}"))["status"] not in ("queued", "running") and r,
        90,
        what=f"{function} to finish",
    )
    assert run["status"] == "success", run


def test_an_instance_from_the_dialog_to_its_connection_detail_capacity_and_deletion(visit, server, mariadb):
    from playwright.sync_api import expect

    url = mariadb
    api = server["api"]
    v = visit(viewport={"width": 1366, "height": 900})
    page = v.page
    v.sign_in("admin")
    v.go("/scheduler/instances")
    expect(page.locator("h1")).to_have_text("数据库实例")

    # Create it through the dialog.
    page.click("#new-instance")
    expect(page.locator("#instance-dialog")).to_be_visible()
    expect(page.locator("#i-name")).to_be_focused()
    page.fill("#i-name", NAME)
    page.select_option("#i-db_type", "mysql")
    page.fill("#i-host", url.host or "127.0.0.1")
    page.fill("#i-port", str(url.port or 3306))
    page.fill("#i-username", url.username or "root")
    page.fill("#i-password", url.password or "")
    page.fill("#i-tags", "e2e, local")
    page.fill("#i-description", "the MariaDB on this machine")
    page.click("#instance-form button[type=submit]")
    row = page.locator(f'#instances tr[data-name="{NAME}"]')
    expect(row).to_be_visible()
    expect(v.toast()).to_contain_text(NAME)
    expect(row).to_contain_text("未测试")

    # Test its connection: the server's version as a toast and in the row.
    row.locator('button[data-action="test"]').click()
    expect(version_toast(page)).to_be_visible()
    expect(row.locator('[data-f="connection"]')).to_have_text("可连接")
    expect(row.locator('[data-f="version"]')).to_have_text(VERSION)

    # Edit: the password field starts empty (and left empty keeps the stored one).
    row.locator('button[data-action="edit"]').click()
    expect(page.locator("#i-name")).to_have_value(NAME)
    expect(page.locator("#i-password")).to_have_value("")
    expect(page.locator("#i-password-help")).to_be_visible()
    page.fill("#i-description", "the local MariaDB")
    page.click("#instance-form button[type=submit]")
    expect(row).to_contain_text("the local MariaDB")
    row.locator('button[data-action="test"]').click()
    expect(version_toast(page)).to_be_visible()
    expect(row.locator('button[data-action="test"]')).to_be_enabled()
    v.shot("20-instances")

    # The fleet tasks fill its detail and its capacity.
    today = datetime.now(TZ).date().isoformat()
    run_task(api, "e2e_sync", "sync_accounts")
    run_task(api, "e2e_sizes", "collect_database_sizes")
    run_task(api, "e2e_aggregate", "calculate_database_size_aggregations", {"date": today})

    row.locator("a").first.click()
    expect(page.locator("h1")).to_have_text(NAME)
    expect(page.locator("#accounts")).to_contain_text(url.username or "root")
    expect(page.locator("#accounts")).to_contain_text("超级用户")
    expect(page.locator(f'#databases tr[data-database="{DATABASE}"]')).to_be_visible()
    page.click('#instance button[data-action="test"]')
    expect(version_toast(page)).to_be_visible()
    v.shot("21-instance")

    page.click('#databases-title ~ a, a[href*="/scheduler/capacity?instance_id="]')
    expect(page.locator("#c-instance option:checked")).to_have_text(NAME)
    expect(page.locator("#chart svg circle").first).to_be_attached()
    expect(page.locator("#chart svg")).to_contain_text(today)
    expect(page.locator("#largest tbody tr").first).to_be_visible()
    page.select_option("#c-period", "monthly")
    expect(page).to_have_url(re.compile(r"period=monthly"))
    expect(page.locator("#chart-caption")).to_contain_text("每月")
    expect(page.locator("#chart svg circle").first).to_be_attached()
    page.select_option("#c-database", DATABASE)
    expect(page.locator("#chart-caption")).to_contain_text(f"{NAME} / {DATABASE}")
    expect(page.locator("#chart svg circle")).to_have_count(1)
    v.shot("22-capacity")

    # Delete it, after a confirmation that names it.
    v.go("/scheduler/instances")
    row.locator('button[data-action="delete"]').click()
    expect(page.locator("#wf-confirm [data-f=question]")).to_contain_text(NAME)
    page.click("#wf-confirm [data-f=ok]")
    expect(v.toast()).to_be_visible()
    expect(row).to_have_count(0)
