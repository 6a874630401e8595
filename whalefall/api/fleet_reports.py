"""Fleet reports: the account risk report (per instance and fleet-wide) and the CSV exports.

Viewers read. ``?format=csv`` gives the same rows as a CSV file; every other
answer is the JSON envelope. The risk words are in the caller's language.
"""

from __future__ import annotations

from typing import Any

from whalefall.api import bp
from whalefall.api.context import runtime
from whalefall.api.fleet_schemas import AccountListQuery, CapacityQuery, FleetRiskQuery, RiskQuery
from whalefall.auth.guard import require
from whalefall.i18n import current_language
from whalefall.models import Role
from whalefall.services import fleet_accounts, fleet_capacity, fleet_risks
from whalefall.services import instances as instance_service
from whalefall.web.csvfile import csv_response
from whalefall.web.envelope import ok
from whalefall.web.queries import query

EVERY_ROW = 1_000_000


def _risks(q: RiskQuery, instance_id: int | None, filename: str):
    with runtime().db.read() as session:
        if instance_id is not None:
            instance_service.get(session, instance_id)
        risks = fleet_risks.report(
            session, instance_id=instance_id, kind=q.kind, severity=q.severity, recent_days=q.days
        )
    lang = current_language()
    if q.format == "csv":
        return csv_response(fleet_risks.csv_rows(risks, lang), filename)
    items = [{**r, "text": fleet_risks.describe(r, lang)} for r in risks]
    return ok(
        {"risks": items, "total": len(items), "days": q.days, "by_severity": fleet_risks.summary(risks)}
    )


@bp.get("/instances/<id:instance_id>/risks")
@require(Role.VIEWER)
def instance_risks(instance_id: int):
    return _risks(query(RiskQuery), instance_id, f"instance-{instance_id}-risks.csv")


@bp.get("/account-risks")
@require(Role.VIEWER)
def account_risks():
    q = query(FleetRiskQuery)
    return _risks(q, q.instance_id, "account-risks.csv")


def accounts_csv(instance_id: int, q: AccountListQuery) -> Any:
    """Every account of the instance that matches ``q`` (paging ignored), with its GRANT statements."""
    with runtime().db.read() as session:
        instance = instance_service.get(session, instance_id)
        rows, _ = fleet_accounts.page(session, instance_id, **q.filters(), page=1, per_page=EVERY_ROW)
    return csv_response(
        fleet_accounts.csv_rows(rows, instance.db_type, runtime().settings.timezone),
        f"instance-{instance_id}-accounts.csv",
    )


def capacity_csv(q: CapacityQuery) -> Any:
    """The capacity series as CSV, one row per point (``q`` already checked by the capacity route)."""
    with runtime().db.read() as session:
        if q.instance_id:
            instance_service.get(session, q.instance_id)
        series = fleet_capacity.series(
            session, period=q.period, instance_id=q.instance_id, database=q.database, start=q.start, end=q.end
        )
    return csv_response(fleet_capacity.csv_rows(series), f"capacity-{q.period}.csv")
