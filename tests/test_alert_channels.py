"""Alert channels: stored encrypted, shown masked, tried for real against receivers on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from sqlalchemy import select

from whalefall.models import AlertChannel, AlertDelivery

BASE = "/scheduler/api"


@pytest.fixture
def admin(bearer):
    return bearer("admin")


def make_channel(client, admin, url: str, name: str = "ops") -> dict:
    answer = client.post(f"{BASE}/alert-channels", json={"name": name, "url": url}, headers=admin)
    assert answer.status_code == 200, answer.json
    return answer.json["data"]


def test_a_channel_is_stored_encrypted_and_answered_masked(client, admin, runtime):
    url = "dingtalk://SECsecret123@0123456789abcdef0123456789abcdef"
    data = make_channel(client, admin, url)
    assert (
        data["kind"] == "dingtalk"
        and "SECsecret123" not in data["url"]
        and "0123456789abcdef0123" not in data["url"]
    )
    listed = client.get(f"{BASE}/alert-channels", headers=admin).json["data"]
    assert [c["name"] for c in listed["channels"]] == ["ops"] and listed["total"] == 1
    assert "SECsecret123" not in str(listed)
    with runtime.db.read() as session:
        stored = session.scalars(select(AlertChannel)).one()
    assert "SECsecret123" not in stored.url_encrypted and stored.url_encrypted.startswith("gAAAA")


@pytest.mark.parametrize(
    ("url", "lang", "message"),
    [
        ("nosuch://foo", "zh", "「URL」：nosuch 不是可发送的 Apprise URL"),
        ("nosuch://foo", "en", "URL: nosuch is not an Apprise URL we can send to"),
        ("json://a/x, json://b/y", "zh", "「URL」：请只填一个 Apprise URL（不能有空格或逗号）"),
    ],
)
def test_a_url_apprise_cannot_use_is_a_400_naming_it_and_nothing_is_saved(
    client, admin, runtime, url, lang, message
):
    answer = client.post(
        f"{BASE}/alert-channels?lang={lang}", json={"name": "bad", "url": url}, headers=admin
    )
    assert answer.status_code == 400 and answer.json["message"] == message and "url" in answer.json["errors"]
    with runtime.db.read() as session:
        assert session.scalars(select(AlertChannel)).first() is None


def test_names_are_unique_and_env_names_are_reserved(client, admin):
    make_channel(client, admin, "json://127.0.0.1:9/x")
    again = client.post(
        f"{BASE}/alert-channels", json={"name": "ops", "url": "json://127.0.0.1:9/y"}, headers=admin
    )
    assert again.status_code == 409 and "name" in again.json["errors"]
    env = client.post(
        f"{BASE}/alert-channels", json={"name": "env-1", "url": "json://127.0.0.1:9/y"}, headers=admin
    )
    assert env.status_code == 409


def test_only_admins_see_channels_and_viewers_see_the_history(client, bearer):
    assert client.get(f"{BASE}/alert-channels", headers=bearer("operator")).status_code == 403
    assert client.get(f"{BASE}/alert-deliveries", headers=bearer("viewer")).status_code == 200


def test_a_test_alert_reaches_a_webhook_with_the_documented_fields(client, admin, http_receiver):
    channel = make_channel(client, admin, f"json://127.0.0.1:{http_receiver.port}/hook")
    answer = client.post(f"{BASE}/alert-channels/{channel['id']}/test", headers=admin)
    assert answer.status_code == 200 and answer.json["data"]["status"] == "sent"
    assert answer.json["message"] == "测试告警已发送到 ops"
    body = http_receiver.wait_for()[0].json()
    assert body["title"] == "鲸落 · 测试告警" and "渠道「ops」" in body["message"]
    assert body["event"] == "test" and body["channel"] == "ops" and body["link"].endswith("/scheduler/")
    history = client.get(f"{BASE}/alert-deliveries?event=test", headers=admin).json["data"]
    assert history["total"] == 1 and history["deliveries"][0]["status"] == "sent"


def test_a_channel_that_answers_500_is_recorded_failed_with_the_reason(client, admin, http_receiver, runtime):
    http_receiver.status = 500
    channel = make_channel(client, admin, f"json://127.0.0.1:{http_receiver.port}/hook")
    answer = client.post(f"{BASE}/alert-channels/{channel['id']}/test?lang=en", headers=admin)
    delivery = answer.json["data"]
    assert answer.status_code == 200 and delivery["status"] == "failed" and "500" in delivery["error"]
    assert answer.json["message"].startswith("the test alert could not be sent to ops")
    with runtime.db.read() as session:
        assert session.scalars(select(AlertDelivery.status)).all() == ["failed"]


def test_a_test_alert_arrives_by_email_in_the_users_language(client, admin, smtp_receiver):
    url = (
        f"mailto://whalefall:pw@127.0.0.1:{smtp_receiver.port}"
        "?to=dba@example.com&from=whalefall@example.com&mode=insecure"
    )
    channel = make_channel(client, admin, url, name="mail")
    answer = client.post(f"{BASE}/alert-channels/{channel['id']}/test?lang=en", headers=admin)
    assert answer.json["data"]["status"] == "sent", answer.json
    message = smtp_receiver.wait_for()[0]
    assert smtp_receiver.logins == [("whalefall", "pw")]
    assert message["Subject"] == "Whalefall · test alert" and message["To"] == "dba@example.com"
    text = message.get_body(("plain",)).get_content()
    assert "channel mail receives Whalefall's alerts" in text and "http://127.0.0.1:5000/scheduler/" in text


def test_dingtalk_is_signed_once_and_a_refusal_in_the_body_is_a_failure(
    client, admin, http_receiver, monkeypatch
):
    from whalefall.notify import plugins

    monkeypatch.setattr(
        plugins.DingTalk, "notify_url", http_receiver.base + "/robot/send?access_token={token}"
    )
    channel = make_channel(client, admin, "dingtalk://SECsecret123@0123456789abcdef0123456789abcdef")
    answer = client.post(f"{BASE}/alert-channels/{channel['id']}/test", headers=admin)
    assert answer.json["data"]["status"] == "sent", answer.json
    request = http_receiver.wait_for()[0]
    body = request.json()
    assert body["msgtype"] == "markdown" and body["markdown"]["title"] == "鲸落 · 测试告警"
    timestamp, sign = request.query["timestamp"][0], request.query["sign"][0]
    expected = base64.b64encode(
        hmac.new(b"SECsecret123", f"{timestamp}\nSECsecret123".encode(), hashlib.sha256).digest()
    ).decode()
    assert sign == expected  # parse_qs decoded it once: no %2B left over from a second quoting
    assert request.query["access_token"] == ["0123456789abcdef0123456789abcdef"]

    http_receiver.answer = b'{"errcode": 310000, "errmsg": "sign not match"}'
    refused = client.post(f"{BASE}/alert-channels/{channel['id']}/test", headers=admin).json["data"]
    assert refused["status"] == "failed" and "310000" in refused["error"]


def test_wecom_gets_markdown_and_a_refusal_in_the_body_is_a_failure(
    client, admin, http_receiver, monkeypatch
):
    from whalefall.notify import plugins

    monkeypatch.setattr(plugins.WeComBot, "notify_url", http_receiver.base + "/wecom/send?key={key}")
    channel = make_channel(client, admin, "wecombot://693a1116-7aoc-4bc4-97a0-0ec2sifa5aaa", name="wecom")
    assert (
        client.post(f"{BASE}/alert-channels/{channel['id']}/test", headers=admin).json["data"]["status"]
        == "sent"
    )
    body = http_receiver.wait_for()[0].json()
    assert body["msgtype"] == "markdown" and body["markdown"]["content"].startswith("# 鲸落 · 测试告警\n")
    http_receiver.answer = b'{"errcode": 93000, "errmsg": "invalid webhook url"}'
    refused = client.post(f"{BASE}/alert-channels/{channel['id']}/test", headers=admin).json["data"]
    assert refused["status"] == "failed" and "93000" in refused["error"]


def test_feishu_and_slack_get_markdown_from_apprises_own_plugins(client, admin, http_receiver, monkeypatch):
    from apprise.plugins.feishu import NotifyFeishu
    from apprise.plugins.slack import NotifySlack

    monkeypatch.setattr(NotifyFeishu, "notify_url", http_receiver.base + "/feishu/hook/{token}/")
    monkeypatch.setattr(NotifySlack, "webhook_url", http_receiver.base + "/slack/services")
    http_receiver.answer = b'{"code": 0}'
    feishu = make_channel(client, admin, "feishu://abcdef0123456789abcdef", name="feishu")
    assert (
        client.post(f"{BASE}/alert-channels/{feishu['id']}/test", headers=admin).json["data"]["status"]
        == "sent"
    )
    card = http_receiver.wait_for()[0].json()
    assert (
        card["msg_type"] == "interactive" and card["card"]["header"]["title"]["content"] == "鲸落 · 测试告警"
    )
    http_receiver.answer = b"ok"
    slack = make_channel(client, admin, "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7", name="slack")
    assert (
        client.post(f"{BASE}/alert-channels/{slack['id']}/test", headers=admin).json["data"]["status"]
        == "sent"
    )
    posted = http_receiver.wait_for(2)[1]
    attachment = posted.json()["attachments"][0]
    assert posted.path.startswith("/slack/services") and posted.json()["mrkdwn"] is True
    assert (
        attachment["title"] == "鲸落 · 测试告警"
        and "<http://127.0.0.1:5000/scheduler/|打开控制台>" in attachment["text"]
    )


def test_the_environments_channels_are_listed_read_only_and_masked(tmp_path):
    from tests.conftest import make_runtime
    from whalefall.app import create_app

    rt = make_runtime(tmp_path, notify_urls="json://user:topsecret@127.0.0.1:9/hook")
    try:
        from whalefall.services import alert_channels

        (target,) = alert_channels.env_targets(rt)
        assert target.name == "env-1" and target.kind == "webhook" and "topsecret" not in target.masked
        assert create_app is not None
    finally:
        rt.close()


def test_a_bad_notify_url_stops_start_up_naming_the_setting():
    from whalefall.config import load_settings
    from whalefall.errors import ConfigError

    with pytest.raises(ConfigError, match="WHALEFALL_NOTIFY_URLS: .*URL 2 is not an Apprise URL"):
        load_settings(environ={"WHALEFALL_NOTIFY_URLS": "json://127.0.0.1:9/x, nosuch://y"})


def test_operators_choose_channels_by_name_without_seeing_urls(client, admin, bearer):
    make_channel(client, admin, "json://user:topsecret@127.0.0.1:9/x")
    names = client.get(f"{BASE}/alert-channel-names", headers=bearer("operator")).json["data"]
    assert names["channels"] == [{"name": "ops", "kind": "webhook"}] and "topsecret" not in str(names)


def test_a_webhook_token_in_the_path_or_query_is_not_shown(client, admin):
    data = make_channel(client, admin, "jsons://hooks.example.com/services/T000/SECRETTOKEN?:key=SECRETVALUE")
    assert "SECRETTOKEN" not in data["url"] and "SECRETVALUE" not in data["url"]
    assert data["url"].startswith("jsons://hooks.example.com/services/")
