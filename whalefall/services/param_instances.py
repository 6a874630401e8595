"""Registered instances named in a built-in job's ``params`` (a template's instance picker).

A parameter whose JSON Schema says ``"format": "instance"`` holds a registered instance's id; it
must exist and be of one of the engines its ``x-db-types`` lists. Checked on every way a job is
saved (``services.jobs``), as the task's model cannot read the database.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from whalefall.errors import InvalidInput
from whalefall.models.fleet import Instance

INSTANCE_FORMAT = "instance"


def instance_fields(schema: dict[str, Any]) -> dict[str, list[str]]:
    """The parameters naming a registered instance → the engines each accepts (empty: any)."""
    return {
        name: list(spec.get("x-db-types") or [])
        for name, spec in schema.get("properties", {}).items()
        if spec.get("format") == INSTANCE_FORMAT
    }


def _problem(session: Session, name: str, value: Any, engines: list[str]) -> InvalidInput | None:
    field = f"params.{name}"
    instance = session.get(Instance, int(value))
    if instance is None:
        return InvalidInput(
            f"{field}: no registered instance with id {value}",
            field=field,
            key="template_instance_unknown",
            params={"field": field, "id": value},
        )
    if engines and instance.db_type not in engines:
        allowed = ", ".join(engines)
        return InvalidInput(
            f"{field}: instance {instance.name!r} is {instance.db_type}; this template works with {allowed}",
            field=field,
            key="template_instance_engine",
            params={"field": field, "name": instance.name, "db_type": instance.db_type, "allowed": allowed},
        )
    return None


def check(session: Session, schema: dict[str, Any], params: dict[str, Any]) -> None:
    """Raise InvalidInput (400) naming every instance parameter that is unknown or of another engine."""
    problems = [
        problem
        for name, engines in instance_fields(schema).items()
        if params.get(name) is not None and (problem := _problem(session, name, params[name], engines))
    ]
    if problems:
        first = problems[0]
        for other in problems[1:]:
            first.errors.update(other.errors)
        raise first
