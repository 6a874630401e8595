"""Export every job as plain data, and import it back all-or-nothing; import a crontab as shell jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from whalefall import clock
from whalefall.domain import crontab
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
    "uses_instances",
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


# --- crontab ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CrontabIssue:
    """A line not imported: a ``cli`` word (``key``) or, from the job checks, an ``api`` error."""

    line: int
    key: str | None
    params: dict[str, Any]
    context: str = "cli"
    message: str = ""


@dataclass
class CrontabPlan:
    """What a crontab import creates (``rows``: line, id, schedule, command, next run) and why
    some lines are not (``issues``), with the notes of the reading."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    issues: list[CrontabIssue] = field(default_factory=list)
    notes: list[crontab.Note] = field(default_factory=list)
    created: bool = False


class _Rollback(Exception):
    pass


def import_crontab(
    runtime: Runtime,
    table: crontab.Crontab,
    actor: Actor,
    *,
    category: str = "crontab",
    prefix: str = "",
    dry_run: bool = False,
    skip_untranslatable: bool = False,
) -> CrontabPlan:
    """Create a shell job per translated line, in one transaction, checked like any job.

    Every job is checked (by ``jobs.create``, in a transaction) before anything is kept. With a
    line that is not translated or not valid, nothing is created unless ``skip_untranslatable``
    (the others are created, the lines listed); ``dry_run`` keeps nothing either way.
    An id already in use is such a line: an import never changes an existing job.
    """
    plan = CrontabPlan(notes=list(table.notes))
    plan.issues = [CrontabIssue(p.line, p.key, dict(p.params)) for p in table.problems]
    ids = crontab.make_ids(table.entries, prefix)
    try:
        with runtime.db.begin() as session:
            for entry, job_id in zip(table.entries, ids, strict=True):
                data = {
                    "id": job_id,
                    "name": crontab.job_name(entry),
                    "category": category,
                    **entry.job_fields(),
                }
                try:
                    job = job_service.create(runtime, JobCreate.model_validate(data), actor, session=session)
                    session.flush()
                except ValidationError as exc:
                    err = exc.errors()[0]
                    where = ".".join(str(p) for p in err["loc"])
                    plan.issues.append(
                        CrontabIssue(
                            entry.line,
                            "invalid",
                            {"field": where, "detail": {"validation": err["type"], "ctx": err.get("ctx")}},
                            context="api",
                            message=f"{where}: {err['msg']}",
                        )
                    )
                    continue
                except WhalefallError as exc:
                    plan.issues.append(
                        CrontabIssue(
                            entry.line, exc.key, dict(exc.params), context="api", message=exc.message
                        )
                    )
                    continue
                tz = job_service.timezone_of(runtime, job)
                plan.rows.append(
                    {
                        "line": entry.line,
                        "id": job.id,
                        "schedule": entry.schedule,
                        "command": entry.command,
                        "next_run_time": clock.local_text(job.next_run_time, tz),
                    }
                )
            plan.issues.sort(key=lambda issue: issue.line)
            if dry_run or (plan.issues and not skip_untranslatable) or not plan.rows:
                raise _Rollback
    except _Rollback:
        return plan
    plan.created = True
    runtime.changed()
    return plan
