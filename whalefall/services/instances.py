"""Instances of the fleet: the one place one is created, changed, deleted or contacted.

Each change is one transaction that writes the instance and an audit row.
The password is encrypted before it is stored (``fleet.crypto``), never
returned, and never written to the audit log or a log line.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from whalefall import clock
from whalefall.domain.instancespec import ConnectionCheck, InstanceCreate, InstancePatch
from whalefall.errors import InvalidInput
from whalefall.fleet import adapter_class, crypto, open_adapter
from whalefall.fleet.base import Adapter, Facts, Target, is_driver_error
from whalefall.fleet.errors import FleetUnreachable, InstanceConflict, InstanceNotFound
from whalefall.models.fleet import (
    AccountChange,
    DatabaseInventory,
    DatabaseSize,
    Instance,
    InstanceAccount,
    InstanceSize,
    SizeAggregation,
    SyncSession,
    SyncSessionInstance,
    TableSize,
)
from whalefall.runtime import Runtime
from whalefall.services import audit
from whalefall.services.audit import Actor
from whalefall.services.query import contains, has_tag, paginate

FIELDS = (
    "name",
    "db_type",
    "host",
    "port",
    "database",
    "username",
    "tags",
    "description",
    "is_active",
    "disk_capacity_bytes",
)
# The fleet tasks whose last outcome an instance shows (a failure says why, on its page and the list).
REPORTED_TASKS = ("sync_accounts", "collect_database_sizes")
# Where the stored password goes: changing one of these must come with the password again,
# or an edit (or a test of unsaved settings) could send the stored password to another server.
TARGET_FIELDS = ("db_type", "host", "port", "username")
CONTACT_ERROR_MAX_CHARS = 2000

# --- reading -----------------------------------------------------------------------------


def get(session: Session, instance_id: int) -> Instance:
    instance = session.get(Instance, instance_id)
    if instance is None:
        raise InstanceNotFound(instance_id)
    return instance


def page(
    session: Session,
    *,
    q: str | None = None,
    db_type: str | None = None,
    is_active: bool | None = None,
    tag: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[Instance], int]:
    query = select(Instance)
    if q:
        query = query.where(
            or_(*(contains(c, q) for c in (Instance.name, Instance.host, Instance.description)))
        )
    if db_type:
        query = query.where(Instance.db_type == db_type)
    if is_active is not None:
        query = query.where(Instance.is_active == is_active)
    if tag:
        query = query.where(has_tag(Instance.tags, tag))
    return paginate(session, query, Instance.name, page=page, per_page=per_page)


def all_tags(session: Session) -> list[str]:
    """Every tag some instance has, sorted (for a filter's choices)."""
    return sorted({tag for tags in session.scalars(select(Instance.tags)) for tag in tags or []})


def active(session: Session, ids: list[int] | None = None) -> list[Instance]:
    query = select(Instance).where(Instance.is_active.is_(True))
    if ids:
        query = query.where(Instance.id.in_(ids))
    return list(session.scalars(query.order_by(Instance.id)))


def target_for(runtime: Runtime, instance: Instance) -> Target:
    """Where and how to connect; decrypts the password (raises SecretUnreadable when it cannot)."""
    settings = runtime.settings
    return Target(
        db_type=instance.db_type,
        host=instance.host,
        port=instance.port,
        database=instance.database,
        username=instance.username,
        password=crypto.decrypt(runtime, instance.password_encrypted, instance_name=instance.name),
        connect_timeout=settings.fleet_connect_timeout_seconds,
        statement_timeout=settings.fleet_statement_timeout_seconds,
    )


# --- changing ----------------------------------------------------------------------------


def _apply(runtime: Runtime, instance: Instance, data: InstancePatch) -> None:
    given = data.model_fields_set
    # An instance not yet stored has no port or database: the engine's defaults fill them.
    default_port = instance.port is None
    default_database = instance.database is None or ("database" in given and data.database is None)
    if instance.db_type and "db_type" in given and data.db_type != instance.db_type:
        # A new engine: the old engine's default port and database go with the old engine.
        old = adapter_class(instance.db_type)
        default_port |= "port" not in given and instance.port == old.default_port
        default_database |= "database" not in given and instance.database == old.default_database
    for name in FIELDS:
        if name in given and getattr(data, name) is not None:
            setattr(instance, name, getattr(data, name))
    if "disk_capacity_bytes" in given:  # null clears it
        instance.disk_capacity_bytes = data.disk_capacity_bytes
    if "password" in given:
        instance.password_encrypted = crypto.encrypt(runtime, data.password) if data.password else None
    adapter = adapter_class(instance.db_type)
    if default_port and data.port is None:
        instance.port = adapter.default_port
    if default_database and data.database is None:
        instance.database = adapter.default_database
    if instance.db_type == "oracle" and not instance.database:
        raise InvalidInput(
            "an Oracle instance needs `database`: the service name to connect to",
            field="database",
            key="oracle_needs_database",
        )
    instance.tags = list(dict.fromkeys(instance.tags or []))


def retargeted(instance: Instance, data: InstancePatch) -> list[str]:
    """The connection target fields ``data`` changes on a stored ``instance``."""
    given = data.model_fields_set
    return [
        name
        for name in TARGET_FIELDS
        if name in given
        and getattr(data, name) is not None
        and getattr(data, name) != getattr(instance, name)
    ]


def _require_password_again(instance: Instance, data: InstancePatch) -> list[str]:
    """Raise InvalidInput naming ``password`` when ``data`` moves an instance that has a stored
    password to another host, port, engine or user without giving the password (``""`` clears it).
    Returns the target fields changed."""
    changed = retargeted(instance, data)
    if changed and instance.password_encrypted and "password" not in data.model_fields_set:
        raise InvalidInput(
            f"password: give it again when changing {', '.join(changed)}: the stored one is only sent "
            "to the server it was saved for",
            field="password",
            key="instance_password_again",
            params={"field": "password"},
        )
    return changed


def _name_taken(session: Session, name: str, but: int | None = None) -> bool:
    query = select(Instance.id).where(Instance.name == name)
    if but is not None:
        query = query.where(Instance.id != but)
    return session.scalar(query) is not None


def create(runtime: Runtime, data: InstanceCreate, actor: Actor) -> Instance:
    """Create an instance. Raises InvalidInput (400), InstanceConflict (409)."""
    now = clock.now()
    instance = Instance(
        tags=[],
        description="",
        is_active=True,
        port=None,
        database=None,
        created_by=actor.name,
        updated_by=actor.name,
        created_at=now,
        updated_at=now,
    )
    _apply(runtime, instance, data)
    with runtime.db.begin() as session:
        if _name_taken(session, instance.name):
            raise InstanceConflict(instance.name)
        session.add(instance)
        session.flush()
        audit.record(session, actor, "instance.create", "instance", str(instance.id), _audit_view(instance))
    return instance


def update(runtime: Runtime, instance_id: int, data: InstancePatch, actor: Actor) -> Instance:
    """Change the fields given. Raises InstanceNotFound, InstanceConflict and the 400s of :func:`create`."""
    with runtime.db.begin() as session:
        instance = get(session, instance_id)
        _require_password_again(instance, data)
        before = _audit_view(instance)
        with session.no_autoflush:
            _apply(runtime, instance, data)
            if _name_taken(session, instance.name, but=instance.id):
                raise InstanceConflict(instance.name)
        instance.updated_by, instance.updated_at = actor.name, clock.now()
        after = _audit_view(instance)
        changed = {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}
        if "password" in data.model_fields_set:
            changed["password"] = {"changed": True}  # never the value
        audit.record(
            session,
            actor,
            "instance.update",
            "instance",
            str(instance.id),
            {"name": instance.name, "changes": changed},
        )
    return instance


def delete_instance(runtime: Runtime, instance_id: int, actor: Actor) -> None:
    """Delete an instance with its accounts, changes, sizes and aggregations; sessions keep its name."""
    with runtime.db.begin() as session:
        instance = get(session, instance_id)
        # Size tables carry no foreign key (partitioned on PostgreSQL): removed by hand.
        session.execute(delete(DatabaseSize).where(DatabaseSize.instance_id == instance_id))
        session.execute(delete(InstanceSize).where(InstanceSize.instance_id == instance_id))
        for model in (AccountChange, InstanceAccount, DatabaseInventory, SizeAggregation, TableSize):
            session.execute(delete(model).where(model.instance_id == instance_id))
        session.delete(instance)
        audit.record(session, actor, "instance.delete", "instance", str(instance_id), _audit_view(instance))


def record_contact(
    runtime: Runtime,
    instance_id: int,
    *,
    ok: bool,
    version: str | None = None,
    error: str | None = None,
    facts: Facts | None = None,
) -> None:
    """Remember how the last contact with an instance went (shown as its connection status), and
    what the server said of itself (version, uptime, role) when it was asked."""
    now = clock.now()
    with runtime.db.begin() as session:
        instance = session.get(Instance, instance_id)
        if instance is None:
            return
        instance.last_contact_at, instance.last_contact_ok = now, ok
        instance.last_contact_error = None if ok else (error or "")[:CONTACT_ERROR_MAX_CHARS]
        if version:
            instance.server_version = version[:255]
        if facts is not None:
            instance.server_facts = {**facts.to_dict(), "at": clock.iso(now)}


def read_facts(adapter: Adapter) -> Facts | None:
    """The server's facts, or None when this login may not read them (the contact still counts)."""
    try:
        return adapter.facts()
    except Exception as exc:
        if is_driver_error(exc):
            return None
        raise


def _try(target: Target) -> dict[str, Any]:
    started = time.monotonic()
    try:
        with open_adapter(target) as adapter:
            version = adapter.version()
            facts = read_facts(adapter)
    except FleetUnreachable as exc:
        return {
            "connected": False,
            "error": exc.message,
            "version": None,
            "facts": None,
            "elapsed_ms": round((time.monotonic() - started) * 1000),
        }
    return {
        "connected": True,
        "error": None,
        "version": version,
        "facts": facts.to_dict() if facts else None,
        "elapsed_ms": round((time.monotonic() - started) * 1000),
    }


def test_connection(runtime: Runtime, instance_id: int, actor: Actor) -> dict[str, Any]:
    """Connect to a stored instance and ask its version; the outcome becomes its connection status."""
    with runtime.db.read() as session:
        instance = get(session, instance_id)
    result = _try(target_for(runtime, instance))
    record_contact(
        runtime,
        instance_id,
        ok=result["connected"],
        version=result["version"],
        error=result["error"],
        facts=Facts(**result["facts"]) if result["facts"] else None,
    )
    with runtime.db.begin() as session:
        audit.record(
            session,
            actor,
            "instance.test",
            "instance",
            str(instance_id),
            {"connected": result["connected"], "error": result["error"]},
        )
    return result


def check_connection(runtime: Runtime, data: ConnectionCheck, actor: Actor) -> dict[str, Any]:
    """Try connection fields before they are saved, filling what is left out from ``instance_id``.

    The stored password is used only for the stored host, port, engine and user (else
    InvalidInput naming ``password``). Every try is audited (``instance.check``): who, which
    instance, where to, what changed and the outcome — never the password.
    """
    instance = Instance(port=None, database=None, tags=[])
    changed: list[str] = []
    if data.instance_id is not None:
        with runtime.db.read() as session:
            stored = get(session, data.instance_id)
        for name in ("name", "db_type", "host", "port", "database", "username", "password_encrypted"):
            setattr(instance, name, getattr(stored, name))
        changed = _require_password_again(instance, data)
    for required in ("db_type", "host", "username"):
        if getattr(data, required) is None and getattr(instance, required) is None:
            raise InvalidInput(
                f"{required}: required", field=required, key="field_required", params={"field": required}
            )
    _apply(runtime, instance, data)
    instance.name = instance.name or "(unsaved)"
    result = _try(target_for(runtime, instance))
    with runtime.db.begin() as session:
        audit.record(
            session,
            actor,
            "instance.check",
            "instance",
            str(data.instance_id or ""),
            {
                "name": instance.name,
                "db_type": instance.db_type,
                "target": f"{instance.host}:{instance.port}",
                "database": instance.database,
                "username": instance.username,
                "changed": changed,
                "password_given": "password" in data.model_fields_set,
                "connected": result["connected"],
                "error": result["error"],
            },
        )
    return result


# --- showing -----------------------------------------------------------------------------


def _audit_view(instance: Instance) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in FIELDS}


