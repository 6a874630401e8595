"""The fleet's report pages in a real Chromium, against a real ``whalefall serve`` (one per module).

An admin tries the instance dialog's settings before saving them (a port nothing listens on, then
the server's), saves, filters the list; after a real ``sync_accounts`` on the local MariaDB, the
instance page shows a '%' account's privileges as GRANT statements and, switched, as the stored
structure; its risk link opens the report with that account's wildcard-host risk; its sync history
leads to the session's page, and that to its run, whose page leads back.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.conftest import SERVER_URLS, unavailable
from tests.e2e import test_console_browser as base
from tests.e2e.test_console_fleet_browser import VERSION, run_task

pytestmark = pytest.mark.process

server, browser, visit = base.server, base.browser, base.visit


@pytest.fixture
def risky_account() -> Iterator[tuple[sa.URL, str]]:
    """The local MariaDB with a '%' account holding ALL PRIVILEGES on a database of its own."""
    url = sa.engine.make_url(SERVER_URLS["mariadb"])
    name = f"wfe2e_{uuid.uuid4().hex[:6]}"
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001  (any failure means: no server to point at)
        unavailable(f"MariaDB is not reachable at {url.host}:{url.port}: {exc}")
    with engine.begin() as conn:  # (the driver formats with %: '%%' is the host '%')
        conn.exec_driver_sql(f"CREATE DATABASE `{name}`")
        conn.exec_driver_sql(f"CREATE USER `{name}`@'%%' IDENTIFIED BY 'E2e-secret-1'")
        conn.exec_driver_sql(f"GRANT ALL PRIVILEGES ON `{name}`.* TO `{name}`@'%%'")
    try:
        yield url, name
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP USER IF EXISTS `{name}`@'%%'")
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        engine.dispose()


def test_an_instance_tested_before_saving_then_its_grants_risks_and_sync_session(
    visit, server, risky_account
):
    from playwright.sync_api import expect

    url, account = risky_account
    api = server["api"]
    v = visit(viewport={"width": 1366, "height": 900})
    page = v.page
    v.sign_in("admin", landing="/scheduler/instances")

    # The dialog tests what it holds, unsaved: a wrong password first, then the right one.
    page.click("#new-instance")
    page.fill("#i-name", "e2e-reports")
    page.fill("#i-host", url.host or "127.0.0.1")
    page.fill("#i-port", "1")  # nothing listens there: refused at once, whatever else runs on the server
    page.fill("#i-username", url.username or "root")
    page.fill("#i-password", "Typed-password-9")
    page.click("#instance-check")
    result = page.locator("#instance-check-result")
    expect(result.locator('[data-f="check"]')).to_have_text("连接失败")
    expect(result).to_contain_text(":1")
    expect(result).not_to_contain_text("Typed-password-9")
    page.fill("#i-port", str(url.port or 3306))
    page.fill("#i-password", url.password or "")
    page.click("#instance-check")
    expect(result.locator('[data-f="check"]')).to_have_text("可连接")
    expect(result).to_contain_text(VERSION)
    page.fill("#i-tags", "e2e-reports")
    page.click("#instance-form button[type=submit]")
    row = page.locator('#instances tr[data-name="e2e-reports"]')
    expect(row).to_be_visible()
    assert api.ok("GET", "/instances?q=e2e-reports")["total"] == 1  # tested, never saved twice

    # The list's filters: a search that misses, then the tag.
    page.fill("#f-q", "no-such-instance")
    page.click("#instance-filters button[type=submit]")
    expect(page.locator("#instances-none")).to_be_visible()
    page.fill("#f-q", "")
    page.select_option("#f-tag", "e2e-reports")
    page.click("#instance-filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"tag=e2e-reports"))
    expect(row).to_be_visible()

    # After a real account sync, the account's privileges as GRANT statements, or as stored.
    run_task(api, "e2e_reports_sync", "sync_accounts")
    row.locator("a").first.click()
    account_row = page.locator(f"#accounts tr[data-key=\"'{account}'@'%'\"]")
    grants = account_row.locator('[data-view="grants"]')
    expect(grants).to_contain_text(f"GRANT ALL PRIVILEGES ON `{account}`.* TO '{account}'@'%'")
    structured = account_row.locator('[data-view="structured"]')
    expect(structured).to_be_hidden()
    page.click("#privileges-raw")
    expect(structured).to_contain_text(f"databases.{account}: ALL PRIVILEGES")
    expect(grants).to_be_hidden()
    expect(page.locator("#accounts-csv")).to_have_attribute("href", re.compile(r"accounts\?format=csv$"))
    v.shot("31-instance-structured")

    # The risk report of this instance names the '%' account.
    page.click("#risks-link")
    risk = page.locator(f"#risks tr[data-risk=\"wildcard_host\"][data-account=\"'{account}'@'%'\"]")
    expect(risk).to_contain_text("通配主机 % 上有写或管理权限：ALL PRIVILEGES")
    v.shot("32-account-risks")
    page.select_option("#k-kind", "superuser")
    page.click("#risk-filters button[type=submit]")
    expect(risk).to_have_count(0)
    expect(page.locator("#risks-csv")).to_have_attribute("href", re.compile(r"kind=superuser.*format=csv"))

    # Its sync history leads to the session's page, that to the run, and the run back.
    page.go_back()
    page.go_back()
    history = page.locator('#sync-history tr[data-status="success"]').first
    history.locator("a").click()
    expect(page.locator("#sync-session")).to_be_visible()
    expect(page.locator('#session-instances tr[data-status="success"]')).to_contain_text("e2e-reports")
    page.click("#session-run")
    expect(page.locator('[data-f="sync_session"]')).to_be_visible()
    v.shot("30-sync-session-run")
