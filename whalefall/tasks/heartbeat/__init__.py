"""``heartbeat``: record that the scheduler is alive; the cheapest job there is."""

from __future__ import annotations

from whalefall import clock
from whalefall.domain.base import Strict
from whalefall.services import state
from whalefall.tasks.registry import TaskContext

KEY = "heartbeat"


class Params(Strict):
    pass  # no parameters


def run(ctx: TaskContext) -> str:
    now = clock.now().isoformat()
    state.put(ctx.runtime, KEY, now)
    return now
