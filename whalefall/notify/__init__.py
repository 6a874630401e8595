"""Alert channels through Apprise: check a URL, mask it, send one message to it.

One module for the wire, as ``fleet/`` is for database engines: the services
decide what to say and to whom; this sends it and says how it went. A channel
is any Apprise URL (``mailto://``, ``dingtalk://``, ``wecombot://``,
``feishu://``, ``slack://``, ``json://``, …). Every send gets a fresh Apprise
object (a reused one waits 5.5 s between sends to the same robot), connect and
read timeouts when the URL names none, and no retries of its own: the
dispatcher retries with backoff and records each attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import apprise
from apprise import NotifyFormat, NotifyType

from whalefall.errors import InvalidInput
from whalefall.notify import plugins

KINDS = {
    "mailto": "email",
    "mailtos": "email",
    "dingtalk": "dingtalk",
    "wecombot": "wecom",
    "feishu": "feishu",
    "lark": "feishu",
    "slack": "slack",
    "json": "webhook",
    "jsons": "webhook",
    "form": "webhook",
    "forms": "webhook",
}
#: Kinds that render Markdown; the others get plain text.
MARKDOWN_KINDS = frozenset({"dingtalk", "wecom", "feishu", "slack"})
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 10

plugins.install()


@dataclass(frozen=True)
class Message:
    """What to say: a title, a Markdown body, the same in plain text, and the facts for webhooks."""

    title: str
    markdown: str
    text: str
    facts: dict[str, str] = field(default_factory=dict)
    failure: bool = True


@dataclass(frozen=True)
class Channel:
    kind: str
    masked: str


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def kind_of(url: str) -> str:
    return KINDS.get(scheme_of(url), "other")


def check(url: str, *, field_name: str = "url") -> Channel:
    """The channel a URL names; InvalidInput naming ``field_name`` when Apprise cannot use it."""
    url = url.strip()
    if not url or any(c.isspace() for c in url) or "," in url:
        raise InvalidInput(
            "give one Apprise URL (no spaces or commas)",
            field=field_name,
            key="channel_url_one",
            params={"field": field_name},
        )
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        raise InvalidInput(
            f"{scheme_of(url) or url!r} is not an Apprise URL we can send to",
            field=field_name,
            key="channel_url_invalid",
            params={"field": field_name, "scheme": scheme_of(url) or "?"},
        )
    masked = str(plugin.url(privacy=True))
    if kind_of(url) == "webhook":
        masked = _mask_webhook(masked)
    return Channel(kind=kind_of(url), masked=masked)


def _mask_webhook(masked: str) -> str:
    """Apprise masks a webhook's password but not its path or query, where many webhooks keep
    their token: keep the host and the first path segment, hide the rest and every value."""
    parts = urlsplit(masked)
    segments = [s for s in parts.path.split("/") if s]
    path = ("/" + segments[0] if segments else "") + ("/…" if len(segments) > 1 else "")
    query = "&".join(
        f"{k}=…" for k, _ in parse_qsl(parts.query, keep_blank_values=True) if k not in _PLAIN_KEYS
    )
    return urlunsplit(parts._replace(path=path, query=query))


_PLAIN_KEYS = frozenset({"overflow", "retry", "wait", "optional", "cto", "rto", "method", "format"})


def _with_defaults(url: str, facts: dict[str, str]) -> str:
    """The URL with our timeouts (unless it names its own), no Apprise retries, and webhook fields."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.setdefault("cto", str(CONNECT_TIMEOUT_SECONDS))
    query.setdefault("rto", str(READ_TIMEOUT_SECONDS))
    query["retry"] = "0"
    if kind_of(url) == "webhook":
        query.update({f":{key}": value for key, value in facts.items()})
    return urlunsplit(parts._replace(query=urlencode(query, safe="*:/@")))


def send(url: str, message: Message) -> tuple[bool, str]:
    """Send ``message`` to one channel. (True, "") or (False, why), never an exception."""
    kind = kind_of(url)
    markdown = kind in MARKDOWN_KINDS
    notifier = apprise.Apprise(asset=apprise.AppriseAsset(app_id="Whalefall", app_desc="Whalefall"))
    if not notifier.add(_with_defaults(url, message.facts)) or len(notifier) != 1:
        return False, "the channel URL is not usable"
    try:
        result = notifier.notify(
            title=message.title,
            body=message.markdown if markdown else message.text,
            body_format=NotifyFormat.MARKDOWN if markdown else NotifyFormat.TEXT,
            notify_type=NotifyType.FAILURE if message.failure else NotifyType.SUCCESS,
        )
    except Exception as exc:  # noqa: BLE001 - a plugin's bug must not reach the dispatcher
        return False, f"{type(exc).__name__}: {exc}"
    if result:
        return True, ""
    # The result keeps this call's own log lines (Apprise captures them per call).
    reasons = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR")]
    return False, "; ".join(dict.fromkeys(reasons))[-500:] or "the channel refused the message"