def to_dict(instance: Instance, timezone: str, *, counts: dict[str, Any] | None = None) -> dict[str, Any]:
    data = {name: getattr(instance, name) for name in FIELDS}
    data.update(
        {
            "id": instance.id,
            "has_password": bool(instance.password_encrypted),
            "connection": {
                "ok": instance.last_contact_ok,
                "at": clock.local_text(instance.last_contact_at, timezone),
                "error": instance.last_contact_error,
                "version": instance.server_version,
            },
            "facts": _facts_view(instance.server_facts, timezone),
            "created_by": instance.created_by,
            "updated_by": instance.updated_by,
            "created_at": clock.iso(instance.created_at),
            "updated_at": clock.iso(instance.updated_at),
        }
    )
    if counts is not None:
        data.update(counts)
    return data


def _facts_view(facts: dict[str, Any] | None, timezone: str) -> dict[str, Any] | None:
    if not facts:
        return None
    at = facts.get("at")
    return {
        **facts,
        "at": clock.local_text(datetime.fromisoformat(at), timezone) if at else None,
        "at_iso": at,
    }


def last_outcomes(session: Session, ids: list[int], timezone: str) -> dict[int, dict[str, Any]]:
    """Per instance, the last finished outcome of each fleet task in ``REPORTED_TASKS``:
    ``{task: {"status", "error", "at", "session_id"}}`` (a task never run on it is left out)."""
    last = (
        select(func.max(SyncSessionInstance.id).label("id"))
        .join(SyncSession, SyncSession.id == SyncSessionInstance.session_id)
        .where(
            SyncSessionInstance.instance_id.in_(ids),
            SyncSession.task.in_(REPORTED_TASKS),
            SyncSessionInstance.status.in_(("success", "failed")),
        )
        .group_by(SyncSessionInstance.instance_id, SyncSession.task)
    )
    out: dict[int, dict[str, Any]] = {i: {} for i in ids}
    for row, task in session.execute(
        select(SyncSessionInstance, SyncSession.task)
        .join(SyncSession, SyncSession.id == SyncSessionInstance.session_id)
        .where(SyncSessionInstance.id.in_(last))
    ):
        out[row.instance_id][task] = {
            "status": row.status,
            "error": row.error,
            "at": clock.local_text(row.finished_at, timezone),
            "session_id": row.session_id,
        }
    return out


