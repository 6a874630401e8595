"""Small named values the roles share through the database (last heartbeat, scheduler problem, …).

The one place a ``StateEntry`` is written: ``put`` inserts, changes or (with
None) removes a key, in the caller's transaction or in one of its own.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from whalefall import clock
from whalefall.models import StateEntry
from whalefall.runtime import Runtime

# The node id of the scheduler whose engine has started and can fire: written by the leader once
# ``Engine.start()`` returned. It names the node, so it means nothing once another node holds the
# lease; health compares it with the lease's holder.
ENGINE_READY = "engine_ready"


def put(runtime: Runtime, key: str, value: str | None, *, session: Session | None = None) -> None:
    """Set ``key`` to ``value``; None removes it. Unchanged values are not rewritten."""
    if session is None:
        with runtime.db.begin() as own:
            _put(own, key, value)
        return
    _put(session, key, value)


def _put(session: Session, key: str, value: str | None) -> None:
    entry = session.get(StateEntry, key)
    if value is None:
        if entry is not None:
            session.delete(entry)
    elif entry is None:
        session.add(StateEntry(key=key, value=value, updated_at=clock.now()))
    elif entry.value != value:
        entry.value, entry.updated_at = value, clock.now()


def get(runtime: Runtime, key: str) -> str | None:
    with runtime.db.read() as session:
        return session.scalar(select(StateEntry.value).where(StateEntry.key == key))


def all_entries(session: Session) -> dict[str, StateEntry]:
    return {entry.key: entry for entry in session.scalars(select(StateEntry))}


def withdraw(runtime: Runtime, key: str, value: str) -> None:
    """Remove ``key`` only while it still holds ``value`` (a node taking back what it said, without
    erasing what another node said since)."""
    with runtime.db.begin() as session:
        entry = session.get(StateEntry, key)
        if entry is not None and entry.value == value:
            session.delete(entry)
