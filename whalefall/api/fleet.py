"""Database fleet endpoints: instances, accounts, capacity, sync sessions, partitions.

Viewers read, admins write; testing a connection needs an operator (it
changes nothing but the instance's connection status). Passwords go in and
never come out.
"""

from __future__ import annotations

from whalefall.api import bp, fleet_reports, json_body, parse
from whalefall.api.context import runtime
from whalefall.api.fleet_schemas import (
    AccountChangeQuery,
    AccountListQuery,
    CapacityQuery,
    DatabaseListQuery,
    ForecastQuery,
    InstanceListQuery,
    SyncSessionQuery,
    TableListQuery,
)
from whalefall.auth.guard import current_actor, require
from whalefall.domain.instancespec import ConnectionCheck, InstanceCreate, InstancePatch
from whalefall.errors import InvalidInput
from whalefall.i18n.messages import say
from whalefall.models import Role
from whalefall.services import (
    fleet_accounts,
    fleet_capacity,
    fleet_forecast,
    fleet_partitions,
    fleet_sessions,
    fleet_sizes,
)
from whalefall.services import instances as instance_service
from whalefall.web.envelope import listing, ok
from whalefall.web.queries import query


def _tested(result: dict):
    if result["connected"]:
        return ok(result, say("instance_connected", version=result["version"]))
    return ok(result, say("instance_not_connected", error=result["error"]))


def _tz() -> str:
    return runtime().settings.timezone


def _instance_data(instance_id: int) -> dict:
    with runtime().db.read() as session:
        instance = instance_service.get(session, instance_id)
        counts = instance_service.summaries(session, [instance_id], _tz())[instance_id]
    return instance_service.to_dict(instance, _tz(), counts=counts)


@bp.get("/instances")
@require(Role.VIEWER)
def list_instances():
    q = query(InstanceListQuery)
    with runtime().db.read() as session:
        rows, total = instance_service.page(
            session,
            q=q.q,
            db_type=q.db_type,
            is_active=q.is_active,
            tag=q.tag,
            page=q.page,
            per_page=q.per_page,
        )
        counts = instance_service.summaries(session, [r.id for r in rows], _tz())
    items = [instance_service.to_dict(r, _tz(), counts=counts[r.id]) for r in rows]
    return listing("instances", items, total, page=q.page, per_page=q.per_page)


@bp.post("/instances")
@require(Role.ADMIN)
def create_instance():
    data = parse(InstanceCreate, json_body())
    instance = instance_service.create(runtime(), data, current_actor())
    return ok(_instance_data(instance.id), say("instance_created", name=instance.name))


@bp.post("/instances/test")
@require(Role.ADMIN)
def check_connection():
    data = parse(ConnectionCheck, json_body())
    return _tested(instance_service.check_connection(runtime(), data, current_actor()))


@bp.post("/instances/test-all")
@require(Role.OPERATOR)
def test_all_instances():
    results = fleet_sessions.test_all(runtime(), current_actor())
    connected = sum(1 for r in results if r["connected"])
    return ok(
        {"results": results, "connected": connected, "failed": len(results) - connected},
        say("instances_tested", connected=connected, failed=len(results) - connected),
    )


@bp.get("/instances/<id:instance_id>")
@require(Role.VIEWER)
def show_instance(instance_id: int):
    return ok(_instance_data(instance_id))


@bp.put("/instances/<id:instance_id>")
@require(Role.ADMIN)
def update_instance(instance_id: int):
    data = parse(InstancePatch, json_body())
    instance = instance_service.update(runtime(), instance_id, data, current_actor())
    return ok(_instance_data(instance_id), say("instance_updated", name=instance.name))


@bp.delete("/instances/<id:instance_id>")
@require(Role.ADMIN)
def delete_instance(instance_id: int):
    instance_service.delete_instance(runtime(), instance_id, current_actor())
    return ok({"id": instance_id}, say("instance_deleted", id=instance_id))


@bp.post("/instances/<id:instance_id>/test")
@require(Role.OPERATOR)
def test_instance(instance_id: int):
    return _tested(instance_service.test_connection(runtime(), instance_id, current_actor()))


def _instance_page(instance_id: int, key: str, fetch, render):
    """A page of one instance's rows: 404 for an unknown instance, else ``{key: [...], total, page, per_page}``.

    ``fetch(session)`` returns the rows and the total with the query's paging already applied.
    """
    with runtime().db.read() as session:
        instance_service.get(session, instance_id)
        rows, total, q = fetch(session)
    return listing(key, [render(r) for r in rows], total, page=q.page, per_page=q.per_page)