def summaries(session: Session, ids: list[int], timezone: str = "UTC") -> dict[int, dict[str, Any]]:
    """Per instance: how many current accounts, the latest total size, and the fleet tasks' last outcomes."""
    if not ids:
        return {}
    outcomes = last_outcomes(session, ids, timezone)
    accounts = dict(
        session.execute(
            select(InstanceAccount.instance_id, func.count())
            .where(InstanceAccount.instance_id.in_(ids), InstanceAccount.is_deleted.is_(False))
            .group_by(InstanceAccount.instance_id)
        ).all()
    )
    latest = (
        select(InstanceSize.instance_id, func.max(InstanceSize.collected_date).label("day"))
        .where(InstanceSize.instance_id.in_(ids))
        .group_by(InstanceSize.instance_id)
        .subquery()
    )
    sizes = {
        row.instance_id: row
        for row in session.execute(
            select(InstanceSize).join(
                latest,
                (InstanceSize.instance_id == latest.c.instance_id)
                & (InstanceSize.collected_date == latest.c.day),
            )
        ).scalars()
    }
    return {
        i: {
            "account_count": accounts.get(i, 0),
            "total_size_bytes": sizes[i].total_bytes if i in sizes else None,
            "database_count": sizes[i].database_count if i in sizes else None,
            "size_date": sizes[i].collected_date.isoformat() if i in sizes else None,
            "last_outcomes": outcomes[i],
            "failed_tasks": sorted(t for t, o in outcomes[i].items() if o["status"] == "failed"),
        }
        for i in ids
    }
