"""Export every job as plain data, and import it back all-or-nothing; import a crontab as shell jobs."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

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
    return [export_job(job) for job in rows]


def export_job(job: Job) -> dict[str, Any]:
    """One job as the export writes it (and as an import compares it)."""
    data = {k: getattr(job, k) for k in EXPORTED}
    if job.kind == JobKind.CODE:
        data["code"] = job.code
    elif job.kind == JobKind.SHELL:
        shell = job_service.shell_fields(job)
        data.update({k: shell[k] for k in ("command", "script", "working_dir")})
        data["env"] = shell["env"] or None
    else:
        data["function"] = job.func_name
    return copy.deepcopy({k: v for k, v in data.items() if v is not None})


def upstream_first(entries: list[Any]) -> list[tuple[int, Any]]:
    """(position, entry) pairs ordered so a job comes after the jobs of this file it depends on.

    depends_on is checked against the session, so an upstream must be written first;
    a cycle keeps file order and is then refused by the cycle check, naming it.
    """
    positions = {
        e["id"]: i for i, e in enumerate(entries) if isinstance(e, dict) and isinstance(e.get("id"), str)
    }
    ordered: list[tuple[int, Any]] = []
    state: dict[int, str] = {}

    def visit(i: int) -> None:
        if state.get(i):
            return
        state[i] = "visiting"
        entry = entries[i]
        deps = entry.get("depends_on") if isinstance(entry, dict) else None
        for dep in deps if isinstance(deps, list) else []:
            j = positions.get(dep) if isinstance(dep, str) else None
            if j is not None and not state.get(j):
                visit(j)
        state[i] = "done"
        ordered.append((i + 1, entry))

    for i in range(len(entries)):
        visit(i)
    return ordered


class _Rollback(Exception):
    """Raised to end a transaction that only checks (a plan, a dry run) without keeping it."""


@dataclass
class ImportReport:
    """What an import creates, changes (with the fields) and leaves unchanged; ``applied`` once kept."""

    created: list[str] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    dry_run: bool = False
    applied: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "applied": self.applied,
            "created": self.created,
            "changed": self.changed,
            "unchanged": self.unchanged,
        }


def import_jobs(runtime: Runtime, entries: Any, actor: Actor, *, dry_run: bool = False) -> ImportReport:
    """Create or update every entry, all or nothing; report what it creates, changes and leaves.

    Steps:
    1. plan: apply every entry in one transaction that is then rolled back, comparing each
       existing job before and after (the first invalid entry stops it, naming it);
    2. unless ``dry_run``: apply the created and changed entries in one transaction — the
       unchanged ones are not touched (no audit row, no change in the feed).

    Raises InvalidInput naming the entry (by position and id) and the field.
    """
    if not isinstance(entries, list):
        raise InvalidInput("expected a list of jobs (or a mapping with a `jobs` list)", key="import_not_list")
    report = ImportReport(dry_run=dry_run)
    try:
        with runtime.db.begin() as session:
            _import_each(runtime, session, entries, actor, report, only=None)
            raise _Rollback
    except _Rollback:
        pass
    touched = {*report.created, *(c["id"] for c in report.changed)}
    if dry_run or not touched:
        return report
    with runtime.db.begin() as session:
        _import_each(runtime, session, entries, actor, ImportReport(), only=touched)
    report.applied = True
    runtime.changed()
    return report


def _import_each(
    runtime: Runtime,
    session: Session,
    entries: list[Any],
    actor: Actor,
    report: ImportReport,
    *,
    only: set[str] | None,
) -> None:
    for index, entry in upstream_first(entries):
        entry_id = entry.get("id") if isinstance(entry, dict) else "?"
        where = f"job #{index} ({entry_id})"
        at = {"index": index, "id": entry_id}
        if not isinstance(entry, dict):
            raise InvalidInput(f"{where}: expected a mapping", key="import_not_mapping", params=at)
        if only is not None and entry_id not in only:
            continue
        try:
            # An id that is no string is no job's: the create names it as the body's `id`.
            existing = session.get(Job, entry_id) if isinstance(entry_id, str) and entry_id else None
            if existing is None:
                job_service.create(runtime, JobCreate.model_validate(entry), actor, session=session)
                report.created.append(entry["id"])
            else:
                before = export_job(existing)
                patch = JobPatch.model_validate({k: v for k, v in entry.items() if k != "id"})
                job = job_service.update(runtime, entry["id"], patch, actor, session=session, force=True)
                after = export_job(job)
                fields = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
                if fields:
                    report.changed.append({"id": entry["id"], "fields": fields})
                else:
                    report.unchanged.append(entry["id"])
            session.flush()
        except ValidationError as exc:
            err = exc.errors()[0]
            field_name = ".".join(str(p) for p in err["loc"])
            raise InvalidInput(
                f"{where}: {field_name}: {err['msg']}",
                field=field_name,
                key="import_entry_invalid",
                params={
                    **at,
                    "field": field_name,
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
