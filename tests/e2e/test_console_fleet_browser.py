"""The fleet's console pages in a real Chromium, against a real ``whalefall serve``.

An admin creates an instance for the local MariaDB through the dialog, tests its
connection (the version comes back as a toast), opens its detail after the
fleet tasks ran, looks at its capacity chart (drawn by ECharts: the test reads
the chart's option back and compares it with the API's figures, and hovers a
point for its tooltip), and deletes it. Screenshots of the three pages land in
``test-artifacts/screenshots/``. The server, the browser and
the ``visit`` helper are those of ``test_console_browser.py`` (its own server
for this module).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import pytest
import sqlalchemy as sa

from tests.e2e import test_console_browser as base
from tests.fleet_support import mariadb_database
from tests.proc import wait_until
from whalefall.console.fleet import size_text

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
    with mariadb_database(
        DATABASE,
        f"CREATE TABLE {DATABASE}.t (id INT PRIMARY KEY, v VARCHAR(200))",
        f"INSERT INTO {DATABASE}.t VALUES (1, REPEAT('x', 200)), (2, REPEAT('y', 200))",
    ) as url:
        yield url


def version_toast(page):
    """A success toast naming the server's version (the API's words, in the page's language)."""
    return page.locator('#wf-toasts .toast[data-kind="success"]', has_text=VERSION).last


# The chart's ECharts instance: its period starts and, per line, its name and points.
# None until the page's scripts (ECharts is deferred) have drawn it: waited for, not an error.
CHART = "(typeof echarts === 'undefined' ? null : echarts.getInstanceByDom(document.getElementById('chart')))"
CHART_DATA = f"""() => {{
  const chart = {CHART};
  if (!chart) return null;
  const option = chart.getOption();
  return {{dates: option.xAxis ? option.xAxis[0].data : [],
          series: (option.series || []).map(s => ({{name: s.name, data: s.data}}))}};
}}"""


def expected_chart(api, query: str) -> dict:
    """What the chart should hold for GET /capacity?query: every period start, and each line's
    average size on it (None where it has none)."""
    data = api.ok("GET", "/capacity?top=10&" + query)
    dates = sorted({p["period_start"] for s in data["series"] for p in s["points"]})
    series = []
    for s in data["series"]:
        sizes = {p["period_start"]: p["avg_bytes"] for p in s["points"]}
        name = f"{s['instance_name']} / {s['database']}" if s.get("database") else s["instance_name"]
        series.append({"name": name, "data": [sizes.get(d) for d in dates]})
    assert any(v is not None for s in series for v in s["data"]), data
    return {"dates": dates, "series": series}


def chart_shows(page, expected: dict, what: str) -> None:
    """Wait until the chart holds ``expected`` (the page fetches and draws asynchronously)."""
    try:
        wait_until(lambda: page.evaluate(CHART_DATA) == expected, 30, what=what)
    except AssertionError:
        assert page.evaluate(CHART_DATA) == expected, what  # the difference
        raise


