"""The audit log: every change and every sign-in, written in the changing transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from whalefall import clock
from whalefall.models import AuditEntry
from whalefall.services.query import paginate


@dataclass(frozen=True)
class Actor:
    """Who is acting, and from where. ``system`` for the scheduler and the CLI."""

    name: str
    role: str = "admin"
    address: str | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls("system", "admin", None)

    @classmethod
    def cli(cls) -> Actor:
        return cls("cli", "admin", "local")


def record(
    session: Session,
    actor: Actor,
    action: str,
    target_type: str = "",
    target_id: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            at=clock.now(),
            actor=actor.name,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            detail=detail or {},
            address=actor.address,
        )
    )


def page(
    session: Session,
    *,
    page: int = 1,
    per_page: int = 50,
    actor: str | None = None,
    action: str | None = None,
    target_id: str | None = None,
) -> tuple[list[AuditEntry], int]:
    query = select(AuditEntry)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action == action)
    if target_id:
        query = query.where(AuditEntry.target_id == target_id)
    return paginate(session, query, AuditEntry.id.desc(), page=page, per_page=per_page)


def to_dict(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": clock.iso(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "detail": entry.detail,
        "address": entry.address,
    }
