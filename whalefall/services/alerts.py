"""What an alert says: the message of each event, in the console's language, for every kind of channel.

Chat robots (DingTalk, WeCom, Feishu, Slack) get Markdown, email and webhooks
plain text, and webhooks also get the facts as fields of their JSON body.
"""

from __future__ import annotations

from typing import Any

from whalefall import clock, notify
from whalefall.i18n import catalogue
from whalefall.models import AlertChannel
from whalefall.runtime import Runtime
from whalefall.services import alert_channels, alert_deliveries
from whalefall.services.audit import Actor


def _say(key: str, lang: str, **params: Any) -> str:
    return catalogue.text("alert", key, lang).format(**params)


def test_message(runtime: Runtime, channel: str, lang: str) -> notify.Message:
    base = runtime.settings.base_url
    now = clock.local_text(clock.now(), runtime.settings.timezone) or ""
    title = _say("test_title", lang)
    lines = [_say("test_body", lang, channel=channel), _say("test_time", lang, time=now)]
    link = f"{base}/scheduler/"
    facts = {"event": "test", "channel": channel, "time": clock.iso(clock.now()) or "", "link": link}
    return notify.Message(
        title=title,
        markdown="\n\n".join(lines) + f"\n\n[{_say('open_console', lang)}]({link})",
        text="\n".join(lines) + f"\n{link}",
        facts=facts,
        failure=False,
    )


def send_test(runtime: Runtime, channel: AlertChannel, actor: Actor, lang: str) -> dict[str, Any]:
    """Send a test alert to ``channel`` now; the delivery, as recorded in the history."""
    target = alert_channels.target_of(runtime, channel)
    message = test_message(runtime, channel.name, lang)
    stamp = clock.now().strftime("%Y%m%dT%H%M%S.%f")
    delivery = alert_deliveries.record_attempt(
        runtime,
        target,
        message,
        event="test",
        dedupe_key=f"test:{channel.id}:{stamp}",
        lang=lang,
    )
    return alert_deliveries.to_dict(delivery)
