"""Jobs: the one place a job is created, changed, paused, resumed or deleted.

Each change is one transaction that writes ``jobs``, a ``job_changes`` row
(the feed the scheduler follows) and an audit row; afterwards the runtime's
listeners are told, so a scheduler in the same process reacts at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, get_args

import sqlalchemy as sa
from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from whalefall import clock
from whalefall.domain import triggers
from whalefall.domain.codecheck import check_source
from whalefall.domain.jobspec import JobCreate, JobPatch
from whalefall.errors import Forbidden, InvalidInput, JobConflict, JobHasDependents, JobNotFound
from whalefall.i18n import catalogue
from whalefall.models import Job, JobChange, JobKind, JobState, Role, Run
from whalefall.models.fleet import Instance
from whalefall.runtime import Runtime
from whalefall.services import alerts, audit, job_versions, param_instances
from whalefall.services.audit import Actor
from whalefall.services.query import contains, paginate

POLICY_FIELDS = (
    "misfire_grace_time",
    "coalesce",
    "max_instances",
    "timeout_seconds",
    "max_retries",
    "retry_delay_seconds",
)
PLAIN_FIELDS = ("name", "description", "category", "params", *POLICY_FIELDS)


# --- reading -----------------------------------------------------------------


def get(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job


def page(
    session: Session,
    *,
    q: str | None = None,
    category: str | None = None,
    state: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[Job], int]:
    query = select(Job)
    if q:
        query = query.where(or_(*(contains(column, q) for column in (Job.id, Job.name, Job.description))))
    if category:
        query = query.where(Job.category == category)
    if state:
        query = query.where(Job.state == state)
    return paginate(session, query, Job.category, Job.id, page=page, per_page=per_page)


def last_runs(session: Session, job_ids: list[str]) -> dict[str, Run]:
    """The newest run of each job, in one query."""
    if not job_ids:
        return {}
    newest = (select(func.max(Run.id)).where(Run.job_id.in_(job_ids)).group_by(Run.job_id)).scalar_subquery()
    return {run.job_id: run for run in session.scalars(select(Run).where(Run.id.in_(newest)))}


def dependents(session: Session, job_id: str, *, active_only: bool = False) -> list[str]:
    """The ids of the jobs whose ``depends_on`` names ``job_id`` (only the active ones if asked)."""
    query = select(Job.id, Job.depends_on, Job.state).order_by(Job.id)
    return [
        row.id
        for row in session.execute(query)
        if job_id in (row.depends_on or []) and (not active_only or row.state == JobState.ACTIVE.value)
    ]


def spec_of(job: Job) -> triggers.TriggerSpec:
    return triggers.TriggerSpec(type=job.trigger_type, params=job.trigger_params)


class _Zoned(Protocol):
    @property
    def timezone(self) -> str | None: ...


def timezone_of(runtime: Runtime, job: _Zoned) -> str:
    """The zone a job's times are read in: its own, else the global one."""
    return job.timezone or runtime.settings.timezone


def compute_next_run_time(runtime: Runtime, job: Job, *, after: datetime | None = None) -> datetime | None:
    if (
        job.state != JobState.ACTIVE
        or job.broken_reason
        or job.trigger_type == triggers.TriggerType.DEPENDENCY
    ):
        return None
    times = triggers.next_run_times(spec_of(job), timezone_of(runtime, job), 1, start=after or clock.now())
    return times[0] if times else None


# --- who may ----------------------------------------------------------------

# The message of each refused act on a job that runs code; create and update keep their own.
_ADMIN_ONLY = {
    "create": "code_needs_admin",
    "update": "code_change_needs_admin",
    "pause": "code_job_pause_needs_admin",
    "resume": "code_job_resume_needs_admin",
    "run": "code_job_run_needs_admin",
    "delete": "code_job_delete_needs_admin",
    "cancel": "code_job_cancel_needs_admin",
}


