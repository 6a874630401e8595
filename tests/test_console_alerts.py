"""The alert pages through Flask's test client: the channels (admins) and the delivery history (viewers).

What only a browser can show (the dialog, a test alert sent for real, the result in the row) is in
``tests/e2e/test_console_alerts_browser.py``.
"""

from __future__ import annotations

import re

import pytest

from tests.test_console_pages import ESCAPED, XSS, html_of
from whalefall import clock
from whalefall.domain.alertspec import ChannelCreate
from whalefall.models import AlertChannel, AlertDelivery
from whalefall.services import alert_channels
from whalefall.services.audit import Actor

CHANNELS = "/scheduler/admin/alerts"
HISTORY = "/scheduler/alerts/deliveries"
ADMIN = Actor("admin", "admin")


def make_channel(runtime, name="ops", url="json://hook:secret-token@hooks.example.com/x", **fields):
    return alert_channels.create(runtime, ChannelCreate(name=name, url=url, **fields), ADMIN)


def make_delivery(runtime, n, **fields) -> int:
    now = clock.now()
    values = {
        "dedupe_key": f"k{n}",
        "event": "failure",
        "channel": "ops",
        "status": "sent",
        "lang": "zh",
        "title": "t",
        "body": "b",
        "facts": "{}",
        "held_back": 0,
        "attempts": 1,
        "created_at": now,
        "finished_at": now,
    }
    row = AlertDelivery(**{**values, **fields})
    with runtime.db.begin() as session:
        session.add(row)
        session.flush()
        return row.id


