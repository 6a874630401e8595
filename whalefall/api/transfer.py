"""Jobs as YAML: download every job, upload a file to create or update jobs (all or nothing,
with ``dry_run`` to see first what it would create, change and leave unchanged).

``/export/jobs`` and ``/import/jobs`` rather than ``/jobs/export``: a job may be called
``export``, and its ``GET /jobs/export`` must stay its own.
"""

from __future__ import annotations

from typing import Any

import yaml
from flask import Response, request

from whalefall import clock
from whalefall.api import bp, json_body, parse
from whalefall.api.context import runtime
from whalefall.api.schemas import ImportBody
from whalefall.auth.guard import current_actor, require
from whalefall.errors import InvalidInput
from whalefall.i18n.messages import say
from whalefall.models import Role
from whalefall.services import transfer
from whalefall.web.envelope import ok
from whalefall.web.queries import ImportQuery, query

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


def export_text(rt) -> str:
    return yaml.safe_dump({"jobs": transfer.export_jobs(rt)}, allow_unicode=True, sort_keys=False)


@bp.get("/export/jobs")
@require(Role.OPERATOR)
def export_jobs():
    """Every job (code included) as a YAML file, what ``whalefall jobs export`` writes."""
    stamp = clock.now().strftime("%Y%m%d-%H%M%S")
    return Response(
        export_text(runtime()),
        mimetype="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="whalefall-jobs-{stamp}.yaml"'},
    )


def _entries() -> tuple[Any, bool]:
    """The uploaded jobs, and whether the body asks for a dry run: a YAML body
    (``Content-Type: application/yaml``) or JSON ``{"jobs": [...], "dry_run": false}``."""
    if request.mimetype in YAML_TYPES:
        try:
            data = yaml.safe_load(request.get_data(as_text=True)) or {}
        except yaml.YAMLError as exc:
            raise InvalidInput(
                f"the file is not valid YAML: {exc}",
                field="body",
                key="import_not_yaml",
                params={"error": str(exc)},
            ) from None
        return (data.get("jobs") if isinstance(data, dict) else data), False
    body = parse(ImportBody, json_body())
    return body.jobs, body.dry_run


@bp.post("/import/jobs")
@require(Role.OPERATOR)
def import_jobs():
    """Create or update the jobs of the file; 400 naming the first bad entry changes nothing.

    Operators may import built-in jobs; a file with code or shell jobs needs an admin (403 from
    the same rule as a single create or change).
    """
    entries, asked = _entries()
    dry_run = asked or query(ImportQuery).dry_run
    report = transfer.import_jobs(runtime(), entries, current_actor(), dry_run=dry_run)
    counts = {
        "created": len(report.created),
        "changed": len(report.changed),
        "unchanged": len(report.unchanged),
    }
    return ok(report.to_dict(), say("jobs_import_checked" if dry_run else "jobs_imported", **counts))
