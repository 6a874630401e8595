"""The console for alert policies and maintenance windows, through Flask's test client: the
windows page (viewers read, operators change), the banner on the jobs page, the global policy
form on the channels page, the job dialog's alert section, and a job's ``notify`` as the dialog
sends it (bad input named by its field).

What only a browser can show is in ``tests/e2e/test_console_alert_settings_browser.py``.
"""

from __future__ import annotations

import re
from datetime import timedelta

from tests.test_console_alerts import make_channel
from tests.test_console_pages import ESCAPED, XSS, html_of, make_job
from whalefall import clock
from whalefall.domain.alertspec import WindowCreate
from whalefall.services import windows
from whalefall.services.audit import Actor

WINDOWS = "/scheduler/alerts/windows"
JOBS = "/scheduler/"
ADMIN = Actor("admin", "admin")


def make_window(runtime, name="db upgrade", **fields):
    window = windows.create(runtime, WindowCreate(name=name, **fields), ADMIN)
    windows.forget(runtime)
    return window


def open_now(runtime, name="db upgrade", hours=2, **fields):
    now = clock.local_text(clock.now() - timedelta(minutes=5), runtime.settings.timezone)
    end = clock.local_text(clock.now() + timedelta(hours=hours), runtime.settings.timezone)
    return make_window(runtime, name, starts_at=now, ends_at=end, **fields)


def row_of(html: str, window_id: int) -> str:
    return re.search(rf'<tr data-window-id="{window_id}".*?</tr>', html, re.S).group(0)


# --- the windows page -------------------------------------------------------------------------


def test_an_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(WINDOWS)
    assert response.status_code == 302 and response.location.startswith("/auth/login?next=")


def test_a_viewer_sees_the_windows_but_no_buttons_and_no_dialog(client, login, runtime):
    make_window(runtime, "nightly freeze", cron="0 2 * * *", duration_minutes=90, hold_runs=True)
    login(client, "viewer")
    html = html_of(client, WINDOWS)
    assert 'id="nav-windows"' in html and "维护窗口" in html and "nightly freeze" in html
    assert 'data-action="end"' not in html and 'data-action="delete"' not in html
    assert 'id="new-window"' not in html and 'id="window-form"' not in html and "windows.js" not in html


def test_an_operator_sees_each_kind_scope_state_and_the_buttons(client, login, runtime):
    make_job(runtime, "nightly", name="夜间备份")
    recurring = make_window(runtime, "freeze", cron="0 2 * * *", duration_minutes=90, hold_runs=True)
    once = open_now(runtime, "upgrade", scope="jobs", scope_values=["nightly"])
    ended = open_now(runtime, "old", scope="category", scope_values=["ops"])
    windows.end(runtime, ended.id, ADMIN)
    login(client, "operator")
    html = html_of(client, WINDOWS)
    row = row_of(html, recurring.id)
    assert 'translate="no">0 2 * * *</code>' in row and "每次 90 分钟" in row
    assert "全部任务" in row and '<span data-f="hold_runs">是</span>' in row and 'data-state="closed"' in row
    assert 'data-action="end"' in row and 'data-action="delete"' in row
    row = row_of(html, once.id)
    assert "一次性" in row and " 至 " in row and "指定任务" in row and 'translate="no">nightly</span>' in row
    assert 'data-state="open"' in row and "进行中" in row and '<span data-f="hold_runs">否</span>' in row
    row = row_of(html, ended.id)
    assert 'data-state="ended"' in row and "已结束" in row and 'data-action="end"' not in row
    # The dialog, with the job picker and the categories.
    assert 'id="window-form"' in html and "windows.js" in html
    assert '<option value="nightly" translate="no">nightly · 夜间备份</option>' in html
    assert '<option value="ops" translate="no">ops</option>' in html


def test_a_window_whose_texts_look_like_markup_is_shown_escaped(client, login, runtime):
    open_now(runtime, XSS, description=XSS)
    login(client, "operator")
    for path in (WINDOWS, JOBS):
        html = html_of(client, path)
        assert XSS not in html and ESCAPED in html


def test_the_windows_page_in_english(client, login, runtime):
    make_window(runtime, "freeze", cron="0 2 * * *", duration_minutes=30)
    login(client, "operator")
    html = html_of(client, WINDOWS + "?lang=en")
    assert "Maintenance windows" in html and "Recurring" in html and "30 min each" in html
    assert "维护" not in html.split('id="wf-text"')[0]


def test_bad_window_input_is_refused_naming_its_field(client, login, csrf_token):
    login(client, "operator")
    headers = {"X-CSRFToken": csrf_token(client)}
    api = "/scheduler/api/maintenance-windows"
    cases = [
        ({"name": "w", "cron": "61 * * * *", "duration_minutes": 10}, "cron"),
        ({"name": "w", "cron": "0 2 * * *"}, "duration_minutes"),
        ({"name": "w", "starts_at": "2031-01-02 10:00", "ends_at": "2031-01-02 09:00"}, "ends_at"),
        (
            {"name": "w", "cron": "0 2 * * *", "duration_minutes": 5, "scope": "jobs", "scope_values": []},
            "scope_values",
        ),
    ]
    for body, field in cases:
        response = client.post(api, json=body, headers=headers)
        assert response.status_code == 400, body
        assert field in response.get_json()["errors"], (body, response.get_json())


# --- the banner on the jobs page --------------------------------------------------------------


