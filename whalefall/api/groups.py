"""Group and bulk actions: every job of a category, or the jobs picked, paused, resumed, run
(or, picked ones, deleted) at once; the answer says what changed and what was skipped and why."""

from __future__ import annotations

from whalefall.api import bp, json_body, parse
from whalefall.api.context import runtime
from whalefall.api.schemas import BulkAction, GroupAction
from whalefall.auth.guard import current_actor, require
from whalefall.i18n.messages import say, say_error
from whalefall.models import Role
from whalefall.services import groups
from whalefall.web.envelope import ok


def _answer(outcome: groups.Outcome, **extra: object):
    data = {**extra, **groups.to_dict(outcome, say_error)}
    return ok(data, say("group_summary", changed=len(outcome.changed), skipped=len(outcome.skipped)))


@bp.post("/groups/<path:category>/<any(pause, resume, run):action>")  # a category may hold "/"
@require(Role.OPERATOR)
def group_action(category: str, action: str):
    """Every job of ``category``; 404 when no job has it."""
    body = parse(GroupAction, json_body())
    outcome = groups.act_on_category(
        runtime(), category, groups.Action(action), current_actor(), force=body.force
    )
    return _answer(outcome, category=category)


@bp.post("/bulk/<any(pause, resume, run, delete):action>")
@require(Role.OPERATOR)
def bulk_action(action: str):
    """The jobs of ``ids``; unknown ids are skipped (``not_found``), not a 404."""
    body = parse(BulkAction, json_body())
    outcome = groups.act_on_jobs(
        runtime(), body.ids, groups.Action(action), current_actor(), force=body.force
    )
    return _answer(outcome)
