"""Run endpoints: the history, one run with its log, cancel."""

from __future__ import annotations

from whalefall.api import bp
from whalefall.api.context import runtime
from whalefall.auth.guard import current_actor, require
from whalefall.i18n import current_language
from whalefall.i18n.messages import say
from whalefall.models import Role
from whalefall.services import runs as run_service
from whalefall.web.envelope import listing, ok
from whalefall.web.queries import RunListQuery, RunLogQuery, query


def runs_page(q: RunListQuery, *, job_id: str | None, timezone: str):
    """One page of runs as the envelope's data (``GET /runs`` and ``GET /jobs/<id>/runs``)."""
    with runtime().db.read() as session:
        rows, total = run_service.page(
            session,
            job_id=job_id,
            status=q.status,
            since=run_service.parse_when(q.since, "since"),
            until=run_service.parse_when(q.until, "until"),
            page=q.page,
            per_page=q.per_page,
        )
    runs = [run_service.to_dict(r, timezone, lang=current_language()) for r in rows]
    return listing("runs", runs, total, page=q.page, per_page=q.per_page)


@bp.get("/runs")
@require(Role.VIEWER)
def list_runs():
    q = query(RunListQuery)
    return runs_page(q, job_id=q.job_id, timezone=runtime().settings.timezone)


@bp.get("/runs/<bigid:run_id>")
@require(Role.VIEWER)
def show_run(run_id: int):
    q = query(RunLogQuery)
    rt = runtime()
    with rt.db.read() as session:
        run = run_service.get(session, run_id)
    return ok(
        run_service.to_dict(
            run, rt.settings.timezone, with_log=True, offset=q.offset, lang=current_language()
        )
    )


@bp.post("/runs/<bigid:run_id>/cancel")
@require(Role.OPERATOR)
def cancel_run(run_id: int):
    rt = runtime()
    run = run_service.cancel(rt, run_id, current_actor())
    message = say("run_cancelled" if run.status == "cancelled" else "run_cancel_requested", run=run_id)
    return ok(run_service.to_dict(run, rt.settings.timezone, lang=current_language()), message)
