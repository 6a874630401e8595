"""Template endpoints (SPEC §7): the catalogue, and a job made from a template; a query run's CSV."""

from __future__ import annotations

from flask import send_file

from whalefall.api import bp, json_body, parse
from whalefall.api.context import runtime
from whalefall.auth.guard import current_actor, require
from whalefall.domain.templatespec import TemplateJobCreate
from whalefall.i18n import current_language
from whalefall.i18n.messages import say
from whalefall.models import Role
from whalefall.services import jobs as job_service
from whalefall.services import run_results
from whalefall.services import runs as run_service
from whalefall.services import templates as template_service
from whalefall.web.envelope import listing, ok


@bp.get("/templates")
@require(Role.VIEWER)
def list_templates():
    templates = template_service.listing(runtime(), current_language())
    return listing("templates", templates, len(templates))


@bp.get("/templates/<template_id>")
@require(Role.VIEWER)
def show_template(template_id: str):
    return ok(template_service.describe(runtime(), template_id, current_language()))


@bp.post("/templates/<template_id>/jobs")
@require(Role.OPERATOR)
def create_from_template(template_id: str):
    rt = runtime()
    template_service.task_of(rt, template_id)  # an unknown template is a 404 before the body is read
    data = parse(TemplateJobCreate, json_body())
    job = template_service.create_job(rt, template_id, data, current_actor())
    return ok(
        job_service.to_dict(rt, job, lang=current_language()),
        say("template_job_created", id=job.id, template=template_id),
    )


@bp.get("/runs/<bigid:run_id>/result.csv")
@require(Role.VIEWER)
def run_result_csv(run_id: int):
    rt = runtime()
    with rt.db.read() as session:
        run_service.get(session, run_id)  # 404 for an unknown run
    path = run_results.existing_csv(rt, run_id)
    return send_file(path, mimetype="text/csv", as_attachment=True, download_name=f"run-{run_id}.csv")