def admin_only(kind: str | None) -> bool:
    """Whether a job of ``kind`` is the admin's alone: every kind but ``builtin`` runs code.

    None (a run whose job was deleted, kind unknown) counts as code.
    """
    return kind != JobKind.BUILTIN


def require_may_act(kind: str | None, actor: Actor, action: str, job_id: str) -> None:
    """The one role rule for jobs: a job that runs code (every kind but ``builtin``) is the admin's.

    Creating, changing, copying, pausing, resuming, deleting, running it now and cancelling its
    runs are admin acts, wherever they come from (API, console, CLI, group actions); viewing it
    and its runs is not. Raises Forbidden (403) naming the act and why.
    """
    if admin_only(kind) and actor.role != Role.ADMIN:
        raise Forbidden(
            f"only an admin may {action} job {job_id!r}: it runs code on the server",
            field="code" if action in ("create", "update") else None,
            key=_ADMIN_ONLY[action],
            params={"id": job_id},
        )


# --- validating --------------------------------------------------------------


def _apply(runtime: Runtime, job: Job, patch: JobPatch, actor: Actor, *, creating: bool) -> None:
    """Copy the given fields onto ``job`` and check the whole result; raise before anything is written."""
    given = patch.model_fields_set
    for name in PLAIN_FIELDS:
        if name in given and getattr(patch, name) is not None:
            setattr(job, name, getattr(patch, name))
    if "timeout_seconds" in given and patch.timeout_seconds is None:
        job.timeout_seconds = None
    if "notify" in given:
        if patch.notify is not None:
            alerts.check_channels(runtime, patch.notify.channels, field="notify.channels")
        job.notify = patch.notify.model_dump(exclude_none=True, exclude_defaults=True) if patch.notify else {}

    _apply_kind(runtime, job, patch, creating=creating)

    require_may_act(job.kind, actor, "create" if creating else "update", job.id)
    function = patch.function or patch.func_name
    if job.kind == JobKind.BUILTIN and (function is not None or "params" in given):
        job.params = checked_params(runtime, job.func_name or "", job.params)

    if "timezone" in given:
        if patch.timezone:
            triggers.load_timezone(patch.timezone)
        job.timezone = patch.timezone or None
    if patch.has_trigger() or creating:
        data = patch.trigger_data()
        if not data.get("trigger_type") and not creating:
            data["trigger_type"] = job.trigger_type
        spec = triggers.parse_trigger(data, timezone=timezone_of(runtime, job))
        if spec.type == triggers.TriggerType.INTERVAL and not spec.params.get("start_date"):
            # Anchor the interval's phase, so every process computes the same fire times.
            anchor = (
                clock.now()
                .astimezone(triggers.load_timezone(timezone_of(runtime, job)))
                .replace(microsecond=0)
            )
            spec = triggers.TriggerSpec(
                type=spec.type, params={**spec.params, "start_date": anchor.isoformat()}
            )
        job.trigger_type, job.trigger_params = spec.type.value, dict(spec.params)
    elif "timezone" in given:
        triggers.parse_trigger(
            {"trigger_type": job.trigger_type, "trigger_params": job.trigger_params},
            timezone=timezone_of(runtime, job),
        )

    if "depends_on" in given and patch.depends_on is not None:
        job.depends_on = list(dict.fromkeys(patch.depends_on))
    if "uses_instances" in given:
        job.uses_instances = list(dict.fromkeys(patch.uses_instances or []))
    if job.uses_instances and job.kind == JobKind.BUILTIN.value:
        raise InvalidInput(
            "only code and shell jobs declare `uses_instances`",
            field="uses_instances",
            key="uses_instances_builtin",
        )
    if job.trigger_type == triggers.TriggerType.DEPENDENCY and not job.depends_on:
        raise InvalidInput(
            "a dependency trigger needs at least one job in `depends_on`",
            field="depends_on",
            key="depends_on_empty",
        )


