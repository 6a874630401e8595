"""The jobs page: one card per job, filtered by search, category and state.

Rendered on the server; ``static/js/jobs.js`` refreshes the cards from
``GET /scheduler/api/jobs`` every 30 s and sends the actions to the API, and
``static/js/job-editor.js`` runs the create/edit dialog.
"""

from __future__ import annotations

from sqlalchemy import select

from whalefall.auth.guard import page_login_required
from whalefall.console import bp, language, render, runtime
from whalefall.models import Job
from whalefall.services import jobs as job_service
from whalefall.web.queries import JobListQuery, query

PAGE_SIZE = 200  # the API's largest page; more than this many jobs wants a search


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
