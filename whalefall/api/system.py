"""Health, statistics, trigger preview, code check, the task catalogue, the audit log."""

from __future__ import annotations

from flask import jsonify

from whalefall.api import bp, json_body, parse
from whalefall.api.context import runtime
from whalefall.api.schemas import CodeCheck, CronPreview
from whalefall.auth.guard import require
from whalefall.domain import triggers
from whalefall.domain.codecheck import check_source
from whalefall.i18n import current_language, normalize
from whalefall.i18n.messages import say
from whalefall.models import Role
from whalefall.services import audit
from whalefall.services import health as health_service
from whalefall.services import overview as overview_service
from whalefall.web.envelope import listing, ok
from whalefall.web.queries import AuditQuery, query


@bp.get("/health")
def health():
    status, body = health_service.health(runtime(), current_language())
    response = jsonify(
        {
            "success": status == 200,
            "data": body,
            "message": body["status"] if status == 200 else body.get("message") or body["status"],
            **({} if status == 200 else {"code": status, "errors": {}}),
            "status": body["status"],
        }
    )
    response.status_code = status
    return response


@bp.get("/stats")
@require(Role.VIEWER)
def stats():
    return ok(health_service.stats(runtime()))


@bp.get("/overview")
@require(Role.VIEWER)
def overview():
    return ok(overview_service.overview(runtime(), lang=current_language()))


@bp.post("/cron/preview")
@require(Role.VIEWER)
def cron_preview():
    data = parse(CronPreview, json_body())
    tz = data.timezone or runtime().settings.timezone
    triggers.load_timezone(tz)
    spec = triggers.parse_trigger(data.trigger_data(), timezone=tz)
    times = triggers.next_run_times(spec, tz, data.count)
    return ok(
        {
            "description": triggers.describe(spec, normalize(data.lang) or current_language()),
            "trigger": triggers.trigger_text(spec, tz),
            "trigger_type": spec.type.value,
            "trigger_params": spec.params,
            "timezone": tz,
            "next_run_times": [t.strftime("%Y-%m-%d %H:%M:%S") for t in times],
        }
    )


@bp.post("/code/check")
@require(Role.OPERATOR)
def code_check():
    data = parse(CodeCheck, json_body())
    check_source(data.code)
    return ok({"valid": True}, say("code_valid"))


@bp.get("/tasks")
@require(Role.VIEWER)
def task_catalogue():
    rt = runtime()
    language = current_language()
    tasks = [
        {"name": n, "description": rt.tasks.describe(n, language), "params_schema": rt.tasks.params_schema(n)}
        for n in rt.tasks.names()
    ]
    return listing("tasks", tasks, len(tasks))


@bp.get("/audit")
@require(Role.ADMIN)
def audit_log():
    q = query(AuditQuery)
    with runtime().db.read() as session:
        rows, total = audit.page(
            session, page=q.page, per_page=q.per_page, actor=q.actor, action=q.action, target_id=q.target_id
        )
    return listing("entries", [audit.to_dict(e) for e in rows], total, page=q.page, per_page=q.per_page)
