"""``whalefall run JOB_ID``: one run, in this process, in the foreground."""

from __future__ import annotations

from whalefall.models import Run, TriggerSource
from whalefall.runtime import Runtime
from whalefall.scheduler.runner import Runner
from whalefall.services import nodes
from whalefall.services import runs as run_service
from whalefall.services.audit import Actor


def run_in_foreground(runtime: Runtime, job_id: str) -> Run:
    """Queue a manual run owned by this process (so no scheduler takes it), execute it, return it."""
    node_id = nodes.make_node_id(runtime.settings.node_name)
    nodes.register_node(runtime, node_id, "cli")
    runner = Runner(runtime, node_id, 1)
    try:
        run = run_service.enqueue(
            runtime, job_id, source=TriggerSource.MANUAL, actor=Actor.cli(), node=node_id
        )
        runner.run_now(run.id)
    finally:
        runner.shutdown()
        nodes.stop_node(runtime, node_id)
    with runtime.db.read() as session:
        return run_service.get(session, run.id)