@bp.get("/instances/<id:instance_id>/accounts")
@require(Role.VIEWER)
def instance_accounts(instance_id: int):
    q = query(AccountListQuery)
    if q.format == "csv":
        return fleet_reports.accounts_csv(instance_id, q)
    return _instance_page(
        instance_id,
        "accounts",
        lambda session: (
            *fleet_accounts.page(session, instance_id, **q.filters(), page=q.page, per_page=q.per_page),
            q,
        ),
        lambda r: fleet_accounts.to_dict(r, _tz()),
    )


@bp.get("/instances/<id:instance_id>/account-changes")
@require(Role.VIEWER)
def instance_account_changes(instance_id: int):
    q = query(AccountChangeQuery)
    return _instance_page(
        instance_id,
        "changes",
        lambda session: (
            *fleet_accounts.changes_page(
                session,
                instance_id,
                change_type=q.change_type,
                account=q.account,
                page=q.page,
                per_page=q.per_page,
            ),
            q,
        ),
        lambda r: fleet_accounts.change_to_dict(r, _tz()),
    )


@bp.get("/instances/<id:instance_id>/databases")
@require(Role.VIEWER)
def instance_databases(instance_id: int):
    q = query(DatabaseListQuery)
    with runtime().db.read() as session:
        parts = fleet_sizes.latest_parts(session, instance_id)
    return _instance_page(
        instance_id,
        "databases",
        lambda session: (
            *fleet_sizes.inventory_page(
                session, instance_id, q=q.q, include_gone=q.include_gone, page=q.page, per_page=q.per_page
            ),
            q,
        ),
        lambda r: fleet_sizes.inventory_to_dict(r, parts),
    )


@bp.get("/instances/<id:instance_id>/tables")
@require(Role.VIEWER)
def instance_tables(instance_id: int):
    q = query(TableListQuery)
    with runtime().db.read() as session:
        instance_service.get(session, instance_id)
        rows = fleet_sizes.largest_tables(session, instance_id, database=q.database, limit=q.limit)
    return ok({"tables": [fleet_sizes.table_to_dict(r) for r in rows]})


@bp.get("/capacity/forecast")
@require(Role.VIEWER)
def capacity_forecast():
    q = query(ForecastQuery)
    rt = runtime()
    warn = rt.settings.capacity_alert_days
    with rt.db.read() as session:
        if q.instance_id:
            instance_service.get(session, q.instance_id)
        forecasts = fleet_forecast.fleet_forecast(
            session, fleet_sizes.business_date(rt), warn_days=warn, instance_id=q.instance_id
        )
    return ok({"warn_days": warn, "window_days": fleet_forecast.WINDOW_DAYS, "instances": forecasts})


@bp.get("/capacity")
@require(Role.VIEWER)
def capacity():
    q = query(CapacityQuery)
    if q.database and not q.instance_id:
        raise InvalidInput(
            "instance_id: required when `database` is given", field="instance_id", key="instance_for_database"
        )
    if q.format == "csv":
        return fleet_reports.capacity_csv(q)
    with runtime().db.read() as session:
        if q.instance_id:
            instance_service.get(session, q.instance_id)
        series = fleet_capacity.series(
            session, period=q.period, instance_id=q.instance_id, database=q.database, start=q.start, end=q.end
        )
        ranks = fleet_capacity.rankings(session, period=q.period, instance_id=q.instance_id, limit=q.top)
    return ok(
        {"period": q.period, "scope": "database" if q.database else "instance", "series": series, **ranks}
    )


@bp.get("/sync-sessions")
@require(Role.VIEWER)
def list_sync_sessions():
    q = query(SyncSessionQuery)
    with runtime().db.read() as session:
        rows, total = fleet_sessions.page(
            session, task=q.task, status=q.status, instance_id=q.instance_id, page=q.page, per_page=q.per_page
        )
    items = [fleet_sessions.to_dict(r, _tz()) for r in rows]
    return listing("sessions", items, total, page=q.page, per_page=q.per_page)


@bp.get("/sync-sessions/<bigid:session_id>")
@require(Role.VIEWER)
def show_sync_session(session_id: int):
    with runtime().db.read() as session:
        sync, rows = fleet_sessions.get(session, session_id)
    return ok(fleet_sessions.to_dict(sync, _tz(), rows))


@bp.get("/partitions")
@require(Role.VIEWER)
def partitions():
    rt = runtime()
    report = fleet_partitions.health(rt, fleet_sizes.business_date(rt))
    return ok({**report, "last_check": fleet_partitions.last_report(rt)}, report["status"])
