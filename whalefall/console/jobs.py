"""The jobs page (one card per job, filtered by search, category and state) and one job's page.

Rendered on the server; ``static/js/jobs.js`` refreshes the cards from
``GET /scheduler/api/jobs`` every 30 s and sends the actions to the API, and
``static/js/job-editor.js`` runs the create/edit/copy dialog. A job's page
(``static/js/job.js``) shows its whole definition, its neighbours in the
dependency graph and its last runs with a duration chart.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from sqlalchemy import select

from whalefall import clock
from whalefall.auth.guard import page_login_required
from whalefall.console import bp, language, render, runtime
from whalefall.i18n import catalogue
from whalefall.models import Job
from whalefall.services import job_versions
from whalefall.services import jobs as job_service
from whalefall.services import runs as run_service
from whalefall.services import templates as template_service
from whalefall.services import windows as window_service
from whalefall.web.queries import JobListQuery, query

PAGE_SIZE = 200  # the API's largest page; more than this many jobs wants a search
RECENT_RUNS = 50  # the job page's history and chart
UNFINISHED = ("queued", "running")

# The card's schedule line, written the same way by ``static/js/jobs.js`` for refreshed cards.
CRON_ORDER = ("second", "minute", "hour", "day", "month", "day_of_week", "year")
# APScheduler's order of significance: it makes every field left out before the last one given
# ``*``, and every field after it its minimum.
SIGNIFICANCE = ("year", "month", "day", "day_of_week", "hour", "minute", "second")
MINIMUM = {"second": "0", "minute": "0", "hour": "0", "day": "1", "month": "1"}
INTERVAL_UNITS = ("weeks", "days", "hours", "minutes", "seconds")


def crontab(params: dict[str, Any]) -> str:
    """A cron trigger's expression as the user wrote it, or its fields as crontab text:
    ``0 2 * * *``, with a leading second and a trailing year only when they say something
    (``*/20 * * * * *``). Fields with both day fields restricted keep their second
    (``0 0 2 1 * mon``): they need both days, which five fields would not say, as a 5-field
    crontab fires on either."""
    if isinstance(params.get("expression"), str) and params["expression"]:
        return params["expression"]
    given = [i for i, name in enumerate(SIGNIFICANCE) if params.get(name) is not None]
    last = given[-1] if given else -1
    values = {
        name: str(params[name])
        if params.get(name) is not None
        else (MINIMUM.get(name, "*") if i > last else "*")
        for i, name in enumerate(SIGNIFICANCE)
    }
    fields = [values[name] for name in CRON_ORDER]
    both_days = not fields[3].startswith("*") and not fields[5].startswith("*")
    if fields[6] == "*":
        fields = fields[1:6] if fields[0] == "0" and not both_days else fields[:6]
    return " ".join(fields)


def schedule_text(job: dict[str, Any], lang: str) -> str:
    """The trigger in short: crontab text, or the interval, the date or the upstream jobs in words."""
    t = catalogue.table("console", lang)
    params = job.get("trigger_params") or {}
    kind = job.get("trigger_type")
    if kind == "cron":
        return crontab(params)
    if kind == "interval":
        parts = [
            t[f"unit_{u}_one" if params[u] == 1 else f"unit_{u}"].format(n=params[u])
            for u in INTERVAL_UNITS
            if params.get(u)
        ]
        return t["schedule_interval"].format(every=" ".join(parts))
    if kind == "date":
        return t["schedule_date"].format(when=str(params.get("run_date") or "")[:19].replace("T", " "))
    return t["schedule_dependency"].format(jobs=", ".join(job.get("depends_on") or []))


def display_state(job: dict[str, Any]) -> str:
    """The card's state: a one-off job that is active with nothing left to run is completed."""
    done = job.get("trigger_type") == "date" and not job.get("next_run_time") and not job.get("broken_reason")
    return "completed" if job.get("state") == "active" and done else job.get("state") or ""


def open_windows(rt) -> list[dict[str, Any]]:
    """The maintenance windows open now, for the banner (``static/js/jobs.js`` redraws it
    from ``GET /api/maintenance-windows``)."""
    return [
        {
            "id": window.id,
            "name": window.name,
            "closes_at": clock.local_text(closes, window.timezone or rt.settings.timezone),
            "hold_runs": window.hold_runs,
        }
        for window, closes in window_service.open_now(rt)
    ]


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
    for job in jobs:
        job.update(schedule=schedule_text(job, lang), display_state=display_state(job))
    return render(
        "console/jobs.html",
        open_windows=open_windows(rt),
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
        if data.get("command"):
            data["command_text"] = shlex.join(data["command"])
        data.update(schedule=schedule_text(data, lang), display_state=display_state(data))
        rows, total = run_service.page(session, job_id=job_id, per_page=RECENT_RUNS)
        graph = session.execute(select(Job.id, Job.name, Job.depends_on).order_by(Job.id)).all()
        categories = sorted(c for c in session.scalars(select(Job.category).distinct()) if c)
        versions = [
            job_versions.to_dict(v, current=job.code_version) for v in job_versions.listing(session, job_id)
        ]
    tz = job_service.timezone_of(rt, job)
    runs = [run_service.to_dict(r, tz, lang=lang) for r in rows]
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
        template_label=template_service.describe(rt, data["template"], lang)["name"]
        if data["template"] in rt.tasks.templates()
        else data["template"],
        categories=categories,
        default_timezone=rt.settings.timezone,
        versions=versions,
    )