def hover_point(page, series: int, index: int, value: int):
    """Move the mouse onto one point of the chart; returns the tooltip."""
    x, y = page.evaluate(
        f"([s, i, v]) => {CHART}.convertToPixel({{seriesIndex: s}}, [i, v])", [series, index, value]
    )
    box = page.locator("#chart").bounding_box()
    page.mouse.move(box["x"] + x, box["y"] + y)
    return page.locator("#chart .wf-chart-tooltip")


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
    # Reduced motion: the chart draws without animating, so the screenshots show its lines.
    v = visit(viewport={"width": 1366, "height": 900}, reduced_motion="reduce")
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

    # An instance with no figures yet, for the empty state.
    bare = api.ok(
        "POST",
        "/instances",
        {"name": "e2e-bare", "db_type": "mysql", "host": "127.0.0.1", "port": 1, "username": "nobody"},
    )
    bare_id = bare.get("id") or bare["instance"]["id"]

    page.click('#databases-title ~ a, a[href*="/scheduler/capacity?instance_id="]')
    expect(page.locator("#c-instance option:checked")).to_have_text(NAME)
    # Words the script writes as it starts come from the text table (not its keys).
    expect(page.locator("#c-database option").first).to_have_text("整个实例（全部数据库）")
    iid = page.locator("#c-instance").input_value()
    daily = expected_chart(api, f"period=daily&instance_id={iid}")
    assert today in daily["dates"] and [s["name"] for s in daily["series"]] == [NAME]
    chart_shows(page, daily, "the daily chart of the instance")
    expect(page.locator("#chart canvas")).to_be_visible()
    expect(page.locator("#chart-empty")).to_be_hidden()
    expect(page.locator("#largest tbody tr").first).to_be_visible()
    # The tooltip of today's point: the date, the line, its size and change in the page's words.
    index = daily["dates"].index(today)
    value = daily["series"][0]["data"][index]
    tip = hover_point(page, 0, index, value)
    expect(tip).to_be_visible()
    expect(tip.locator(".wf-chart-tip-date")).to_have_text(today)
    expect(tip.locator(f'[data-series="{NAME}"]')).to_contain_text(f"平均大小：{size_text(value)}")
    expect(tip.locator(f'[data-series="{NAME}"]')).to_contain_text("变化：")
    v.shot("23-capacity-tooltip", full_page=False)

    page.select_option("#c-period", "monthly")
    expect(page).to_have_url(re.compile(r"period=monthly"))
    expect(page.locator("#chart-caption")).to_contain_text("每月")
    chart_shows(page, expected_chart(api, f"period=monthly&instance_id={iid}"), "the monthly chart")
    page.select_option("#c-database", DATABASE)
    expect(page.locator("#chart-caption")).to_contain_text(f"{NAME} / {DATABASE}")
    one = expected_chart(api, f"period=monthly&instance_id={iid}&database={DATABASE}")
    assert [s["name"] for s in one["series"]] == [f"{NAME} / {DATABASE}"]
    assert len(one["dates"]) == 1 and one["series"][0]["data"][0] > 0
    chart_shows(page, one, "the chart of the one database")
    v.shot("22-capacity", full_page=False)  # a full-page shot of this page came out stale

    # No figures: the empty state instead of a chart.
    page.select_option("#c-instance", str(bare_id))
    expect(page.locator("#chart-caption")).to_contain_text("e2e-bare")
    expect(page.locator("#chart-empty")).to_be_visible()
    expect(page.locator("#chart")).to_be_hidden()
    wait_until(
        lambda: page.evaluate(CHART_DATA) == {"dates": [], "series": []}, 30, what="the chart to clear"
    )

    # In English: the same lines, and the tooltip in English words.
    page.select_option("#c-instance", iid)
    expect(page.locator("#chart-caption")).to_contain_text(NAME)
    page.click("#wf-lang")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#chart-caption")).to_contain_text("Size of")
    chart_shows(page, expected_chart(api, f"period=monthly&instance_id={iid}"), "the chart in English")
    tip = hover_point(page, 0, 0, page.evaluate(CHART_DATA)["series"][0]["data"][0])
    expect(tip.locator(f'[data-series="{NAME}"]')).to_contain_text("Average size: ")
    expect(tip.locator(f'[data-series="{NAME}"]')).to_contain_text("Change: ")

    # The system turns dark: the chart repaints in the dark theme's colours.
    body_colour = (
        "() => getComputedStyle(document.documentElement).getPropertyValue('--bs-body-color').trim()"
    )
    light = page.evaluate(body_colour)
    text_colour = f"() => {CHART}.getOption().textStyle.color"
    assert page.evaluate(text_colour) == light
    page.emulate_media(color_scheme="dark")
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
    dark = page.evaluate(body_colour)
    assert dark != light
    wait_until(lambda: page.evaluate(text_colour) == dark, 30, what="the chart in dark colours")
    v.shot("24-capacity-dark", full_page=False)
    page.emulate_media(color_scheme="light")

    page.click("#wf-lang")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    api.ok("DELETE", f"/instances/{bare_id}")

    v.shot("22-capacity", full_page=False)  # a full-page shot of this page came out stale

    # Delete it, after a confirmation that names it.
    v.go("/scheduler/instances")
    row.locator('button[data-action="delete"]').click()
    expect(page.locator("#wf-confirm [data-f=question]")).to_contain_text(NAME)
    page.click("#wf-confirm [data-f=ok]")
    expect(v.toast()).to_be_visible()
    expect(row).to_have_count(0)