def test_the_jobs_page_shows_a_banner_while_a_window_is_open(client, login, runtime):
    make_window(runtime, "later", cron="0 2 1 1 *", duration_minutes=1)  # not open now
    login(client, "viewer")
    html = html_of(client, JOBS)
    assert 'id="window-banner"' in html and "维护中" not in html.split('id="wf-text"')[0]
    window = open_now(runtime, "db upgrade", hold_runs=True)
    html = html_of(client, JOBS).split('id="wf-text"')[0]
    banner = re.search(r'<div id="window-banner">.*?</div>\s*</div>', html, re.S).group(0)
    closes = windows.to_dict(runtime, window)["closes_at"]
    assert "维护中" in banner and 'translate="no">db upgrade</span>' in banner
    assert f"至 {closes}" in banner and "计划运行暂停" in banner and "later" not in banner
    windows.end(runtime, window.id, ADMIN)
    assert "维护中" not in html_of(client, JOBS).split('id="wf-text"')[0]


# --- the global policy form -------------------------------------------------------------------


def test_the_channels_page_has_the_global_policy_form_filled_from_the_policy(
    client, login, runtime, csrf_token
):
    make_channel(runtime, "ops")
    make_channel(runtime, "mail", "json://mail.example.com/x")
    login(client, "admin")
    html = html_of(client, "/scheduler/admin/alerts")
    form = re.search(r'<form class="card-body" id="policy-form".*?</form>', html, re.S).group(0)
    assert 'id="p-channels-all" value="all" checked' in form and "disabled" in form
    assert re.search(r'name="throttle_seconds"\s+value="10"', form)  # 600 s, in minutes
    assert 'id="p-event-partial" data-policy-event value="partial" checked' in form
    assert 'id="p-event-long_running" data-policy-event value="long_running">' in form
    body = {"channels": ["ops"], "events": ["failure"], "threshold": 3, "throttle_seconds": 1800}
    response = client.put(
        "/scheduler/api/alert-policy", json=body, headers={"X-CSRFToken": csrf_token(client)}
    )
    assert response.status_code == 200, response.get_json()
    form = re.search(
        r'<form class="card-body" id="policy-form".*?</form>',
        html_of(client, "/scheduler/admin/alerts"),
        re.S,
    ).group(0)
    assert 'id="p-channels-chosen" value="chosen" checked' in form
    assert '<option value="ops" translate="no" selected>ops</option>' in form
    assert '<option value="mail" translate="no">mail</option>' in form
    assert re.search(r'name="throttle_seconds"\s+value="30"', form) and 'name="threshold" value="3"' in form
    assert 'value="failure" checked' in form and 'value="timeout" checked' not in form


def test_an_unknown_policy_channel_is_refused_naming_channels(client, login, csrf_token):
    login(client, "admin")
    body = {"channels": ["nope"], "events": [], "threshold": 1, "throttle_seconds": 60}
    response = client.put(
        "/scheduler/api/alert-policy", json=body, headers={"X-CSRFToken": csrf_token(client)}
    )
    assert response.status_code == 400 and "channels" in response.get_json()["errors"]


# --- the job dialog's alert section -----------------------------------------------------------


def test_the_job_dialog_has_the_alert_section_for_operators(client, login):
    login(client, "operator")
    html = html_of(client, JOBS)
    section = re.search(r'<fieldset class="col-12" id="notify-section">.*?</fieldset>', html, re.S).group(0)
    for name in (
        "notify.enabled",
        "notify.channels",
        "notify.events",
        "notify.threshold",
        "notify.long_running_seconds",
    ):
        assert f'name="{name}"' in section
    for event in (
        "failure",
        "timeout",
        "missed",
        "interrupted",
        "skipped_upstream",
        "recovery",
        "long_running",
    ):
        assert f'value="{event}"' in section
    assert "告警" in section and "按全局策略" in section


def test_a_jobs_notify_as_the_dialog_sends_it_and_bad_values_name_their_field(
    client, login, runtime, csrf_token
):
    make_channel(runtime, "ops")
    make_job(runtime, "nightly", name="n")
    login(client, "operator")
    headers = {"X-CSRFToken": csrf_token(client)}
    job = client.get("/scheduler/api/jobs/nightly").get_json()["data"]
    assert job["notify"] == {}
    body = {
        "notify": {
            "channels": ["ops"],
            "events": ["failure", "long_running"],
            "threshold": 2,
            "long_running_seconds": 600,
        }
    }
    assert client.put("/scheduler/api/jobs/nightly", json=body, headers=headers).status_code == 200
    assert client.get("/scheduler/api/jobs/nightly").get_json()["data"]["notify"] == body["notify"]
    # An edit that says nothing of notify keeps it.
    assert (
        client.put("/scheduler/api/jobs/nightly", json={"name": "renamed"}, headers=headers).status_code
        == 200
    )
    assert client.get("/scheduler/api/jobs/nightly").get_json()["data"]["notify"] == body["notify"]
    for notify, field in (
        ({"channels": ["nope"]}, "notify.channels"),
        ({"threshold": 0}, "notify.threshold"),
    ):
        response = client.put("/scheduler/api/jobs/nightly", json={"notify": notify}, headers=headers)
        assert response.status_code == 400 and field in response.get_json()["errors"], response.get_json()
    assert client.put("/scheduler/api/jobs/nightly", json={"notify": {}}, headers=headers).status_code == 200
    assert client.get("/scheduler/api/jobs/nightly").get_json()["data"]["notify"] == {}
