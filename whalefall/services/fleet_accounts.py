"""Accounts of the fleet: compare what an instance has with what is stored, and record the difference.

Only a complete read is ever applied (the adapter raised otherwise), and all
of one instance's changes are one transaction. An account that disappears
is kept, flagged removed; one that comes back is "added" again.
"""

from __future__ import annotations

import fnmatch
import json
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from whalefall import clock
from whalefall.domain import grants
from whalefall.domain.accountrisk import AccountFacts
from whalefall.fleet.base import Account
from whalefall.models.fleet import AccountChange, ChangeType, InstanceAccount
from whalefall.runtime import Runtime
from whalefall.services.query import contains, paginate

FLAGS = ("kind", "is_superuser", "is_locked", "can_login")


def exclusion_patterns(setting: str, db_type: str) -> list[str]:
    """The globs of ``fleet_account_exclude`` that apply to ``db_type`` (``engine:glob`` or plain ``glob``)."""
    patterns = []
    for item in (p.strip() for p in setting.split(",")):
        if not item:
            continue
        engine, sep, glob = item.partition(":")
        if sep and engine in ("mysql", "postgresql", "sqlserver", "oracle"):
            if engine == db_type:
                patterns.append(glob)
        else:
            patterns.append(item)
    return patterns


def keep(accounts: list[Account], *, exclude_system: bool, patterns: list[str]) -> list[Account]:
    """The accounts left after the exclusions; a pattern matches the name or the key."""
    return [
        a
        for a in accounts
        if not (exclude_system and a.system)
        and not any(fnmatch.fnmatchcase(a.username, p) or fnmatch.fnmatchcase(a.key, p) for p in patterns)
    ]


def flatten(value: Any, prefix: str = "") -> set[str]:
    """Nested privileges as comparable lines: ``{"databases": {"db": ["SELECT"]}}`` → ``{"databases.db: SELECT"}``."""
    if isinstance(value, dict):
        lines: set[str] = set()
        for key, inner in value.items():
            lines |= flatten(inner, f"{prefix}.{key}" if prefix else str(key))
        return lines
    if isinstance(value, list):
        return {f"{prefix}: {item}" if prefix else str(item) for item in value}
    return {f"{prefix}: {value}" if prefix else str(value)}


def diff(stored: InstanceAccount, current: Account) -> dict[str, Any]:
    """What changed from ``stored`` to ``current``: flags and attributes before/after, roles and
    privileges added/removed. Empty when nothing did."""
    changes: dict[str, Any] = {}
    for name in FLAGS:
        before, after = getattr(stored, name), getattr(current, name)
        if before != after:
            changes[name] = {"before": before, "after": after}
    attrs = {
        k: {"before": (stored.attributes or {}).get(k), "after": current.attributes.get(k)}
        for k in sorted(set(stored.attributes or {}) | set(current.attributes))
        if (stored.attributes or {}).get(k) != current.attributes.get(k)
    }
    if attrs:
        changes["attributes"] = attrs
    for name, before_value, after_value in (
        ("roles", stored.roles or [], current.roles),
        ("privileges", stored.privileges or {}, current.privileges),
    ):
        before, after = flatten(before_value), flatten(after_value)
        if before != after:
            changes[name] = {"added": sorted(after - before), "removed": sorted(before - after)}
    return changes


def _snapshot(account: Account) -> dict[str, Any]:
    return {
        "kind": account.kind,
        "is_superuser": account.is_superuser,
        "is_locked": account.is_locked,
        "can_login": account.can_login,
        "attributes": account.attributes,
        "roles": account.roles,
        "privileges": account.privileges,
    }


def apply(
    runtime: Runtime, instance_id: int, accounts: list[Account], session_id: int | None
) -> dict[str, int]:
    """Store a complete read of one instance's accounts; returns counts of added/changed/removed/unchanged."""
    now = clock.now()
    counts = {"accounts": len(accounts), "added": 0, "changed": 0, "removed": 0, "unchanged": 0}
    current = {a.key: a for a in accounts}
    with runtime.db.begin() as session:
        stored = {
            row.account_key: row
            for row in session.scalars(
                select(InstanceAccount).where(InstanceAccount.instance_id == instance_id)
            )
        }

        def change(key: str, username: str, kind: ChangeType, detail: dict[str, Any]) -> None:
            session.add(
                AccountChange(
                    instance_id=instance_id,
                    session_id=session_id,
                    account_key=key,
                    username=username,
                    change_type=kind.value,
                    diff=detail,
                    at=now,
                )
            )
            counts[kind.value] += 1

        for key, account in current.items():
            row = stored.get(key)
            if row is None or row.is_deleted:
                if row is None:
                    row = InstanceAccount(instance_id=instance_id, account_key=key, first_seen_at=now)
                    session.add(row)
                _store(row, account, now)
                row.is_deleted, row.deleted_at, row.last_changed_at = False, None, now
                change(key, account.username, ChangeType.ADDED, {"after": _snapshot(account)})
                continue
            changes = diff(row, account)
            _store(row, account, now)
            if changes:
                row.last_changed_at = now
                change(key, account.username, ChangeType.CHANGED, changes)
            else:
                counts["unchanged"] += 1
        for key, row in stored.items():
            if key not in current and not row.is_deleted:
                row.is_deleted, row.deleted_at, row.last_changed_at = True, now, now
                change(
                    key,
                    row.username,
                    ChangeType.REMOVED,
                    {
                        "before": {
                            "kind": row.kind,
                            "is_superuser": row.is_superuser,
                            "roles": row.roles,
                            "privileges": row.privileges,
                        }
                    },
                )
    return counts


