"""The fleet's report pages: the account risk report and the sessions of the fleet tasks.

Rendered from the services the fleet API uses (``services.fleet_risks``,
``services.fleet_sessions``), with the API's own query models, so a page and
the API accept the same filters. The CSV links are the API's ``?format=csv``.
"""

from __future__ import annotations

from whalefall.auth.guard import page_login_required
from whalefall.console import bp, language, render, runtime
from whalefall.domain.accountrisk import RiskKind, Severity
from whalefall.i18n import catalogue
from whalefall.services import fleet_risks, fleet_sessions
from whalefall.services import instances as instance_service
from whalefall.web.fleet_queries import FleetRiskQuery, SyncSessionQuery
from whalefall.web.queries import query

MAX_INSTANCES = 1000
SESSIONS_PER_PAGE = 50
TASKS = ("sync_accounts", "collect_database_sizes", "calculate_database_size_aggregations")
SESSION_STATUSES = ("running", "success", "partial", "failed", "cancelled")


@bp.get("/account-risks")
@page_login_required()
def risks_page():
    f = query(FleetRiskQuery)
    lang = language()
    with runtime().db.read() as session:
        if f.instance_id is not None:
            instance_service.get(session, f.instance_id)  # an unknown instance is the 404 page
        risks = fleet_risks.report(
            session, instance_id=f.instance_id, kind=f.kind, severity=f.severity, recent_days=f.days
        )
        rows, _ = instance_service.page(session, page=1, per_page=MAX_INSTANCES)
    words = catalogue.table("console", lang)
    api_query = {
        "instance_id": f.instance_id,
        "kind": f.kind,
        "severity": f.severity,
        "days": f.days,
        "format": "csv",
    }
    return render(
        "console/risks.html",
        risks=[{**r, "text": fleet_risks.describe(r, lang)} for r in risks],
        by_severity=fleet_risks.summary(risks),
        choices={
            "instance": [(r.id, r.name) for r in rows],
            "kind": [(k.value, words[f"risk_{k.value}"]) for k in RiskKind],
            "severity": [(s.value, words[f"severity_{s.value}"]) for s in Severity],
        },
        filters={
            "instance_id": f.instance_id or "",
            "kind": f.kind or "",
            "severity": f.severity or "",
            "days": f.days,
        },
        csv_query={k: v for k, v in api_query.items() if v is not None},
    )


@bp.get("/sync-sessions")
@page_login_required()
def sync_sessions_page():
    f = query(SyncSessionQuery, per_page=SESSIONS_PER_PAGE)
    tz = runtime().settings.timezone
    words, console = catalogue.table("default_job", language()), catalogue.table("console", language())
    with runtime().db.read() as session:
        rows, total = fleet_sessions.page(
            session, task=f.task, status=f.status, instance_id=f.instance_id, page=f.page, per_page=f.per_page
        )
    return render(
        "console/sync_sessions.html",
        sessions=[fleet_sessions.to_dict(r, tz) for r in rows],
        total=total,
        page=f.page,
        pages=max(1, -(-total // SESSIONS_PER_PAGE)),
        choices={
            "task": [(task, words[f"{task}.name"]) for task in TASKS],
            "status": [(status, console[f"status_{status}"]) for status in SESSION_STATUSES],
        },
        filters={"task": f.task or "", "status": f.status or "", "instance_id": f.instance_id or ""},
    )


@bp.get("/sync-sessions/<bigid:session_id>")
@page_login_required()
def sync_session_page(session_id: int):
    tz = runtime().settings.timezone
    with runtime().db.read() as session:  # an unknown session is the 404 page (whalefall.web.errors)
        sync, rows = fleet_sessions.get(session, session_id)
    return render("console/sync_session.html", sync=fleet_sessions.to_dict(sync, tz, rows))
