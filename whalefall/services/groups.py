"""Groups and selections: pause, resume, run (or delete) many jobs at once.

A job's category is its group. Each job goes through the one service call its single action
uses (``jobs.pause``/``resume``/``delete``, ``runs.enqueue``), in its own transaction with its own
audit row, so the role rule and the dependency guard hold job by job; what one job refuses is
skipped, with the reason, and the others go on. The answer says how many changed and which
were skipped and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from whalefall.errors import Forbidden, JobHasDependents, JobNotFound, NotFound, RunConflict
from whalefall.models import Job, JobState, TriggerSource
from whalefall.runtime import Runtime
from whalefall.services import jobs as job_service
from whalefall.services import runs as run_service
from whalefall.services.audit import Actor


class Action(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    RUN = "run"
    DELETE = "delete"


# A whole category may be paused, resumed or run; deleting is for jobs picked one by one.
GROUP_ACTIONS = (Action.PAUSE, Action.RESUME, Action.RUN)


class GroupNotFound(NotFound):
    def __init__(self, category: str):
        super().__init__(
            f"no job has category {category!r}", key="group_not_found", params={"category": category}
        )


@dataclass(frozen=True)
class Skipped:
    """A job left as it was: ``reason`` for scripts, ``key``/``params`` the catalogue's message."""

    id: str
    reason: str
    key: str
    params: dict[str, Any]


@dataclass
class Outcome:
    action: Action
    changed: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    runs: dict[str, int] = field(default_factory=dict)


def category_job_ids(runtime: Runtime, category: str) -> list[str]:
    with runtime.db.read() as session:
        return list(session.scalars(select(Job.id).where(Job.category == category).order_by(Job.id)))


def act_on_category(
    runtime: Runtime, category: str, action: Action, actor: Actor, *, force: bool = False
) -> Outcome:
    """Pause, resume or run every job of ``category``. Raises GroupNotFound (404) when no job has it.

    Running a group leaves its paused jobs alone (skipped, ``paused``): a paused job is one
    someone stopped; picking it in a selection runs it.
    """
    ids = category_job_ids(runtime, category)
    if not ids:
        raise GroupNotFound(category)
    return act_on_jobs(runtime, ids, action, actor, force=force, run_paused=False)


def act_on_jobs(
    runtime: Runtime,
    job_ids: list[str],
    action: Action,
    actor: Actor,
    *,
    force: bool = False,
    run_paused: bool = True,
) -> Outcome:
    """Apply ``action`` to each job of ``job_ids`` (unknown ones are skipped, ``not_found``).

    Steps:
    1. read the jobs' states and dependencies once;
    2. order them: downstream jobs first for pause and delete (so pausing or deleting a job
       together with the jobs that depend on it passes the dependency guard), upstream first
       otherwise;
    3. call the single action's service for each job, turning what it refuses into a skip.
    """
    outcome = Outcome(action)
    with runtime.db.read() as session:
        rows = {row.id: row for row in session.execute(select(Job.id, Job.state, Job.depends_on))}
    wanted = list(dict.fromkeys(job_ids))
    for job_id in wanted:
        if job_id not in rows:
            outcome.skipped.append(Skipped(job_id, "not_found", "job_not_found", {"id": job_id}))
    present = [job_id for job_id in wanted if job_id in rows]
    depth = _depths({job_id: list(rows[job_id].depends_on or []) for job_id in present})
    downstream_first = action in (Action.PAUSE, Action.DELETE)
    present.sort(key=lambda job_id: -depth[job_id] if downstream_first else depth[job_id])
    for job_id in present:
        state = rows[job_id].state
        skip = _precheck(job_id, state, action, run_paused)
        if skip is not None:
            outcome.skipped.append(skip)
            continue
        try:
            _apply(runtime, job_id, action, actor, force, outcome)
        except Forbidden as exc:
            outcome.skipped.append(Skipped(job_id, "admin_only", exc.key or "", exc.params))
        except JobHasDependents as exc:
            outcome.skipped.append(
                Skipped(job_id, "has_dependents", exc.key or "", {**exc.params, "dependents": exc.dependents})
            )
        except RunConflict as exc:
            outcome.skipped.append(Skipped(job_id, "running", exc.key or "", exc.params))
        except JobNotFound as exc:  # deleted meanwhile
            outcome.skipped.append(Skipped(job_id, "not_found", exc.key or "", exc.params))
        else:
            outcome.changed.append(job_id)
    return outcome


def _precheck(job_id: str, state: str, action: Action, run_paused: bool) -> Skipped | None:
    """What needs no service call to know: the job already is as asked."""
    paused = state == JobState.PAUSED.value
    if action == Action.PAUSE and paused:
        return Skipped(job_id, "already_paused", "skip_already_paused", {"id": job_id})
    if action == Action.RESUME and not paused:
        return Skipped(job_id, "already_active", "skip_already_active", {"id": job_id})
    if action == Action.RUN and paused and not run_paused:
        return Skipped(job_id, "paused", "skip_paused", {"id": job_id})
    return None


def _apply(
    runtime: Runtime, job_id: str, action: Action, actor: Actor, force: bool, outcome: Outcome
) -> None:
    if action == Action.PAUSE:
        job_service.pause(runtime, job_id, actor, force=force)
    elif action == Action.RESUME:
        job_service.resume(runtime, job_id, actor)
    elif action == Action.DELETE:
        job_service.delete(runtime, job_id, actor)
    else:
        run = run_service.enqueue(runtime, job_id, source=TriggerSource.MANUAL, actor=actor)
        outcome.runs[job_id] = run.id


def _depths(graph: dict[str, list[str]]) -> dict[str, int]:
    """Each job's longest chain of upstream jobs within ``graph`` (0: none of its upstreams is there)."""
    depth: dict[str, int] = {}

    def visit(node: str, path: frozenset[str]) -> int:
        if node in depth:
            return depth[node]
        ups = [up for up in graph[node] if up in graph and up not in path]  # cycles are refused; be safe
        depth[node] = 1 + max((visit(up, path | {node}) for up in ups), default=-1)
        return depth[node]

    for node in graph:
        visit(node, frozenset())
    return depth


def to_dict(outcome: Outcome, say_error: Any) -> dict[str, Any]:
    """The summary answer; ``say_error(key, params)`` words each skip in the caller's language."""
    return {
        "action": outcome.action.value,
        "changed": outcome.changed,
        "changed_count": len(outcome.changed),
        "skipped": [
            {
                "id": s.id,
                "reason": s.reason,
                "message": say_error(s.key, s.params),
                **({"dependents": s.params["dependents"]} if "dependents" in s.params else {}),
            }
            for s in outcome.skipped
        ],
        "skipped_count": len(outcome.skipped),
        "runs": [{"job_id": job_id, "run_id": run_id} for job_id, run_id in outcome.runs.items()],
    }
