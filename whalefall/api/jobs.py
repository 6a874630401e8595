"""Job endpoints: list, create, show, change, delete, pause, resume, run now."""

from __future__ import annotations

from flask import request

from whalefall.api import bp, json_body, parse
from whalefall.api.context import runtime
from whalefall.api.schemas import ForceFlag
from whalefall.auth.guard import current_actor, require
from whalefall.domain.jobspec import JobCreate, JobPatch
from whalefall.i18n import current_language
from whalefall.i18n.messages import say
from whalefall.models import Role
from whalefall.services import jobs as job_service
from whalefall.services import runs as run_service
from whalefall.web.envelope import listing, ok
from whalefall.web.queries import ForceQuery, JobListQuery, RunListQuery, query


@bp.get("/jobs")
@require(Role.VIEWER)
def list_jobs():
    q = query(JobListQuery)
    rt = runtime()
    with rt.db.read() as session:
        rows, total = job_service.page(
            session, q=q.q, category=q.category, state=q.state, page=q.page, per_page=q.per_page
        )
        last = job_service.last_runs(session, [j.id for j in rows])
    language = current_language()
    jobs = [job_service.to_dict(rt, j, last_run=last.get(j.id), lang=language) for j in rows]
    return listing("jobs", jobs, total, page=q.page, per_page=q.per_page)


@bp.post("/jobs")
@require(Role.OPERATOR)
def create_job():
    data = parse(JobCreate, json_body())
    rt = runtime()
    job = job_service.create(rt, data, current_actor())
    return ok(
        job_service.to_dict(rt, job, lang=current_language(), with_code=True), say("job_created", id=job.id)
    )


@bp.get("/jobs/<job_id>")
@require(Role.VIEWER)
def show_job(job_id: str):
    rt = runtime()
    with rt.db.read() as session:
        job = job_service.get(session, job_id)
        last = job_service.last_runs(session, [job_id]).get(job_id)
    upcoming = 5 if request.args.get("upcoming", "").lower() in ("1", "true", "5", "yes") else 0
    return ok(
        job_service.to_dict(
            rt, job, last_run=last, lang=current_language(), with_code=True, upcoming=upcoming
        )
    )


@bp.put("/jobs/<job_id>")
@require(Role.OPERATOR)
def update_job(job_id: str):
    data = parse(JobPatch, json_body())
    rt = runtime()
    job = job_service.update(rt, job_id, data, current_actor(), force=query(ForceQuery).force)
    return ok(
        job_service.to_dict(rt, job, lang=current_language(), with_code=True), say("job_updated", id=job_id)
    )


@bp.delete("/jobs/<job_id>")
@require(Role.OPERATOR)
def delete_job(job_id: str):
    job_service.delete(runtime(), job_id, current_actor())
    return ok({"id": job_id}, say("job_deleted", id=job_id))


def forced() -> bool:
    """``force`` from the body or the query string."""
    return parse(ForceFlag, json_body()).force or query(ForceQuery).force


@bp.post("/jobs/<job_id>/pause")
@require(Role.OPERATOR)
def pause_job(job_id: str):
    """409 naming the active jobs that depend on it, unless ``force``."""
    rt = runtime()
    job = job_service.pause(rt, job_id, current_actor(), force=forced())
    return ok(job_service.to_dict(rt, job, lang=current_language()), say("job_paused", id=job_id))


@bp.post("/jobs/<job_id>/resume")
@require(Role.OPERATOR)
def resume_job(job_id: str):
    rt = runtime()
    job = job_service.resume(rt, job_id, current_actor())
    return ok(job_service.to_dict(rt, job, lang=current_language()), say("job_resumed", id=job_id))


@bp.post("/jobs/<job_id>/run")
@require(Role.OPERATOR)
def run_job(job_id: str):
    from whalefall.models import TriggerSource

    run = run_service.enqueue(runtime(), job_id, source=TriggerSource.MANUAL, actor=current_actor())
    return ok({"run_id": run.id, "status": run.status}, say("run_queued", id=job_id, run=run.id))


@bp.get("/jobs/<job_id>/runs")
@require(Role.VIEWER)
def job_runs(job_id: str):
    from whalefall.api.runs import runs_page

    q = query(RunListQuery)
    rt = runtime()
    with rt.db.read() as session:
        job = job_service.get(session, job_id)
    return runs_page(q, job_id=job_id, timezone=job_service.timezone_of(rt, job))
