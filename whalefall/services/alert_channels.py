"""Alert channels: the one place a channel is created, changed, deleted or tried.

A channel is a named Apprise URL. Its URL holds the robot's token or the mail
password, so it is stored encrypted (the instances' key) and answered only in
Apprise's masked form. The channels of ``WHALEFALL_NOTIFY_URLS`` are listed
beside the stored ones, read-only, as ``env-1``, ``env-2`` ….
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from whalefall import clock, notify
from whalefall.domain.alertspec import ChannelCreate, ChannelPatch
from whalefall.errors import ChannelNotFound, Conflict
from whalefall.fleet import crypto
from whalefall.models import AlertChannel
from whalefall.runtime import Runtime
from whalefall.services import audit
from whalefall.services.audit import Actor

ENV_PREFIX = "env-"


@dataclass(frozen=True)
class Target:
    """Where an alert can go: a channel's name, kind and its (decrypted) URL."""

    name: str
    kind: str
    url: str
    masked: str
    from_env: bool = False


def get(session: Session, channel_id: int) -> AlertChannel:
    channel = session.get(AlertChannel, channel_id)
    if channel is None:
        raise ChannelNotFound(channel_id)
    return channel


def list_all(session: Session) -> list[AlertChannel]:
    return list(session.scalars(select(AlertChannel).order_by(AlertChannel.name)))


def env_targets(runtime: Runtime) -> list[Target]:
    targets = []
    for index, url in enumerate(runtime.settings.notify_url_list, 1):
        try:
            channel = notify.check(url)
        except ValueError:
            continue  # start-up checks the setting; an unusable one is skipped here, never sent to
        targets.append(Target(f"{ENV_PREFIX}{index}", channel.kind, url, channel.masked, from_env=True))
    return targets


def targets(runtime: Runtime, names: list[str] | None = None) -> list[Target]:
    """The enabled channels (``names`` of them when given; ``*`` or None means all), environment ones included."""
    with runtime.db.read() as session:
        stored = [c for c in list_all(session) if c.enabled]
    found = [
        Target(c.name, c.kind, crypto.decrypt(runtime, c.url_encrypted, instance_name=c.name), c.url_masked)
        for c in stored
    ] + env_targets(runtime)
    if names is None or "*" in names:
        return found
    wanted = set(names)
    return [t for t in found if t.name in wanted]


def known_names(runtime: Runtime) -> set[str]:
    with runtime.db.read() as session:
        names = set(session.scalars(select(AlertChannel.name)))
    return names | {t.name for t in env_targets(runtime)}


def _apply(runtime: Runtime, channel: AlertChannel, data: ChannelPatch) -> None:
    given = data.model_fields_set
    if data.name is not None:
        if data.name.startswith(ENV_PREFIX):
            raise Conflict(
                f"names starting with {ENV_PREFIX!r} are the environment's channels",
                field="name",
                key="channel_name_reserved",
                params={"prefix": ENV_PREFIX},
            )
        channel.name = data.name
    if data.url is not None:
        checked = notify.check(data.url)
        channel.kind, channel.url_masked = checked.kind, checked.masked
        channel.url_encrypted = crypto.encrypt(runtime, data.url.strip())
    if "description" in given and data.description is not None:
        channel.description = data.description
    if data.enabled is not None:
        channel.enabled = data.enabled


def _name_taken(session: Session, name: str, but: int | None = None) -> bool:
    query = select(AlertChannel.id).where(AlertChannel.name == name)
    if but is not None:
        query = query.where(AlertChannel.id != but)
    return session.scalar(query) is not None


def _taken(name: str) -> Conflict:
    return Conflict(
        f"a channel named {name!r} already exists",
        field="name",
        key="channel_name_taken",
        params={"name": name},
    )


def create(runtime: Runtime, data: ChannelCreate, actor: Actor) -> AlertChannel:
    """Create a channel. Raises InvalidInput (a URL Apprise cannot use), Conflict (the name)."""
    now = clock.now()
    channel = AlertChannel(
        description="", enabled=True, created_by=actor.name, created_at=now, updated_at=now
    )
    _apply(runtime, channel, data)
    with runtime.db.begin() as session:
        if _name_taken(session, channel.name):
            raise _taken(channel.name)
        session.add(channel)
        session.flush()
        audit.record(
            session,
            actor,
            "channel.create",
            "channel",
            str(channel.id),
            {"name": channel.name, "kind": channel.kind},
        )
    return channel


def update(runtime: Runtime, channel_id: int, data: ChannelPatch, actor: Actor) -> AlertChannel:
    with runtime.db.begin() as session:
        channel = get(session, channel_id)
        with session.no_autoflush:
            _apply(runtime, channel, data)
            if _name_taken(session, channel.name, but=channel.id):
                raise _taken(channel.name)
        channel.updated_at = clock.now()
        fields = sorted(data.model_fields_set)
        audit.record(
            session,
            actor,
            "channel.update",
            "channel",
            str(channel.id),
            {"name": channel.name, "fields": fields},
        )
    return channel


def delete(runtime: Runtime, channel_id: int, actor: Actor) -> None:
    with runtime.db.begin() as session:
        channel = get(session, channel_id)
        session.delete(channel)
        audit.record(session, actor, "channel.delete", "channel", str(channel_id), {"name": channel.name})


def target_of(runtime: Runtime, channel: AlertChannel) -> Target:
    url = crypto.decrypt(runtime, channel.url_encrypted, instance_name=channel.name)
    return Target(channel.name, channel.kind, url, channel.url_masked)


def to_dict(channel: AlertChannel) -> dict[str, Any]:
    return {
        "id": channel.id,
        "name": channel.name,
        "kind": channel.kind,
        "url": channel.url_masked,
        "description": channel.description,
        "enabled": channel.enabled,
        "from_env": False,
        "created_by": channel.created_by,
        "created_at": clock.iso(channel.created_at),
        "updated_at": clock.iso(channel.updated_at),
    }


def env_to_dict(target: Target) -> dict[str, Any]:
    return {
        "id": None,
        "name": target.name,
        "kind": target.kind,
        "url": target.masked,
        "description": "WHALEFALL_NOTIFY_URLS",
        "enabled": True,
        "from_env": True,
        "created_by": None,
        "created_at": None,
        "updated_at": None,
    }
