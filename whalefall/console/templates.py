"""The template page: the catalogue, and "new job from template" with a form drawn from each schema.

Rendered on the server with the catalogue and the instances (for the instance picker) as JSON;
``static/js/templates.js`` draws the chosen template's parameter fields from its JSON Schema and
sends the job to ``POST /scheduler/api/templates/<id>/jobs``.
"""

from __future__ import annotations

from flask import request
from sqlalchemy import select

from whalefall.auth.guard import page_login_required
from whalefall.console import bp, language, render, runtime
from whalefall.models.fleet import Instance
from whalefall.services import templates as template_service


@bp.get("/templates")
@page_login_required()
def templates_page():
    rt = runtime()
    templates = template_service.listing(rt, language())
    with rt.db.read() as session:
        instances = [
            {"id": row.id, "name": row.name, "db_type": row.db_type}
            for row in session.execute(
                select(Instance.id, Instance.name, Instance.db_type).order_by(Instance.name)
            )
        ]
    chosen = request.args.get("template", "")
    return render(
        "console/templates.html",
        templates=templates,
        instances=instances,
        chosen=chosen if chosen in {t["id"] for t in templates} else "",
    )