def rows(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-delivery-id="(\d+)"', html)]


# --- the channels page ------------------------------------------------------------------------


def test_an_anonymous_visitor_is_sent_to_sign_in_from_both_pages(client):
    for path in (CHANNELS, HISTORY):
        response = client.get(path)
        assert response.status_code == 302 and response.location.startswith("/auth/login?next=")


@pytest.mark.parametrize("name", ["viewer", "operator"])
def test_the_channels_page_is_forbidden_below_admin_but_the_history_is_not(client, login, name):
    login(client, name)
    assert client.get(CHANNELS).status_code == 403
    html = html_of(client, HISTORY)
    assert "告警记录" in html
    assert 'id="nav-alert-history"' in html and 'id="nav-alert-channels"' not in html


def test_the_channels_page_lists_kind_masked_url_state_and_the_environments_channels_read_only(
    client, login, runtime, monkeypatch
):
    make_channel(runtime, "ops", "json://hook:secret-token@hooks.example.com/x", description="值班群")
    make_channel(runtime, "mail", "mailtos://dba:hunter22@smtp.example.com?to=a@example.com", enabled=False)
    monkeypatch.setattr(runtime.settings, "notify_urls", "wecombot://envsecretkey")
    login(client, "admin")
    html = html_of(client, CHANNELS)
    assert 'id="nav-alert-channels"' in html and "alerts.js" in html
    assert "secret-token" not in html and "hunter22" not in html and "envsecretkey" not in html
    ops = re.search(r'<tr data-channel-id="\d+" data-name="ops".*?</tr>', html, re.S).group(0)
    assert ">Webhook<" in ops and "值班群" in ops and ">启用<" in ops and 'data-action="test"' in ops
    mail = re.search(r'<tr data-channel-id="\d+" data-name="mail".*?</tr>', html, re.S).group(0)
    assert ">邮件<" in mail and ">停用<" in mail and "mailtos://" in mail
    env = re.search(r'<tr data-channel-id="" data-name="env-1".*?</tr>', html, re.S).group(0)
    assert ">企业微信<" in env and "只读" in env and "data-env" in env
    assert (
        'data-action="test"' not in env
        and 'data-action="edit"' not in env
        and 'data-action="delete"' not in env
    )
    # One example URL per kind in the dialog's help; the dialog itself.
    for example in ("mailtos://", "dingtalk://", "wecombot://", "feishu://", "slack://", "json://"):
        assert f'translate="no">{example}' in html
    assert 'id="channel-form"' in html and 'name="url"' in html and 'name="enabled"' in html


def test_a_channel_whose_texts_look_like_markup_is_shown_escaped(client, login, runtime):
    channel = make_channel(runtime, "xss", description=XSS)
    with runtime.db.begin() as session:  # the API refuses such a name; a stored one is still escaped
        session.get(AlertChannel, channel.id).name = XSS
    login(client, "admin")
    html = html_of(client, CHANNELS)
    assert XSS not in html
    assert f'data-name="{ESCAPED}"' in html and f'data-description="{ESCAPED}"' in html
    assert html.count(ESCAPED) >= 4


def test_the_channels_page_in_english(client, login, runtime):
    make_channel(runtime, "ops")
    login(client, "admin")
    html = html_of(client, CHANNELS + "?lang=en")
    assert "Alert channels" in html and "Send test" in html and ">enabled<" in html
    assert "告警" not in html.split('id="wf-text"')[0]


# --- the delivery history ---------------------------------------------------------------------


def test_the_history_shows_status_badges_the_error_and_links_to_the_job_and_run(client, login, runtime):
    sent = make_delivery(runtime, 1, job_id="nightly", run_id=7)
    failed = make_delivery(runtime, 2, status="failed", error=XSS, event="timeout")
    throttled = make_delivery(runtime, 3, status="throttled")
    silenced = make_delivery(runtime, 4, status="silenced")
    pending = make_delivery(runtime, 5, status="pending", channel=XSS)
    login(client, "viewer")
    html = html_of(client, HISTORY)
    assert rows(html) == [pending, silenced, throttled, failed, sent]  # newest first
    for word in ("已发送", "失败", "已节流", "已静默", "待发送"):
        assert f">{word}</span>" in html
    assert XSS not in html and ESCAPED in html
    row = re.search(rf'<tr data-delivery-id="{sent}".*?</tr>', html, re.S).group(0)
    assert 'href="/scheduler/jobs/nightly"' in row and 'href="/scheduler/runs/7"' in row
    row = re.search(rf'<tr data-delivery-id="{failed}".*?</tr>', html, re.S).group(0)
    assert 'data-f="error" translate="no">' + ESCAPED in row and "超时" in row
    assert "/scheduler/jobs/" not in row and "/scheduler/runs/" not in row


def test_the_history_filters_by_event_channel_status_and_job(client, login, runtime):
    a = make_delivery(runtime, 1, job_id="a", channel="ops")
    b = make_delivery(runtime, 2, job_id="b", channel="mail", status="failed", error="boom")
    c = make_delivery(runtime, 3, event="test", channel="mail")
    login(client, "viewer")
    assert rows(html_of(client, HISTORY + "?status=failed")) == [b]
    assert rows(html_of(client, HISTORY + "?status=sent")) == [c, a]
    assert rows(html_of(client, HISTORY + "?channel=mail")) == [c, b]
    assert rows(html_of(client, HISTORY + "?event=test")) == [c]
    assert rows(html_of(client, HISTORY + "?job_id=a&status=")) == [a]
    assert rows(html_of(client, HISTORY + "?channel=ops&status=failed")) == []
    html = html_of(client, HISTORY + "?status=failed&channel=mail")
    assert '<option value="failed" selected>' in html and '<option value="mail" selected' in html


def test_the_history_refuses_a_status_the_api_refuses(client, login):
    login(client, "viewer")
    page = client.get(HISTORY + "?status=bogus")
    api = client.get("/scheduler/api/alert-deliveries?status=bogus")
    assert page.status_code == api.status_code == 400


def test_the_history_pages(client, login, runtime):
    for n in range(51):
        make_delivery(runtime, n)
    login(client, "viewer")
    first = html_of(client, HISTORY)
    assert len(rows(first)) == 50
    assert "第 1 / 2 页，共 51 条" in first and f'href="{HISTORY}?page=2"' in first
    assert len(rows(html_of(client, HISTORY + "?page=2"))) == 1
