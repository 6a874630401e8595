"""``heartbeat``: record that the scheduler is alive; the cheapest job there is."""

from __future__ import annotations

from whalefall import clock
from whalefall.models import StateEntry
from whalefall.tasks.registry import TaskContext

KEY = "heartbeat"


def run(ctx: TaskContext) -> str:
    now = clock.now()
    with ctx.runtime.db.begin() as session:
        entry = session.get(StateEntry, KEY)
        if entry is None:
            session.add(StateEntry(key=KEY, value=now.isoformat(), updated_at=now))
        else:
            entry.value, entry.updated_at = now.isoformat(), now
    return now.isoformat()