def _store(row: InstanceAccount, account: Account, now: datetime) -> None:
    row.username, row.host = account.username, account.host
    for name in FLAGS:
        setattr(row, name, getattr(account, name))
    row.attributes, row.privileges, row.roles = account.attributes, account.privileges, account.roles
    row.last_seen_at = now


# --- reading -----------------------------------------------------------------------------


def page(
    session: Session,
    instance_id: int,
    *,
    q: str | None = None,
    kind: str | None = None,
    superuser: bool | None = None,
    locked: bool | None = None,
    include_deleted: bool = False,
    page: int = 1,
    per_page: int = 100,
) -> tuple[list[InstanceAccount], int]:
    query = select(InstanceAccount).where(InstanceAccount.instance_id == instance_id)
    if not include_deleted:
        query = query.where(InstanceAccount.is_deleted.is_(False))
    if q:
        query = query.where(
            or_(contains(InstanceAccount.username, q), contains(InstanceAccount.account_key, q))
        )
    if kind:
        query = query.where(InstanceAccount.kind == kind)
    if superuser is not None:
        query = query.where(InstanceAccount.is_superuser.is_(superuser))
    if locked is not None:
        query = query.where(InstanceAccount.is_locked.is_(locked))
    return paginate(
        session, query, InstanceAccount.username, InstanceAccount.account_key, page=page, per_page=per_page
    )


def changes_page(
    session: Session,
    instance_id: int,
    *,
    change_type: str | None = None,
    account: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[AccountChange], int]:
    query = select(AccountChange).where(AccountChange.instance_id == instance_id)
    if change_type:
        query = query.where(AccountChange.change_type == change_type)
    if account:
        query = query.where(AccountChange.account_key == account)
    return paginate(session, query, AccountChange.id.desc(), page=page, per_page=per_page)


def to_dict(row: InstanceAccount, timezone: str) -> dict[str, Any]:
    return {
        "key": row.account_key,
        "username": row.username,
        "host": row.host,
        "kind": row.kind,
        "is_superuser": row.is_superuser,
        "is_locked": row.is_locked,
        "can_login": row.can_login,
        "attributes": row.attributes,
        "privileges": row.privileges,
        "roles": row.roles,
        "is_deleted": row.is_deleted,
        "deleted_at": clock.local_text(row.deleted_at, timezone),
        "first_seen_at": clock.local_text(row.first_seen_at, timezone),
        "last_seen_at": clock.local_text(row.last_seen_at, timezone),
        "last_changed_at": clock.local_text(row.last_changed_at, timezone),
    }


def change_to_dict(row: AccountChange, timezone: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "account": row.account_key,
        "username": row.username,
        "change_type": row.change_type,
        "diff": row.diff,
        "session_id": row.session_id,
        "at": clock.local_text(row.at, timezone),
    }


ACCOUNT_CSV_COLUMNS = (
    "account",
    "username",
    "host",
    "kind",
    "is_superuser",
    "is_locked",
    "can_login",
    "roles",
    "grants",
    "privileges",
    "attributes",
    "is_deleted",
    "first_seen_at",
    "last_seen_at",
    "last_changed_at",
)


def facts(row: InstanceAccount, db_type: str) -> AccountFacts:
    """The stored account as the pure domain reads it (risks, GRANT statements)."""
    return AccountFacts(
        db_type=db_type,
        key=row.account_key,
        username=row.username,
        host=row.host or "",
        kind=row.kind,
        is_superuser=row.is_superuser,
        is_locked=row.is_locked,
        can_login=row.can_login,
        attributes=row.attributes or {},
        privileges=row.privileges or {},
        roles=row.roles or [],
        first_seen_at=row.first_seen_at,
        last_changed_at=row.last_changed_at,
    )


def csv_rows(rows: list[InstanceAccount], db_type: str, timezone: str) -> list[list[Any]]:
    """Accounts as CSV rows (header first): GRANT statements one per line, privileges as flat lines."""
    out: list[list[Any]] = [list(ACCOUNT_CSV_COLUMNS)]
    for row in rows:
        out.append(
            [
                row.account_key,
                row.username,
                row.host,
                row.kind,
                row.is_superuser,
                row.is_locked,
                row.can_login,
                ", ".join(row.roles or []),
                "\n".join(grants.statements(facts(row, db_type))),
                "\n".join(sorted(flatten(row.privileges))) if row.privileges else "",
                json.dumps(row.attributes or {}, ensure_ascii=False, sort_keys=True),
                row.is_deleted,
                clock.local_text(row.first_seen_at, timezone),
                clock.local_text(row.last_seen_at, timezone),
                clock.local_text(row.last_changed_at, timezone),
            ]
        )
    return out
