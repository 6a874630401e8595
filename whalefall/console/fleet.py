"""The database fleet's pages: instances, one instance (accounts, changes, databases), capacity.

The lists are rendered here from the same services the fleet API uses
(``services.instances``, ``fleet_accounts``, ``fleet_sizes``);
``static/js/instances.js`` sends every change and connection test to the
fleet API (``whalefall/api/fleet.py``); ``static/js/capacity.js`` reads
``GET /scheduler/api/capacity`` and draws the chart with the vendored Apache ECharts.
"""

from __future__ import annotations

import json
from typing import Any

from whalefall.auth.guard import page_login_required
from whalefall.console import bp, render, runtime
from whalefall.domain import grants
from whalefall.domain.accountrisk import DEFAULT_RECENT_DAYS
from whalefall.models.fleet import InstanceAccount
from whalefall.services import fleet_accounts, fleet_forecast, fleet_risks, fleet_sessions, fleet_sizes
from whalefall.services import instances as instance_service
from whalefall.web.fleet_queries import InstanceListQuery
from whalefall.web.queries import query

DB_TYPES = ("mysql", "postgresql", "sqlserver", "oracle")
PERIODS = ("daily", "weekly", "monthly", "quarterly")
MAX_ROWS = 1000
CHANGES_SHOWN = 100
HISTORY_SHOWN = 20


size_text = fleet_sizes.size_text


def _privilege_lines(privileges: Any) -> list[str]:
    return sorted(fleet_accounts.flatten(privileges)) if privileges else []


def _account(row: InstanceAccount, db_type: str, tz: str) -> dict[str, Any]:
    """An account for its table: GRANT statements, the structured lines, and only the attributes that
    differ from the engine's defaults (``all_attributes`` keeps them all, for the structured view)."""
    data = fleet_accounts.to_dict(row, tz)
    return {
        **data,
        "privilege_lines": _privilege_lines(row.privileges),
        "grants": grants.statements(fleet_accounts.facts(row, db_type)),
        "notable_attributes": grants.notable_attributes(db_type, row.attributes),
    }


def _diff_lines(diff: dict[str, Any] | None) -> list[dict[str, str]]:
    """A change's diff as lines of (what, before, after) or (what, added, removed), for a table cell."""
    lines: list[dict[str, str]] = []
    for name, value in (diff or {}).items():
        if isinstance(value, dict) and ("before" in value or "after" in value):
            lines.append(
                {"what": name, "before": _plain(value.get("before")), "after": _plain(value.get("after"))}
            )
        elif isinstance(value, dict) and ("added" in value or "removed" in value):
            lines.append(
                {
                    "what": name,
                    "added": ", ".join(map(str, value.get("added") or [])),
                    "removed": ", ".join(map(str, value.get("removed") or [])),
                }
            )
        elif name == "attributes" and isinstance(value, dict):
            for attr, change in value.items():
                change = change if isinstance(change, dict) else {}
                lines.append(
                    {
                        "what": f"{name}.{attr}",
                        "before": _plain(change.get("before")),
                        "after": _plain(change.get("after")),
                    }
                )
        else:
            lines.append({"what": name, "after": _plain(value)})
    return lines


def _plain(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@bp.get("/instances")
@page_login_required()
def instances_page():
    tz = runtime().settings.timezone
    f = query(InstanceListQuery)  # its paging is ignored: the page lists every match
    with runtime().db.read() as session:
        rows, total = instance_service.page(
            session, q=f.q, db_type=f.db_type, is_active=f.is_active, tag=f.tag, page=1, per_page=MAX_ROWS
        )
        counts = instance_service.summaries(session, [r.id for r in rows], tz)
        instances = [instance_service.to_dict(r, tz, counts=counts[r.id]) for r in rows]
        tags = instance_service.all_tags(session)
    filters = {"q": f.q or "", "db_type": f.db_type or "", "tag": f.tag or ""}
    return render(
        "console/instances.html",
        instances=instances,
        total=total,
        db_types=DB_TYPES,
        choices={"db_type": [(d, d) for d in DB_TYPES], "tag": [(tag, tag) for tag in tags]},
        filters=filters,
        filtered=any(filters.values()),
    )


@bp.get("/instances/<id:instance_id>")
@page_login_required()
def instance_page(instance_id: int):
    tz = runtime().settings.timezone
    with runtime().db.read() as session:  # an unknown instance is the 404 page (whalefall.web.errors)
        row = instance_service.get(session, instance_id)
        instance = instance_service.to_dict(
            row, tz, counts=instance_service.summaries(session, [row.id], tz)[row.id]
        )
        account_rows, account_total = fleet_accounts.page(session, instance_id, page=1, per_page=MAX_ROWS)
        accounts = [_account(a, row.db_type, tz) for a in account_rows]
        change_rows, change_total = fleet_accounts.changes_page(
            session, instance_id, page=1, per_page=CHANGES_SHOWN
        )
        changes = [
            {**fleet_accounts.change_to_dict(c, tz), "lines": _diff_lines(c.diff)} for c in change_rows
        ]
        database_rows, database_total = fleet_sizes.inventory_page(
            session, instance_id, include_gone=True, page=1, per_page=MAX_ROWS
        )
        parts = fleet_sizes.latest_parts(session, instance_id)
        databases = [fleet_sizes.inventory_to_dict(d, parts) for d in database_rows]
        tables = [fleet_sizes.table_to_dict(r) for r in fleet_sizes.largest_tables(session, instance_id)]
        forecast = fleet_forecast.instance_forecast(
            session,
            row,
            fleet_sizes.business_date(runtime()),
            warn_days=runtime().settings.capacity_alert_days,
            databases=False,
        )
        history = [
            {**fleet_sessions.row_to_dict(part, tz), "task": sync.task}
            for part, sync in fleet_sessions.history(session, instance_id, limit=HISTORY_SHOWN)
        ]
        risk_counts = fleet_risks.summary(
            fleet_risks.report(session, instance_id=instance_id, recent_days=DEFAULT_RECENT_DAYS)
        )
    return render(
        "console/instance.html",
        instance=instance,
        accounts=accounts,
        account_total=account_total,
        changes=changes,
        change_total=change_total,
        databases=databases,
        database_total=database_total,
        tables=tables,
        forecast=forecast,
        history=history,
        risk_counts=risk_counts,
    )


@bp.get("/capacity")
@page_login_required()
def capacity_page():
    with runtime().db.read() as session:
        rows, _ = instance_service.page(session, page=1, per_page=MAX_ROWS)
        instances = [{"id": r.id, "name": r.name} for r in rows]
    settings = runtime().settings
    return render(
        "console/capacity.html",
        instances=instances,
        periods=PERIODS,
        window_days=fleet_forecast.WINDOW_DAYS,
        warn_days=settings.capacity_alert_days,
    )
