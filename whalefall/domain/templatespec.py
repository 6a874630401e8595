"""A job made from a template (SPEC §7): a job's fields, minus what the template decides.

The template sets what runs (its built-in task); the body gives the job's name, trigger, policies
and the template's ``params``, which the task's own model checks.
"""

from __future__ import annotations

from typing import Any

from pydantic import field_validator
from pydantic_core import PydanticCustomError

from whalefall.domain.jobspec import JobCreate

# What runs is the template's to say: a body naming any of these is refused, naming it.
SET_BY_TEMPLATE = (
    "function",
    "func_name",
    "code",
    "command",
    "script",
    "working_dir",
    "env",
    "uses_instances",
)


class TemplateJobCreate(JobCreate):
    @field_validator(*SET_BY_TEMPLATE)
    @classmethod
    def _set_by_template(cls, value: Any) -> Any:
        if value is not None:
            raise PydanticCustomError("set_by_template", "the template decides this; leave it out")
        return value
