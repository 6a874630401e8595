"""The run history (filters, pages) and one run's page with its log.

``static/js/runs.js`` refreshes the list from ``GET /scheduler/api/runs``;
``static/js/run.js`` follows a running run's log by offset, as ``tail -f``
would, and cancels it through the API.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select

from whalefall import clock
from whalefall.auth.guard import page_login_required
from whalefall.console import bp, language, render, runtime
from whalefall.models import Job
from whalefall.services import fleet_sessions, run_results
from whalefall.services import jobs as job_service
from whalefall.services import runs as run_service
from whalefall.web.queries import RunListQuery, query

PER_PAGE = 50
ACTIVE = ("queued", "running")


@bp.get("/runs")
@page_login_required()
def runs_page():
    rt = runtime()
    tz = rt.settings.timezone
    zone = ZoneInfo(tz)
    f = query(RunListQuery, per_page=PER_PAGE)
    job_id, status, page = f.job_id, f.status, f.page
    # The form's datetime-local values are wall times in the global zone.
    since = run_service.parse_when(f.since, "since", zone=zone)
    until = run_service.parse_when(f.until, "until", zone=zone)
    with rt.db.read() as session:
        rows, total = run_service.page(
            session, job_id=job_id, status=status, since=since, until=until, page=page, per_page=PER_PAGE
        )
        job_ids = list(session.scalars(select(Job.id).order_by(Job.id)))
    runs = [run_service.to_dict(r, tz, lang=language()) for r in rows]
    # The same filters in the API's form, for the refresh script.
    api_query = {
        "job_id": job_id,
        "status": status,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "page": page,
        "per_page": PER_PAGE,
    }
    return render(
        "console/runs.html",
        runs=runs,
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        job_ids=job_ids,
        api_query={k: v for k, v in api_query.items() if v is not None},
        filters={
            "job_id": job_id or "",
            "status": status or "",
            "since": since.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if since else "",
            "until": until.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if until else "",
        },
    )


@bp.get("/runs/<bigid:run_id>")
@page_login_required()
def run_page(run_id: int):
    rt = runtime()
    with rt.db.read() as session:  # an unknown run is the 404 page (whalefall.web.errors)
        run = run_service.to_dict(
            run_service.get(session, run_id), rt.settings.timezone, with_log=True, lang=language()
        )
        kind = session.scalar(select(Job.kind).where(Job.id == run["job_id"]))
        sync_sessions = [{"id": s.id, "status": s.status} for s in fleet_sessions.for_run(session, run_id)]
    # The server's clock, so the page's elapsed timer is right on a browser whose clock is not.
    now = clock.iso(clock.now())
    return render(
        "console/run.html",
        run=run,
        active=run["status"] in ACTIVE,
        now=now,
        # Re-run and cancel of a job that runs code are the admin's (services.jobs.require_may_act).
        admin_only=job_service.admin_only(kind),
        sync_sessions=sync_sessions,
        result_csv=run_results.has_csv(rt, run_id),
    )
