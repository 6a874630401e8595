"""Named errors of the fleet; the API maps them to HTTP through ``WhalefallError.status``."""

from __future__ import annotations

from whalefall.errors import ConfigError, Conflict, NotFound, WhalefallError


class InstanceNotFound(NotFound):
    def __init__(self, instance_id: object):
        super().__init__(
            f"instance {instance_id!r} does not exist", key="instance_not_found", params={"id": instance_id}
        )
        self.instance_id = instance_id


class InstanceConflict(Conflict):
    def __init__(self, name: str):
        super().__init__(
            f"an instance named {name!r} already exists",
            field="name",
            key="instance_name_taken",
            params={"name": name},
        )
        self.name = name


class SessionNotFound(NotFound):
    def __init__(self, session_id: object):
        super().__init__(
            f"sync session {session_id!r} does not exist", key="session_not_found", params={"id": session_id}
        )
        self.session_id = session_id


class FleetUnreachable(WhalefallError):
    """An instance could not be connected to or read; the message is the driver's, in words."""

    status = 502


class SecretUnreadable(ConfigError):
    """A stored instance password cannot be decrypted with the configured key."""
