"""Code versions of a job: list, show, diff, restore (SPEC §7)."""

from __future__ import annotations

from whalefall.api import bp, json_body, parse
from whalefall.api.context import runtime
from whalefall.api.schemas import VersionRestore
from whalefall.auth.guard import current_actor, require
from whalefall.errors import InvalidInput
from whalefall.i18n import current_language
from whalefall.i18n.messages import say
from whalefall.models import Role
from whalefall.services import job_versions
from whalefall.services import jobs as job_service
from whalefall.web.envelope import ok
from whalefall.web.queries import VersionDiffQuery, query


@bp.get("/jobs/<job_id>/versions")
@require(Role.VIEWER)
def list_versions(job_id: str):
    with runtime().db.read() as session:
        job = job_service.get(session, job_id)
        versions = job_versions.listing(session, job_id)
    return ok(
        {
            "job_id": job_id,
            "current": job.code_version,
            "versions": [job_versions.to_dict(v, current=job.code_version) for v in versions],
        }
    )


@bp.get("/jobs/<job_id>/versions/<id:number>")
@require(Role.VIEWER)
def show_version(job_id: str, number: int):
    with runtime().db.read() as session:
        job = job_service.get(session, job_id)
        version = job_versions.get(session, job_id, number)
    return ok(job_versions.to_dict(version, current=job.code_version, with_source=True))


@bp.get("/jobs/<job_id>/versions/diff")
@require(Role.VIEWER)
def diff_versions(job_id: str):
    q = query(VersionDiffQuery)
    with runtime().db.read() as session:
        job = job_service.get(session, job_id)
        new = q.to or job.code_version
        if new is None:
            raise InvalidInput(
                f"job {job_id!r} has no code versions", field="to", key="no_versions", params={"id": job_id}
            )
        old = q.from_ or max(new - 1, 1)
        text = job_versions.diff(session, job_id, old, new)
    return ok({"job_id": job_id, "from": old, "to": new, "diff": text})


@bp.post("/jobs/<job_id>/versions/<id:number>/restore")
@require(Role.OPERATOR)  # and admin for code and shell jobs: services.jobs.require_may_act
def restore_version(job_id: str, number: int):
    body = parse(VersionRestore, json_body())
    rt = runtime()
    job = job_service.restore_version(rt, job_id, number, current_actor(), body.note)
    return ok(
        job_service.to_dict(rt, job, lang=current_language(), with_code=True),
        say("version_restored", id=job_id, number=number, new=job.code_version),
    )
