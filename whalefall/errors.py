"""Named exceptions of the domain.

Each builds its message from what it failed on; the API maps them to HTTP in
one place (``whalefall.web.errors``). ``field`` names the request field at
fault, when there is one, so the envelope can say which.
"""

from __future__ import annotations

from whalefall import defaults


class WhalefallError(Exception):
    """Base of every error the product raises on purpose."""

    status = 400

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: dict[str, str] | None = None,
        key: str | None = None,
        params: dict[str, object] | None = None,
    ):
        super().__init__(message)
        self.message = message
        # A key of the API's message catalogue: the API says it in the caller's language.
        self.key = key
        self.params = dict(params or {})
        self.field = field
        self.errors = dict(errors or {})
        if field and field not in self.errors:
            self.errors[field] = message


class InvalidInput(WhalefallError, ValueError):
    status = 400


class InvalidTrigger(InvalidInput):
    """A trigger's fields cannot be turned into a schedule."""


class InvalidCode(InvalidInput):
    """A code job's source does not compile or lacks ``execute_task``."""

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        field: str = "code",
        key: str | None = None,
        params: dict[str, object] | None = None,
    ):
        super().__init__(message, field=field, key=key, params=params)
        self.line = line


class NotFound(WhalefallError, LookupError):
    status = 404


class JobNotFound(NotFound):
    def __init__(self, job_id: str):
        super().__init__(f"job {job_id!r} does not exist", key="job_not_found", params={"id": job_id})
        self.job_id = job_id


class RunNotFound(NotFound):
    def __init__(self, run_id: object):
        super().__init__(f"run {run_id!r} does not exist", key="run_not_found", params={"id": run_id})
        self.run_id = run_id


class VersionNotFound(NotFound):
    def __init__(self, job_id: str, number: object):
        super().__init__(
            f"job {job_id!r} has no version {number}",
            key="version_not_found",
            params={"id": job_id, "number": number},
        )


class UserNotFound(NotFound):
    def __init__(self, name: object):
        super().__init__(f"user {name!r} does not exist", key="user_not_found", params={"name": name})


class Conflict(WhalefallError, KeyError):
    status = 409

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class JobConflict(Conflict):
    pass


class RunConflict(Conflict):
    pass


class JobHasDependents(Conflict):
    """A job others depend on cannot be paused (without ``force``) or deleted; names them."""

    def __init__(self, job_id: str, action: str, dependents: list[str]):
        ids = ", ".join(dependents)
        super().__init__(
            f"cannot {action} job {job_id!r}: {ids} depend(s) on it",
            field="force" if action == "pause" else None,
            key=f"job_{action}_has_dependents",
            params={"id": job_id, "ids": ids},
        )
        self.job_id = job_id
        self.dependents = list(dependents)


class Forbidden(WhalefallError, PermissionError):
    status = 403


class BackupRefused(WhalefallError):
    """A backup cannot be taken, read or restored; the message says why and what to do."""


class ConfigError(WhalefallError):
    """A setting has a bad value; start-up stops with this message."""


class InvalidCredentials(WhalefallError):
    """Unknown user, wrong password or disabled account: deliberately not told apart."""

    status = 401

    def __init__(self) -> None:
        super().__init__("invalid username or password", key="invalid_credentials")


class TooManyAttempts(WhalefallError):
    """Too many failed sign-ins for this username or from this address."""

    status = 429

    def __init__(self, retry_after: int = defaults.LOGIN_WINDOW_SECONDS) -> None:
        super().__init__("too many failed sign-in attempts; try again later", key="too_many_attempts")
        self.retry_after = retry_after


class TokenNotFound(NotFound):
    def __init__(self, token_id: object):
        super().__init__(f"token {token_id!r} does not exist", key="token_not_found", params={"id": token_id})
        self.token_id = token_id


class ChannelNotFound(NotFound):
    def __init__(self, channel_id: object):
        super().__init__(
            f"alert channel {channel_id!r} does not exist", key="channel_not_found", params={"id": channel_id}
        )
        self.channel_id = channel_id


class WindowNotFound(NotFound):
    def __init__(self, window_id: object):
        super().__init__(
            f"maintenance window {window_id!r} does not exist",
            key="window_not_found",
            params={"id": window_id},
        )


class UnknownTask(WhalefallError, LookupError):
    """No built-in task of that name (a job naming it is flagged, not deleted)."""

    status = 404

    def __init__(self, name: str):
        super().__init__(f"no built-in task named {name!r}", key="unknown_task", params={"name": name})
        self.name = name


class TaskFailed(WhalefallError, RuntimeError):
    """A built-in task ran and reports failure; the message is its summary (the run's error)."""


class FleetTaskFailed(TaskFailed):
    """Every instance of a fleet session failed; the message is the session's summary."""


class PartitionsMissing(TaskFailed):
    """Partitions the size tables need are missing."""


class TemplateNotFound(NotFound):
    def __init__(self, template_id: str):
        super().__init__(
            f"no template named {template_id!r}", key="template_not_found", params={"id": template_id}
        )
        self.template_id = template_id
