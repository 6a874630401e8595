"""Named errors of the fleet; the API maps them to HTTP through ``WhalefallError.status``."""

from __future__ import annotations

from whalefall.errors import ConfigError, Conflict, NotFound, WhalefallError


class InstanceNotFound(NotFound):
    def __init__(self, instance_id: object):
        super().__init__(f"instance {instance_id!r} does not exist")
        self.instance_id = instance_id


class InstanceConflict(Conflict):
    def __init__(self, name: str):
        super().__init__(f"an instance named {name!r} already exists", field="name")
        self.name = name


class SessionNotFound(NotFound):
    def __init__(self, session_id: object):
        super().__init__(f"sync session {session_id!r} does not exist")
        self.session_id = session_id


class FleetUnreachable(WhalefallError):
    """An instance could not be connected to or read; the message is the driver's, in words."""

    status = 502


class SecretUnreadable(ConfigError):
    """A stored instance password cannot be decrypted with the configured key."""
