"""Export every job as plain data, and import it back all-or-nothing."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from whalefall.domain.jobspec import JobCreate, JobPatch
from whalefall.errors import InvalidInput, WhalefallError
from whalefall.models import Job, JobKind
from whalefall.runtime import Runtime
from whalefall.services import jobs as job_service
from whalefall.services.audit import Actor

EXPORTED = (
    "id",
    "name",
    "description",
    "category",
    "params",
    "trigger_type",
    "trigger_params",
    "timezone",
    "state",
    "misfire_grace_time",
    "coalesce",
    "max_instances",
    "timeout_seconds",
    "max_retries",
    "retry_delay_seconds",
    "depends_on",
    "notify",
)


def export_jobs(runtime: Runtime) -> list[dict[str, Any]]:
    with runtime.db.read() as session:
        rows = list(session.query(Job).order_by(Job.id))
    out = []
    for job in rows:
        data = {k: getattr(job, k) for k in EXPORTED}
        if job.kind == JobKind.CODE:
            data["code"] = job.code
        elif job.kind == JobKind.SHELL:
            shell = job_service.shell_fields(job)
            data.update({k: shell[k] for k in ("command", "script", "working_dir")})
            data["env"] = shell["env"] or None
        else:
            data["function"] = job.func_name
        out.append({k: v for k, v in data.items() if v is not None})
    return out


def upstream_first(entries: list[Any]) -> list[tuple[int, Any]]:
    """(position, entry) pairs ordered so a job comes after the jobs of this file it depends on.

    depends_on is checked against the session, so an upstream must be written first;
    a cycle keeps file order and is then refused by the cycle check, naming it.
    """
    positions = {e.get("id"): i for i, e in enumerate(entries) if isinstance(e, dict)}
    ordered: list[tuple[int, Any]] = []
    state: dict[int, str] = {}

    def visit(i: int) -> None:
        if state.get(i):
            return
        state[i] = "visiting"
        entry = entries[i]
        deps = entry.get("depends_on") if isinstance(entry, dict) else None
        for dep in deps if isinstance(deps, list) else []:
            j = positions.get(dep)
            if j is not None and not state.get(j):
                visit(j)
        state[i] = "done"
        ordered.append((i + 1, entry))

    for i in range(len(entries)):
        visit(i)
    return ordered


def import_jobs(runtime: Runtime, entries: Any, actor: Actor) -> tuple[list[str], list[str]]:
    """Create or update every entry in one transaction; the first invalid entry aborts it all.

    Raises InvalidInput naming the entry (by position and id) and the field.
    """
    if not isinstance(entries, list):
        raise InvalidInput("expected a list of jobs (or a mapping with a `jobs` list)", key="import_not_list")
    created, updated = [], []
    with runtime.db.begin() as session:
        for index, entry in upstream_first(entries):
            entry_id = entry.get("id") if isinstance(entry, dict) else "?"
            where = f"job #{index} ({entry_id})"
            at = {"index": index, "id": entry_id}
            if not isinstance(entry, dict):
                raise InvalidInput(f"{where}: expected a mapping", key="import_not_mapping", params=at)
            try:
                if session.get(Job, entry.get("id")) is None:
                    job_service.create(runtime, JobCreate.model_validate(entry), actor, session=session)
                    created.append(entry["id"])
                else:
                    patch = JobPatch.model_validate({k: v for k, v in entry.items() if k != "id"})
                    job_service.update(runtime, entry["id"], patch, actor, session=session)
                    updated.append(entry["id"])
                session.flush()
            except ValidationError as exc:
                err = exc.errors()[0]
                field = ".".join(str(p) for p in err["loc"])
                raise InvalidInput(
                    f"{where}: {field}: {err['msg']}",
                    field=field,
                    key="import_entry_invalid",
                    params={
                        **at,
                        "field": field,
                        "detail": {"validation": err["type"], "ctx": err.get("ctx")},
                    },
                ) from None
            except WhalefallError as exc:
                raise InvalidInput(
                    f"{where}: {exc.message}",
                    errors=exc.errors,
                    key="import_entry_error",
                    params={**at, "detail": {"key": exc.key, "params": exc.params, "message": exc.message}},
                ) from None
    runtime.changed()
    return created, updated
