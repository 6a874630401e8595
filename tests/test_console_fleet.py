"""The fleet's console pages through Flask's test client: who sees what, escaping, the data shown.

The dialog, the connection test and the chart in a real browser are in
``tests/e2e/test_console_fleet_browser.py``.
"""

from __future__ import annotations

import re
from datetime import date

import pytest

from tests.fleet_support import ADMIN
from whalefall.console.fleet import size_text
from whalefall.domain.instancespec import InstanceCreate
from whalefall.fleet.base import DatabaseSize
from whalefall.models.fleet import AccountChange, InstanceAccount
from whalefall.services import fleet_sizes, instances

XSS = "<img src=x onerror=alert(1)>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
PAGES = ["/scheduler/instances", "/scheduler/instances/{id}", "/scheduler/capacity"]
WRITE_MARKERS = (
    'data-action="edit"',
    'data-action="delete"',
    'id="new-instance"',
    'id="instance-dialog"',
    'id="instances-data"',
)


def make_instance(runtime, name=XSS, **fields) -> int:
    data = {
        "name": name,
        "db_type": "mysql",
        "host": "db.example",
        "username": "root",
        "password": "s3cret-pw",
        "tags": [XSS, "prod"],
        "description": XSS,
        **fields,
    }
    return instances.create(runtime, InstanceCreate(**data), ADMIN).id


def with_accounts_and_sizes(runtime, iid: int) -> None:
    with runtime.db.begin() as session:
        session.add(
            InstanceAccount(
                instance_id=iid,
                account_key=f"'{XSS}'@'%'",
                username=XSS,
                host="%",
                is_superuser=True,
                is_locked=True,
                can_login=True,
                attributes={"plugin": XSS},
                roles=["r_app"],
                privileges={"global": ["SELECT"], "databases": {"shop": ["INSERT", XSS]}},
            )
        )
        session.add(
            AccountChange(
                instance_id=iid,
                account_key="'app'@'%'",
                username="app",
                change_type="changed",
                diff={
                    "is_locked": {"before": False, "after": True},
                    "privileges": {"added": ["databases.shop: DELETE"], "removed": [XSS]},
                },
            )
        )
        session.add(
            AccountChange(
                instance_id=iid, account_key="'gone'@'%'", username="gone", change_type="removed", diff={}
            )
        )
    fleet_sizes.store(
        runtime, iid, [DatabaseSize("shop", 3 * 1024 * 1024), DatabaseSize(XSS, 2048)], date(2026, 3, 2)
    )


def html_of(client, path) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


@pytest.mark.parametrize("path", PAGES)
def test_a_signed_out_visitor_is_sent_to_sign_in(client, runtime, path):
    response = client.get(path.format(id=make_instance(runtime)))
    assert response.status_code == 302
    assert response.location.startswith("/auth/login?next=")


@pytest.mark.parametrize("name", ["viewer", "operator"])
@pytest.mark.parametrize("path", PAGES)
def test_below_admin_there_is_no_write_action(client, login, runtime, name, path):
    iid = make_instance(runtime)
    login(client, name)
    html = html_of(client, path.format(id=iid))
    for marker in WRITE_MARKERS:
        assert marker not in html, marker
    # Testing a connection is an operator's action (the API lets operators do it); a viewer has none.
    assert ('data-action="test"' in html) == (name == "operator" and "capacity" not in path)


def test_an_admin_gets_create_edit_delete_and_the_password_is_never_on_the_page(client, login, runtime):
    make_instance(runtime)
    login(client, "admin")
    html = html_of(client, "/scheduler/instances")
    for marker in (*WRITE_MARKERS, 'data-action="test"', "js/instances.js"):
        assert marker in html, marker
    assert "s3cret-pw" not in html and "password_encrypted" not in html
    assert 'name="password" type="password"' in html and 'value="s3cret' not in html


@pytest.mark.parametrize("path", PAGES)
def test_an_instance_named_like_markup_is_shown_as_text(client, login, runtime, path):
    iid = make_instance(runtime)
    with_accounts_and_sizes(runtime, iid)
    login(client, "admin")
    html = html_of(client, path.format(id=iid))
    assert XSS not in html
    assert ESCAPED in html or "\\u003cimg" in html
    assert "unsafe-inline" not in client.get(path.format(id=iid)).headers["Content-Security-Policy"]


def test_the_list_shows_connection_size_and_accounts(client, login, runtime):
    iid = make_instance(runtime, name="orders", port=3307, database="orders_db")
    with_accounts_and_sizes(runtime, iid)
    login(client, "viewer")
    html = html_of(client, "/scheduler/instances")
    assert f'href="/scheduler/instances/{iid}"' in html
    assert "db.example:3307" in html and "orders_db" in html
    assert "未测试" in html  # never tested yet
    assert "3.0 MiB" in html  # the instance total (3 MiB + 2 KiB)
    html = html_of(client, "/scheduler/instances?lang=en")
    assert "not tested" in html and ">Instances<" in html


def test_the_detail_shows_accounts_privileges_changes_and_databases(client, login, runtime):
    iid = make_instance(runtime, name="orders")
    with_accounts_and_sizes(runtime, iid)
    login(client, "viewer")
    html = html_of(client, f"/scheduler/instances/{iid}?lang=en")
    for text in (
        "superuser",
        "locked",
        "global: SELECT",
        "databases.shop: INSERT",
        "r_app",
        "plugin",
        "&#39;app&#39;@&#39;%&#39;",
        "changed",
        "removed",
        "is_locked",
        "+ databases.shop: DELETE",
        "shop",
        "3.0 MiB",
        "2.0 KiB",
        "2026-03-02",
    ):
        assert text in html, text


def test_an_unknown_instance_is_a_404(client, login):
    login(client, "viewer")
    assert client.get("/scheduler/instances/999").status_code == 404


def test_the_capacity_page_offers_instances_and_periods(client, login, runtime):
    iid = make_instance(runtime, name="orders")
    login(client, "viewer")
    html = html_of(client, f"/scheduler/capacity?instance_id={iid}&period=weekly")
    assert f'<option value="{iid}" selected>orders</option>' in html
    assert '<option value="weekly" selected>' in html
    assert "js/capacity.js" in html and 'id="chart"' in html


def test_the_capacity_chart_is_drawn_by_the_vendored_echarts(client, login):
    login(client, "viewer")
    html = html_of(client, "/scheduler/capacity")
    scripts = re.findall(r'<script defer src="([^"]+)"', html)
    echarts = "/static/vendor/echarts-5.6.0/echarts.min.js"
    assert echarts in scripts and scripts.index(echarts) < scripts.index("/static/js/capacity.js")
    for path in (echarts, "/static/vendor/echarts-5.6.0/LICENSE", "/static/vendor/echarts-5.6.0/NOTICE"):
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.get_data(as_text=True)
        response.close()
        assert "Apache" in body, path


def test_the_nav_links_to_the_fleet_pages(client, login):
    login(client, "viewer")
    html = html_of(client, "/scheduler/")
    assert 'href="/scheduler/instances">数据库实例<' in html and 'href="/scheduler/capacity">容量<' in html


@pytest.mark.parametrize(
    "value, text", [(None, ""), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 1024**3, "5.0 GiB")]
)
def test_sizes_in_binary_units(value, text):
    assert size_text(value) == text
