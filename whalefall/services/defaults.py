"""Default jobs from ``scheduler_tasks.yaml``: created once, edits kept, deletions respected."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml
from sqlalchemy import select

from whalefall.domain.jobspec import JobCreate
from whalefall.errors import InvalidInput
from whalefall.models import Job, SeededDefault
from whalefall.runtime import Runtime
from whalefall.services import jobs as job_service
from whalefall.services.audit import Actor


def load_definitions() -> list[dict[str, Any]]:
    text = resources.files("whalefall").joinpath("scheduler_tasks.yaml").read_text(encoding="utf-8")
    return list((yaml.safe_load(text) or {}).get("tasks", []))


def to_input(entry: dict[str, Any]) -> JobCreate:
    trigger = dict(entry.get("trigger") or {})
    kind = trigger.pop("type", None)
    try:
        return JobCreate(
            id=entry["id"],
            name=entry.get("name", entry["id"]),
            description=entry.get("description", ""),
            category=entry.get("category", ""),
            function=entry["function"],
            params=entry.get("params") or {},
            state="active" if entry.get("enabled", True) else "paused",
            trigger_type=kind,
            trigger_params={k: str(v) if kind == "cron" else v for k, v in trigger.items()},
        )
    except (KeyError, ValueError) as exc:
        raise InvalidInput(
            f"scheduler_tasks.yaml entry {entry.get('id')!r} is invalid: {exc}",
            key="default_job_invalid",
            params={"id": entry.get("id"), "detail": str(exc)},
        ) from None


def seed(runtime: Runtime) -> list[str]:
    """Create every default job never seeded before; returns the ids created."""
    created = []
    actor = Actor.system()
    with runtime.db.begin() as session:
        seeded = set(session.scalars(select(SeededDefault.job_id)))
        for entry in load_definitions():
            if entry["id"] in seeded:
                continue
            session.add(SeededDefault(job_id=entry["id"]))
            if session.get(Job, entry["id"]) is None:
                job_service.create(runtime, to_input(entry), actor, is_default=True, session=session)
                created.append(entry["id"])
    if created:
        runtime.changed()
    return created


def reset(runtime: Runtime, actor: Actor) -> list[str]:
    """Recreate every default job as the YAML defines it, replacing edits; returns their ids."""
    ids = []
    with runtime.db.begin() as session:
        for entry in load_definitions():
            existing = session.get(Job, entry["id"])
            if existing is not None:
                session.delete(existing)
                session.flush()
            if session.get(SeededDefault, entry["id"]) is None:
                session.add(SeededDefault(job_id=entry["id"]))
            job_service.create(runtime, to_input(entry), actor, is_default=True, session=session)
            ids.append(entry["id"])
    runtime.changed()
    return ids
