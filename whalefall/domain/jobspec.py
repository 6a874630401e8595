"""A job as the API, the CLI, imports and the default jobs give it: one pydantic model each.

They check types and shapes; cross-field rules (a trigger that parses, a
function that exists, code that compiles) live in ``services.jobs``, so every
way in enforces them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from whalefall.domain.alertspec import NotifyPolicy
from whalefall.domain.base import Strict

JobId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
FlatValue = str | int | None
InstanceName = Annotated[str, StringConstraints(min_length=1, max_length=128)]

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The product's own variables (a shell job gets WHALEFALL_RUN_ID …): a job may not set them.
RESERVED_ENV_PREFIX = "WHALEFALL_"
MAX_SCRIPT_CHARS = 1_000_000


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("nul_byte", "must not contain NUL bytes")
    return value


class TriggerFields(Strict):
    """The trigger in the flat form the console sends, or ``trigger_type`` + ``trigger_params``."""

    trigger_type: Literal["cron", "interval", "date", "dependency"] | None = None
    trigger_params: dict[str, Any] | None = None
    cron_expression: str | None = None
    cron_second: FlatValue = None
    cron_minute: FlatValue = None
    cron_hour: FlatValue = None
    cron_day: FlatValue = None
    cron_month: FlatValue = None
    cron_day_of_week: FlatValue = None
    cron_year: FlatValue = None
    interval_weeks: FlatValue = None
    interval_days: FlatValue = None
    interval_hours: FlatValue = None
    interval_minutes: FlatValue = None
    interval_seconds: FlatValue = None
    run_date: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    jitter: int | None = Field(None, ge=0)
    timezone: str | None = Field(None, max_length=64)

    def trigger_data(self) -> dict[str, Any]:
        """The trigger fields that were given, for ``triggers.parse_trigger``."""
        names = TriggerFields.model_fields.keys() - {"timezone"}
        return {k: v for k, v in self.model_dump(include=set(names)).items() if v not in (None, "")}

    def has_trigger(self) -> bool:
        return bool(self.trigger_data())


class JobPatch(TriggerFields):
    """Fields of a job; on update every field is optional and only those given change."""

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    category: str | None = Field(None, max_length=64)
    function: str | None = Field(None, max_length=128, description="a built-in task name (see /api/tasks)")
    func_name: str | None = Field(None, max_length=128, description="alias of `function`")
    params: dict[str, Any] | None = None
    code: str | None = Field(None, description="Python source defining `def execute_task():`")
    command: list[str] | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description=(
            "a shell job run as this argv list, directly (no shell): the program (looked up in PATH) "
            "and its arguments"
        ),
    )
    script: str | None = Field(
        None,
        max_length=MAX_SCRIPT_CHARS,
        description="a shell job whose text is run by `/bin/sh -c` (pipes, `&&`, several lines)",
    )
    working_dir: str | None = Field(
        None,
        max_length=4096,
        description=(
            "shell jobs: absolute directory the command starts in (default: the run's private, "
            "empty workdir). The host's files are read-only to a job except its workdir, /tmp and "
            "WHALEFALL_SANDBOX_WRITABLE_PATHS; empty text means the default"
        ),
    )
    env: dict[str, str] | None = Field(
        None,
        max_length=200,
        description=(
            "shell jobs: environment variables NAME → value added to the job's scrubbed environment "
            "(names `[A-Za-z_][A-Za-z0-9_]*`, not starting with WHALEFALL_)"
        ),
    )
    state: Literal["active", "paused"] | None = None
    enabled: bool | None = Field(None, description="alias: false means state=paused")
    misfire_grace_time: int | None = Field(None, ge=1, le=30 * 86400)
    coalesce: bool | None = None
    max_instances: int | None = Field(None, ge=1, le=100)
    timeout_seconds: int | None = Field(None, ge=1, le=7 * 86400)
    max_retries: int | None = Field(None, ge=0, le=20)
    retry_delay_seconds: int | None = Field(None, ge=0, le=86400)
    depends_on: list[JobId] | None = Field(None, max_length=50)
    notify: NotifyPolicy | None = Field(None, description="the job's alert policy over the global one")
    version_note: str | None = Field(
        None,
        max_length=500,
        description="why the source of a code or shell job changed; kept with the new version",
    )
    uses_instances: list[InstanceName] | None = Field(
        None,
        max_length=20,
        description="registered instances (by name) a code or shell job may connect to; admins only",
    )

    @field_validator("command")
    @classmethod
    def _command_shape(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value[0].strip():
            raise PydanticCustomError("command_program", "the program (first item) must not be blank")
        for part in value:
            _no_nul(part)
        return value

    @field_validator("script")
    @classmethod
    def _script_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise PydanticCustomError("not_blank", "must not be blank")
        return None if value is None else _no_nul(value)

    @field_validator("working_dir")
    @classmethod
    def _absolute_dir(cls, value: str | None) -> str | None:
        if not value:
            return value
        _no_nul(value)
        if not value.startswith("/"):
            raise PydanticCustomError("absolute_path", "must be an absolute path (starting with /)")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, text in (value or {}).items():
            if not ENV_NAME.match(name):
                raise PydanticCustomError(
                    "env_name",
                    "{name} is not a variable name (letters, digits and _, not starting with a digit)",
                    {"name": name[:64]},
                )
            if name.upper().startswith(RESERVED_ENV_PREFIX):
                raise PydanticCustomError(
                    "env_reserved", "{name}: names starting with WHALEFALL_ are reserved", {"name": name}
                )
            _no_nul(text)
        return value

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise PydanticCustomError("not_blank", "must not be blank")
        return value


class JobCreate(JobPatch):
    id: JobId = Field(description="1-64 characters of A-Z a-z 0-9 _ . -")
    name: str = Field(min_length=1, max_length=200)
