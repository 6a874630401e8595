"""Two of Apprise's plugins, corrected for what their robots really answer.

DingTalk and WeCom robots answer a refused message with HTTP 200 and an
``errcode`` in the body; Apprise 2.3 reads only the HTTP status, so a wrong
signing secret would be recorded as delivered. Apprise's DingTalk plugin also
URL-encodes the signature twice. These subclasses send the same requests,
sign once, read ``errcode``, and give WeCom its Markdown message type. They
replace the stock plugins for their schemas (``dingtalk://``, ``wecombot://``)
through Apprise's own plugin manager, so URLs, masking and timeouts stay Apprise's.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import requests
from apprise import NotifyFormat, NotifyType
from apprise.manager_plugins import NotificationManager
from apprise.plugins.dingtalk import NotifyDingTalk
from apprise.plugins.wecombot import NotifyWeComBot


def _post(
    plugin: Any, service: str, url: str, payload: dict[str, Any], params: dict[str, str] | None
) -> bool:
    plugin.throttle()
    try:
        response = requests.post(
            url,
            data=json.dumps(payload).encode("utf-8"),
            headers={"User-Agent": plugin.app_id, "Content-Type": "application/json; charset=utf-8"},
            params=params,
            verify=plugin.verify_certificate,
            timeout=plugin.request_timeout,
            allow_redirects=plugin.redirects,
        )
    except requests.RequestException as exc:
        plugin.logger.warning("Could not reach %s: %s: %s", service, type(exc).__name__, exc)
        return False
    if response.status_code != 200:
        plugin.logger.warning("%s answered HTTP %s", service, response.status_code)
        return False
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    code = answer.get("errcode", 0) if isinstance(answer, dict) else 0
    if code:
        plugin.logger.warning(
            "%s refused the message: errcode=%s %s", service, code, answer.get("errmsg", "")
        )
        return False
    plugin.logger.info("Sent %s notification.", service)
    return True


class DingTalk(NotifyDingTalk):  # Apprise ships no type information: these bases are Any
    def get_signature(self) -> tuple[str, str]:
        timestamp, quoted = super().get_signature()
        return timestamp, unquote(quoted)  # requests quotes the query itself

    def send(
        self,
        body: str,
        title: str = "",
        notify_type: NotifyType = NotifyType.INFO,
        body_format: NotifyFormat | None = None,
        **kwargs: Any,
    ) -> bool:
        payload: dict[str, Any] = {"at": {"atMobiles": self.targets, "isAtAll": False}}
        if body_format == NotifyFormat.MARKDOWN:
            heading = " ".join(title.split()).lstrip("#- ") or self.app_desc
            payload |= {
                "msgtype": "markdown",
                "markdown": {"title": heading, "text": f"#### {heading}\n\n{body}"},
            }
        else:
            payload |= {"msgtype": "text", "text": {"content": f"{title}\n{body}" if title else body}}
        params = None
        if self.secret:
            timestamp, signature = self.get_signature()
            params = {"timestamp": timestamp, "sign": signature}
        return _post(self, "DingTalk", self.notify_url.format(token=self.token), payload, params)


class WeComBot(NotifyWeComBot):  # Apprise ships no type information: these bases are Any
    notify_format = NotifyFormat.MARKDOWN  # WeCom robots render Markdown; Apprise's plugin sends text only

    def send(
        self,
        body: str,
        title: str = "",
        notify_type: NotifyType = NotifyType.INFO,
        body_format: NotifyFormat | None = None,
        **kwargs: Any,
    ) -> bool:
        if body_format == NotifyFormat.MARKDOWN:
            content = f"**{title}**\n{body}" if title else body
            payload: dict[str, Any] = {"msgtype": "markdown", "markdown": {"content": content}}
        else:
            payload = {"msgtype": "text", "text": {"content": f"{title}\n{body}" if title else body}}
        return _post(self, "WeCom", self.api_url, payload, None)


def install() -> None:
    """Put the corrected plugins in Apprise's manager in place of its own (idempotent)."""
    manager = NotificationManager()
    manager.add(DingTalk, schemas=("dingtalk",), force=True)
    manager.add(WeComBot, schemas=("wecombot",), force=True)