def _apply_kind(runtime: Runtime, job: Job, patch: JobPatch, *, creating: bool) -> None:
    """What the job runs: ``function`` (builtin), ``code`` (Python), ``command`` or ``script`` (shell)."""
    function = patch.function or patch.func_name
    if function is not None and patch.code is not None:
        raise InvalidInput(
            "give either `function` (a built-in task) or `code`, not both",
            field="code",
            key="function_and_code",
        )
    given = [
        name
        for name, value in (
            ("function", function),
            ("code", patch.code),
            ("command", patch.command),
            ("script", patch.script),
        )
        if value is not None
    ]
    if len(given) > 1:
        fields = ", ".join(given)
        raise InvalidInput(
            f"give only one of `function`, `code`, `command` or `script` (got {fields})",
            field=given[-1],
            key="job_kind_conflict",
            params={"fields": fields},
        )
    if function is not None:
        if function not in runtime.tasks:
            known = ", ".join(runtime.tasks.names())
            raise InvalidInput(
                f"unknown built-in function {function!r} (known: {known})",
                field="function",
                key="function_unknown",
                params={"function": function, "known": known},
            )
        job.kind, job.func_name, job.code, job.shell = JobKind.BUILTIN.value, function, None, None
        if job.template != function:
            job.template = None  # no longer what its template makes
    elif patch.code is not None:
        check_source(patch.code)
        job.kind, job.func_name, job.code, job.shell = JobKind.CODE.value, None, patch.code, None
        job.template = None
    elif patch.command is not None or patch.script is not None:
        previous = dict(job.shell or {}) if job.kind == JobKind.SHELL else {}
        shell = {"working_dir": previous.get("working_dir"), "env": previous.get("env") or {}}
        if patch.command is not None:
            shell.update(mode="argv", argv=list(patch.command))
            job.code = None
        else:
            shell.update(mode="script")
            job.code = patch.script
        job.kind, job.func_name, job.shell = JobKind.SHELL.value, None, shell
        job.template = None
    elif creating:
        raise InvalidInput(
            "a job needs `function` (a built-in task), `code`, `command` or `script`",
            field="function",
            key="function_or_code",
        )

    for name in ("working_dir", "env"):
        if name not in patch.model_fields_set:
            continue
        if job.kind != JobKind.SHELL:
            raise InvalidInput(
                f"`{name}` is for shell jobs only (give `command` or `script`)",
                field=name,
                key="shell_only_field",
                params={"field": name},
            )
        shell = dict(job.shell or {})
        shell[name] = (patch.working_dir or None) if name == "working_dir" else dict(patch.env or {})
        job.shell = shell


def shell_command(job: Job) -> tuple[list[str], dict[str, str], str | None]:
    """A shell job as the runner starts it: (argv, extra environment, working directory or None)."""
    shell = job.shell or {}
    if shell.get("mode") == "argv":
        argv = [str(part) for part in shell.get("argv") or []]
    else:
        argv = ["/bin/sh", "-c", job.code or ""]
    env = {str(k): str(v) for k, v in (shell.get("env") or {}).items()}
    return argv, env, shell.get("working_dir") or None


