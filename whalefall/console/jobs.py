"""The jobs page: one card per job, filtered by search, category and state.

Rendered on the server; ``static/js/jobs.js`` refreshes the cards from
``GET /scheduler/api/jobs`` every 30 s and sends the actions to the API, and
``static/js/job-editor.js`` runs the create/edit dialog.
"""

from __future__ import annotations

from flask import request
from sqlalchemy import select

from whalefall.auth.guard import page_login_required
from whalefall.console import bp, language, render, runtime
from whalefall.models import Job
from whalefall.services import jobs as job_service

PAGE_SIZE = 200  # the API's largest page; more than this many jobs wants a search


@bp.get("/")
@page_login_required()
def index():
    rt = runtime()
    q = (request.args.get("q") or "").strip()[:200] or None
    category = (request.args.get("category") or "").strip()[:64] or None
    state = request.args.get("state") if request.args.get("state") in ("active", "paused") else None
    lang = language()
    with rt.db.read() as session:
        rows, total = job_service.page(session, q=q, category=category, state=state, per_page=PAGE_SIZE)
        last = job_service.last_runs(session, [j.id for j in rows])
        categories = sorted(c for c in session.scalars(select(Job.category).distinct()) if c)
    jobs = [job_service.to_dict(rt, j, last_run=last.get(j.id), lang=lang) for j in rows]
    return render(
        "console/jobs.html",
        jobs=jobs,
        total=total,
        categories=categories,
        page_size=PAGE_SIZE,
        filters={"q": q or "", "category": category or "", "state": state or ""},
        default_timezone=rt.settings.timezone,
    )
