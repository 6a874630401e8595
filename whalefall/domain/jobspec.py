"""A job as the API, the CLI, imports and the default jobs give it: one pydantic model each.

They check types and shapes; cross-field rules (a trigger that parses, a
function that exists, code that compiles) live in ``services.jobs``, so every
way in enforces them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from whalefall.domain.alertspec import NotifyPolicy
from whalefall.domain.base import Strict

JobId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
FlatValue = str | int | None
InstanceName = Annotated[str, StringConstraints(min_length=1, max_length=128)]


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
    uses_instances: list[InstanceName] | None = Field(
        None,
        max_length=20,
        description="registered instances (by name) a code or shell job may connect to; admins only",
    )

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise PydanticCustomError("not_blank", "must not be blank")
        return value


class JobCreate(JobPatch):
    id: JobId = Field(description="1-64 characters of A-Z a-z 0-9 _ . -")
    name: str = Field(min_length=1, max_length=200)