def checked_params(runtime: Runtime, function: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """A built-in job's ``params`` as its task's model accepts them (what was given, normalised).

    Raises pydantic's ``ValidationError`` located under ``params`` (``params.run_days``), a 400
    naming the field like any other of the body's.
    """
    try:
        checked = runtime.tasks.check_params(function, params, {"data_dir": runtime.settings.data_dir})
    except ValidationError as exc:
        raise under("params", exc) from None
    return checked.model_dump(mode="json", exclude_unset=True)


_PYDANTIC_TYPES = frozenset(get_args(ErrorType))


def under(prefix: str, exc: ValidationError) -> ValidationError:
    """``exc`` with every error's location moved under ``prefix``."""
    details: list[InitErrorDetails] = []
    for err in exc.errors():
        # pydantic's own types keep their name and limits; a validator's own becomes a custom error.
        # (A custom error keeps its context too: the catalogue's words for it may name its values.)
        kind = (
            err["type"]
            if err["type"] in _PYDANTIC_TYPES
            else PydanticCustomError(err["type"], err["msg"], err.get("ctx"))
        )
        detail: InitErrorDetails = {"type": kind, "loc": (prefix, *err["loc"]), "input": err["input"]}
        if "ctx" in err:
            detail["ctx"] = err["ctx"]
        details.append(detail)
    return ValidationError.from_exception_data(exc.title, details)


def requested_state(patch: JobPatch) -> JobState | None:
    """The state a body asks for: ``state``, or its alias ``enabled`` (which wins when both are given)."""
    if patch.enabled is not None:
        return JobState.ACTIVE if patch.enabled else JobState.PAUSED
    return JobState(patch.state) if patch.state else None


STATE_FIELDS = frozenset({"state", "enabled"})


def _check_dependencies(session: Session, job: Job) -> None:
    if not job.depends_on:
        return
    if job.id in job.depends_on:
        raise InvalidInput(
            f"job {job.id!r} cannot depend on itself",
            field="depends_on",
            key="depends_on_self",
            params={"id": job.id},
        )
    _require_known(session, Job.id, job.depends_on, "job(s)", field="depends_on", param="ids")
    graph = {jid: list(deps or []) for jid, deps in session.execute(select(Job.id, Job.depends_on))}
    graph[job.id] = list(job.depends_on)
    cycle = find_cycle(graph, job.id)
    if cycle:
        path = " → ".join(cycle)
        raise InvalidInput(
            f"dependency cycle: {path}", field="depends_on", key="depends_on_cycle", params={"cycle": path}
        )


def _check_instances(session: Session, job: Job) -> None:
    if not job.uses_instances:
        return
    _require_known(
        session, Instance.name, job.uses_instances, "instance(s)", field="uses_instances", param="names"
    )


def _require_known(
    session: Session, column: Any, names: list[str], what: str, *, field: str, param: str
) -> None:
    """Every one of ``names`` is a value of ``column``; else a 400 naming the unknown ones."""
    known = set(session.scalars(select(column).where(column.in_(names))))
    missing = ", ".join(name for name in names if name not in known)
    if missing:
        raise InvalidInput(
            f"unknown {what} in {field}: {missing}",
            field=field,
            key=f"{field}_unknown",
            params={param: missing},
        )


def _check_param_instances(runtime: Runtime, session: Session, job: Job) -> None:
    """The registered instances a built-in job's params name exist, of an engine its task takes."""
    function = job.func_name
    if job.kind == JobKind.BUILTIN and function and function in runtime.tasks:
        param_instances.check(session, runtime.tasks.params_schema(function), job.params or {})


def find_cycle(graph: dict[str, list[str]], start: str) -> list[str] | None:
    """A path start → … → start through ``graph``, or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, []):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def _changed(session: Session, job_id: str, action: str) -> int:
    change = JobChange(job_id=job_id, action=action, at=clock.now())
    session.add(change)
    session.flush()
    return change.id


def _finish_change(runtime: Runtime, session: Session, job: Job, action: str) -> None:
    job.version = _changed(session, job.id, action)
    set_next_run_time(job, compute_next_run_time(runtime, job))


def set_next_run_time(job: Job, when: datetime | None) -> None:
    """The one place ``jobs.next_run_time`` is written, in the caller's transaction."""
    job.next_run_time = when


def record_next_run_times(runtime: Runtime, next_times: Mapping[str, datetime | None]) -> None:
    """Store the scheduler's next run times of many jobs in one statement (not a user change)."""
    if not next_times:
        return
    with runtime.db.begin() as session:
        session.execute(
            sa.update(Job), [{"id": job_id, "next_run_time": when} for job_id, when in next_times.items()]
        )


# --- changing ----------------------------------------------------------------


def _defaults(runtime: Runtime) -> dict[str, Any]:
    from whalefall import defaults

    return {
        "description": "",
        "category": "",
        "params": {},
        "notify": {},
        "depends_on": [],
        "state": JobState.ACTIVE.value,
        "misfire_grace_time": defaults.MISFIRE_GRACE_SECONDS,
        "coalesce": defaults.COALESCE,
        "max_instances": defaults.MAX_INSTANCES,
        "timeout_seconds": None,
        "max_retries": defaults.MAX_RETRIES,
        "retry_delay_seconds": defaults.RETRY_DELAY_SECONDS,
    }


def create(
    runtime: Runtime,
    data: JobCreate,
    actor: Actor,
    *,
    is_default: bool = False,
    template: str | None = None,
    session: Session | None = None,
) -> Job:
    """Create a job. Raises InvalidInput/InvalidTrigger/InvalidCode (400), Forbidden, JobConflict,
    and pydantic's ``ValidationError`` (400) for ``params`` its task refuses.

    ``template``: the template it is made from (``services.templates`` checks it first)."""
    now = clock.now()
    job = Job(
        id=data.id,
        **_defaults(runtime),
        is_default=is_default,
        template=template,
        created_by=actor.name,
        updated_by=actor.name,
        created_at=now,
        updated_at=now,
    )
    _apply(runtime, job, data, actor, creating=True)
    job.state = (requested_state(data) or JobState.ACTIVE).value
    if session is not None:
        _insert(runtime, session, job, actor, data.version_note)
        return job
    with runtime.db.begin() as session:
        _insert(runtime, session, job, actor, data.version_note)
    runtime.changed()
    return job


def _insert(runtime: Runtime, session: Session, job: Job, actor: Actor, note: str | None = None) -> None:
    if session.get(Job, job.id) is not None:
        raise JobConflict(
            f"a job with id {job.id!r} already exists", field="id", key="job_id_taken", params={"id": job.id}
        )
    _check_dependencies(session, job)
    _check_instances(session, job)
    _check_param_instances(runtime, session, job)
    session.add(job)
    job_versions.record(session, job, actor, note)
    _finish_change(runtime, session, job, "create")
    detail = {"name": job.name, "kind": job.kind, **({"template": job.template} if job.template else {})}
    audit.record(session, actor, "job.create", "job", job.id, detail)


def update(
    runtime: Runtime,
    job_id: str,
    data: JobPatch,
    actor: Actor,
    *,
    session: Session | None = None,
    force: bool = False,
) -> Job:
    """Change the fields given. Raises JobNotFound, Forbidden, the 400s of :func:`create`, and
    JobHasDependents when the body pauses a job active jobs depend on (unless ``force``)."""
    if session is not None:
        return _update(runtime, session, job_id, data, actor, force=force)
    with runtime.db.begin() as session:
        job = _update(runtime, session, job_id, data, actor, force=force)
    runtime.changed()
    return job


def _update(
    runtime: Runtime,
    session: Session,
    job_id: str,
    data: JobPatch,
    actor: Actor,
    *,
    force: bool = False,
    restored_from: int | None = None,
) -> Job:
    job = get(session, job_id)
    require_may_act(job.kind, actor, "update", job_id)
    fields = sorted(data.model_fields_set - STATE_FIELDS - {"version_note"})
    if fields:
        before = {k: getattr(job, k) for k in ("trigger_type", "trigger_params", "func_name")}
        with session.no_autoflush:
            _apply(runtime, job, data, actor, creating=False)
            _check_dependencies(session, job)
            _check_instances(session, job)
            if "params" in data.model_fields_set or data.function or data.func_name:
                _check_param_instances(runtime, session, job)
        job.updated_by, job.updated_at = actor.name, clock.now()
        job.broken_reason = None  # a user's fix clears the flag; the scheduler sets it again if still broken
        detail: dict[str, Any] = {"fields": fields, "before": before}
        version = job_versions.record(session, job, actor, data.version_note, restored_from=restored_from)
        if version is not None:
            detail["code_version"] = version.number
            if restored_from is not None:
                detail["restored_from"] = restored_from
        audit.record(session, actor, "job.update", "job", job.id, detail)
    state = requested_state(data)
    changed_state = state is not None and _change_state(session, job, state, actor, force=force)
    if fields or changed_state:
        _finish_change(runtime, session, job, "update" if fields else job.state)
    return job


def restore_version(runtime: Runtime, job_id: str, number: int, actor: Actor, note: str | None = None) -> Job:
    """Make version ``number`` of a code or shell job's source its current one again.

    A change like any other (an admin's, audited, in the feed), so it is itself a new version
    recording which one it restored. Raises JobNotFound, VersionNotFound and Forbidden.
    """
    with runtime.db.begin() as session:
        version = job_versions.get(session, job_id, number)
        shell = version.shell or {}
        patch: dict[str, Any] = {"version_note": note}
        if version.kind == JobKind.CODE:
            patch["code"] = version.code or ""
        else:
            patch["command" if shell.get("mode") == "argv" else "script"] = (
                list(shell.get("argv") or []) if shell.get("mode") == "argv" else version.code or ""
            )
            patch.update(working_dir=shell.get("working_dir"), env=dict(shell.get("env") or {}))
        job = _update(runtime, session, job_id, JobPatch.model_validate(patch), actor, restored_from=number)
    runtime.changed()
    return job


def delete(runtime: Runtime, job_id: str, actor: Actor) -> None:
    """Delete a job; its runs are kept as history.

    Raises JobHasDependents (409) while other jobs depend on it: there is no ``force`` here, since
    their ``depends_on`` would name a job that no longer exists; change or delete them first (or
    in the same bulk delete, which deletes the downstream jobs first).
    """
    with runtime.db.begin() as session:
        job = get(session, job_id)
        require_may_act(job.kind, actor, "delete", job_id)
        downstream = dependents(session, job_id)
        if downstream:
            raise JobHasDependents(job_id, "delete", downstream)
        session.delete(job)
        job_versions.forget(session, job_id)
        _changed(session, job_id, "delete")
        audit.record(session, actor, "job.delete", "job", job_id, {"name": job.name})
    runtime.changed()


def set_state(runtime: Runtime, job_id: str, state: JobState, actor: Actor, *, force: bool = False) -> Job:
    """Pause or resume a job by id (the API's, the console's, the CLI's and the groups' pause and
    resume). Pausing a job that active jobs depend on raises JobHasDependents (409) naming them,
    unless ``force``."""
    with runtime.db.begin() as session:
        job = get(session, job_id)
        require_may_act(job.kind, actor, "pause" if state == JobState.PAUSED else "resume", job_id)
        if _change_state(session, job, state, actor, force=force):
            _finish_change(runtime, session, job, state.value)
    runtime.changed()
    return job


def _change_state(session: Session, job: Job, state: JobState, actor: Actor, *, force: bool = False) -> bool:
    """The one place a job is paused or resumed, with its ``job.pause``/``job.resume`` audit row.

    False when the job already was in ``state``: nothing is written. Pausing a job that active
    jobs depend on raises JobHasDependents naming them, unless ``force`` (the audit row then
    names them as ``forced_past``).
    """
    if job.state == state.value:
        return False
    detail = None
    if state == JobState.PAUSED:
        downstream = dependents(session, job.id, active_only=True)
        if downstream and not force:
            raise JobHasDependents(job.id, "pause", downstream)
        detail = {"forced_past": downstream} if downstream else None
    job.state = state.value
    job.updated_by, job.updated_at = actor.name, clock.now()
    action = "job.pause" if state == JobState.PAUSED else "job.resume"
    audit.record(session, actor, action, "job", job.id, detail)
    return True


def pause(runtime: Runtime, job_id: str, actor: Actor, *, force: bool = False) -> Job:
    return set_state(runtime, job_id, JobState.PAUSED, actor, force=force)


def resume(runtime: Runtime, job_id: str, actor: Actor) -> Job:
    return set_state(runtime, job_id, JobState.ACTIVE, actor)


def mark_broken(runtime: Runtime, job_id: str, reason: str | None) -> None:
    """Flag (or clear) a job that cannot be scheduled as stored. Not a user change: no feed row."""
    with runtime.db.begin() as session:
        job = session.get(Job, job_id)
        if job is not None and job.broken_reason != reason:
            job.broken_reason = reason
            if reason:
                set_next_run_time(job, None)


# --- showing -----------------------------------------------------------------


def run_summary(run: Run | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "status": run.status,
        "display_status": "partial" if run.partial and run.status == "success" else run.status,
        "started_at": clock.iso(run.started_at),
        "finished_at": clock.iso(run.finished_at),
        "duration_seconds": run.duration_seconds,
        "trigger_source": run.trigger_source,
    }


def _shown(job: Job, attr: str, lang: str) -> str:
    """A default job's name or description in ``lang`` while it is still the seeded one; a user's own text as is."""
    value: str = getattr(job, attr)
    key = f"{job.id}.{attr}"
    if job.is_default and key in catalogue.keys("default_job"):
        if value == catalogue.text("default_job", key, catalogue.DEFAULT):
            return catalogue.text("default_job", key, lang)
    return value


def category_label(category: str, lang: str) -> str:
    """The default categories (maintenance, sync, …) in ``lang``; a user's own category as is."""
    return catalogue.text("category", category, lang) if category in catalogue.keys("category") else category


def shell_fields(job: Job) -> dict[str, Any]:
    """A shell job's command as the API and the export give it."""
    shell = job.shell or {}
    argv_mode = shell.get("mode") == "argv"
    return {
        "shell_mode": "argv" if argv_mode else "script",
        "command": list(shell.get("argv") or []) if argv_mode else None,
        "script": None if argv_mode else job.code,
        "working_dir": shell.get("working_dir") or None,
        "env": dict(shell.get("env") or {}),
    }


def to_dict(
    runtime: Runtime,
    job: Job,
    *,
    last_run: Run | None = None,
    lang: str = "zh",
    with_code: bool = False,
    upcoming: int = 0,
) -> dict[str, Any]:
    tz = timezone_of(runtime, job)
    spec = spec_of(job)
    data: dict[str, Any] = {
        "id": job.id,
        "name": _shown(job, "name", lang),
        "description": _shown(job, "description", lang),
        "category": job.category,
        "category_label": category_label(job.category, lang),
        "kind": job.kind,
        "func_name": job.func_name if job.kind == JobKind.BUILTIN else None,
        "template": job.template,
        "params": job.params,
        "trigger": triggers.trigger_text(spec, tz),
        "trigger_type": job.trigger_type,
        "trigger_params": job.trigger_params,
        "trigger_description": triggers.describe(spec, lang),
        "timezone": tz,
        "next_run_time": clock.local_text(job.next_run_time, tz),
        "next_run_at": clock.iso(job.next_run_time),
        "state": job.state,
        "misfire_grace_time": job.misfire_grace_time,
        "max_instances": job.max_instances,
        "coalesce": job.coalesce,
        "timeout_seconds": job.timeout_seconds,
        "max_retries": job.max_retries,
        "retry_delay_seconds": job.retry_delay_seconds,
        "depends_on": job.depends_on,
        "uses_instances": job.uses_instances or [],
        "notify": job.notify,
        "is_default": job.is_default,
        "broken_reason": job.broken_reason,
        "version": job.version,
        "code_version": job.code_version,
        "created_by": job.created_by,
        "updated_by": job.updated_by,
        "created_at": clock.iso(job.created_at),
        "updated_at": clock.iso(job.updated_at),
        "last_run": run_summary(last_run),
    }
    if with_code:
        data["code"] = job.code if job.kind == JobKind.CODE else None
        if job.kind == JobKind.SHELL:
            data.update(shell_fields(job))
    if upcoming and job.state == JobState.ACTIVE and not job.broken_reason:
        data["next_run_times"] = [
            t.strftime("%Y-%m-%d %H:%M:%S") for t in triggers.next_run_times(spec, tz, upcoming)
        ]
    return data
