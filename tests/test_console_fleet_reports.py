"""The fleet report pages through Flask's test client: risks, GRANT statements, sync sessions, filters.

Accounts are stored by ``fleet_accounts.apply`` (the code ``sync_accounts`` uses); sessions come
from a real ``sync_accounts`` run against an instance nothing listens for. The live servers and the
browser are in ``test_fleet_risks.py`` and ``e2e/test_console_fleet_reports_browser.py``.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from tests.fleet_support import ADMIN, context
from whalefall.domain.instancespec import InstanceCreate
from whalefall.domain.jobspec import JobCreate
from whalefall.errors import FleetTaskFailed
from whalefall.fleet.base import Account
from whalefall.models import TriggerSource
from whalefall.services import fleet_accounts, fleet_sessions, instances, jobs, runs
from whalefall.tasks import sync_accounts

XSS = "<b>x</b>"


def make_instance(runtime, name: str, **fields) -> int:
    data = {"name": name, "db_type": "mysql", "host": "127.0.0.1", "port": 1, "username": "root", **fields}
    return instances.create(runtime, InstanceCreate(**data), ADMIN).id


def store_mysql_accounts(runtime, iid: int) -> None:
    fleet_accounts.apply(
        runtime,
        iid,
        [
            Account(
                key="'root'@'%'",
                username="root",
                host="%",
                is_superuser=True,
                attributes={
                    "plugin": "mysql_native_password",
                    "max_statement_time": "0.000000",
                    "ssl_type": "ANY",
                },
                privileges={"global": ["ALL PRIVILEGES", "GRANT OPTION"]},
            ),
            Account(
                key=f"'{XSS}'@'localhost'",
                username=XSS,
                host="localhost",
                attributes={"plugin": "mysql_native_password", "password_empty": True},
                privileges={"databases": {"shop": ["SELECT"]}},
            ),
        ],
        None,
    )


def html_of(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def test_the_instance_page_shows_grant_statements_and_hides_default_attributes(client, login, runtime):
    iid = make_instance(runtime, "maria")
    store_mysql_accounts(runtime, iid)
    html = html_of(login(client, "viewer"), f"/scheduler/instances/{iid}")
    assert "GRANT ALL PRIVILEGES ON *.* TO &#39;root&#39;@&#39;%&#39; WITH GRANT OPTION" in html
    assert "GRANT SELECT ON `shop`.* TO &#39;&lt;b&gt;x&lt;/b&gt;&#39;@&#39;localhost&#39;" in html
    flags = re.findall(r'data-attribute="([a-z_]+)"', html)
    assert "ssl_type" in flags and "plugin" not in flags and "max_statement_time" not in flags
    assert "attributes.plugin: mysql_native_password" in html  # still in the structured form
    assert 'id="privileges-raw"' in html
    assert f'href="/scheduler/api/instances/{iid}/accounts?format=csv"' in html
    summary = html[html.index('id="risk-summary"') : html.index('id="accounts-title"')]
    # root: superuser, ALL PRIVILEGES, wildcard host; the other: no password. Grant option is medium.
    assert re.search(r'data-severity="high">\S+ 4<', summary) and re.search(
        r'data-severity="medium">\S+ 1<', summary
    )


def test_the_risk_report_page_lists_and_filters_the_fleets_risks(client, login, runtime):
    iid = make_instance(runtime, "maria")
    store_mysql_accounts(runtime, iid)
    other = make_instance(runtime, "quiet", host="10.0.0.9")
    signed_in = login(client, "viewer")

    html = html_of(signed_in, "/scheduler/account-risks?lang=en")
    rows = re.findall(r'<tr data-risk="([a-z_]+)" data-account="([^"]+)"', html)
    assert ("superuser", "&#39;root&#39;@&#39;%&#39;") in rows and (
        "no_password",
        "&#39;&lt;b&gt;x&lt;/b&gt;&#39;@&#39;localhost&#39;",
    ) in rows
    assert "Wildcard host % with write or admin rights: ALL PRIVILEGES, GRANT OPTION" in html
    assert XSS not in html

    only = html_of(signed_in, f"/scheduler/account-risks?instance_id={iid}&kind=no_password")
    assert re.findall(r'<tr data-risk="([a-z_]+)"', only) == ["no_password"]
    assert (
        f'href="/scheduler/api/account-risks?instance_id={iid}&amp;kind=no_password&amp;days=7&amp;format=csv"'
        in only
    )
    assert 'id="risks-none"' in html_of(signed_in, f"/scheduler/account-risks?instance_id={other}")
    assert signed_in.get("/scheduler/account-risks?severity=dire").status_code == 400
    assert signed_in.get("/scheduler/account-risks?instance_id=999").status_code == 404


def test_a_fleet_run_has_a_page_linked_from_its_run_and_from_the_instance(client, login, runtime):
    iid = make_instance(runtime, "unreachable")  # port 1: the connection is refused at once
    jobs.create(
        runtime,
        JobCreate(
            id="sync", name="Sync", function="sync_accounts", trigger_type="interval", interval_seconds=3600
        ),
        ADMIN,
    )
    run = runs.enqueue(runtime, "sync", source=TriggerSource.MANUAL, node="n1")
    with pytest.raises(FleetTaskFailed):  # every instance failed: the run fails, the session says why
        sync_accounts.run(replace(context(runtime, job_id="sync"), run_id=run.id))
    signed_in = login(client, "viewer")

    instance_page = html_of(signed_in, f"/scheduler/instances/{iid}")
    session_id = re.search(r'<tr data-session-id="(\d+)" data-status="failed"', instance_page).group(1)
    page = html_of(signed_in, f"/scheduler/sync-sessions/{session_id}")
    row = re.search(rf'<tr data-instance-id="{iid}" data-status="failed">(.*?)</tr>', page, re.S).group(1)
    assert "unreachable" in row and "127.0.0.1:1" in row
    assert f'href="/scheduler/runs/{run.id}"' in page
    with runtime.db.read() as session:  # the time as the API gives it, in the global zone, not shifted again
        started = fleet_sessions.to_dict(
            fleet_sessions.get(session, int(session_id))[0], runtime.settings.timezone
        )
    assert started["started_at"] in page and started["started_at"] in instance_page
    assert f'href="/scheduler/sync-sessions/{session_id}"' in html_of(signed_in, f"/scheduler/runs/{run.id}")
    listing = html_of(signed_in, "/scheduler/sync-sessions?status=failed")
    assert f'<tr data-session-id="{session_id}">' in listing
    assert f'<tr data-session-id="{session_id}">' not in html_of(
        signed_in, "/scheduler/sync-sessions?status=success"
    )
    assert signed_in.get("/scheduler/sync-sessions/999999").status_code == 404


def test_the_instances_list_filters_by_search_type_and_tag(client, login, runtime):
    make_instance(runtime, "orders-primary", tags=["prod"])
    make_instance(runtime, "billing-pg", db_type="postgresql", tags=["prod", "billing"])
    make_instance(runtime, "scratch", description="a sandbox")
    signed_in = login(client, "viewer")

    def names(query: str) -> list[str]:
        return re.findall(r'data-name="([^"]+)"', html_of(signed_in, "/scheduler/instances" + query))

    assert names("") == ["billing-pg", "orders-primary", "scratch"]
    assert names("?q=sandbox") == ["scratch"]
    assert names("?db_type=postgresql") == ["billing-pg"]
    assert names("?tag=prod") == ["billing-pg", "orders-primary"]
    assert names("?tag=prod&q=orders") == ["orders-primary"]
    html = html_of(signed_in, "/scheduler/instances?tag=billing")
    assert '<option value="billing" selected>' in html and 'id="sessions-link"' in html
    assert "instances-none" in html_of(signed_in, "/scheduler/instances?q=nothing-like-this")
    assert signed_in.get("/scheduler/instances?db_type=db2").status_code == 400
