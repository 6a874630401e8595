"""The jobs page (one card per job, filtered by search, category and state) and one job's page.

Rendered on the server; ``static/js/jobs.js`` refreshes the cards from
``GET /scheduler/api/jobs`` every 30 s and sends the actions to the API, and
``static/js/job-editor.js`` runs the create/edit/copy dialog. A job's page
(``static/js/job.js``) shows its whole definition, its neighbours in the
dependency graph and its last runs with a duration chart.
"""

from __future__ import annotations

import json

from sqlalchemy import select

from whalefall.auth.guard import page_login_required
from whalefall.console import bp, language, render, runtime
from whalefall.models import Job
from whalefall.services import jobs as job_service
from whalefall.services import runs as run_service
from whalefall.web.queries import JobListQuery, query

PAGE_SIZE = 200  # the API's largest page; more than this many jobs wants a search
RECENT_RUNS = 50  # the job page's history and chart
UNFINISHED = ("queued", "running")


@bp.get("/")
@page_login_required()
def index():
    rt = runtime()
    f = query(JobListQuery, page=1, per_page=PAGE_SIZE)
    lang = language()
    with rt.db.read() as session:
        rows, total = job_service.page(session, q=f.q, category=f.category, state=f.state, per_page=PAGE_SIZE)
        last = job_service.last_runs(session, [j.id for j in rows])
        categories = sorted(c for c in session.scalars(select(Job.category).distinct()) if c)
    jobs = [job_service.to_dict(rt, j, last_run=last.get(j.id), lang=lang) for j in rows]
    return render(
        "console/jobs.html",
        jobs=jobs,
        total=total,
        categories=categories,
        page_size=PAGE_SIZE,
        filters={"q": f.q or "", "category": f.category or "", "state": f.state or ""},
        default_timezone=rt.settings.timezone,
    )


@bp.get("/jobs/<job_id>")
@page_login_required()
def job_page(job_id: str):
    rt = runtime()
    lang = language()
    with rt.db.read() as session:  # an unknown job is the 404 page (whalefall.web.errors)
        job = job_service.get(session, job_id)
        last = job_service.last_runs(session, [job_id]).get(job_id)
        data = job_service.to_dict(rt, job, last_run=last, lang=lang, with_code=True, upcoming=5)
        rows, total = run_service.page(session, job_id=job_id, per_page=RECENT_RUNS)
        graph = session.execute(select(Job.id, Job.name, Job.depends_on).order_by(Job.id)).all()
        categories = sorted(c for c in session.scalars(select(Job.category).distinct()) if c)
    tz = job_service.timezone_of(rt, job)
    runs = [run_service.to_dict(r, tz) for r in rows]
    names = {row.id: row.name for row in graph}
    upstream = [{"id": up, "name": names.get(up)} for up in job.depends_on or []]
    downstream = [{"id": row.id, "name": row.name} for row in graph if job_id in (row.depends_on or [])]
    finished = [r for r in runs if r["status"] not in UNFINISHED]
    succeeded = sum(1 for r in finished if r["status"] == "success")
    # Oldest first, as a chart reads left to right.
    chart = [
        {
            "id": r["id"],
            "status": r["status"],
            "started_at": r["started_at"],
            "seconds": r["duration_seconds"],
        }
        for r in reversed(runs)
    ]
    return render(
        "console/job.html",
        job=data,
        runs=runs,
        runs_total=total,
        recent=RECENT_RUNS,
        upstream=upstream,
        downstream=downstream,
        finished=len(finished),
        succeeded=succeeded,
        success_rate=round(100 * succeeded / len(finished)) if finished else None,
        chart=chart,
        params_text=json.dumps(data["params"] or {}, indent=2, ensure_ascii=False),
        categories=categories,
        default_timezone=rt.settings.timezone,
    )
