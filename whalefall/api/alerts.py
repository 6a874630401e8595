"""Alert channels (admin) and the delivery history (viewer)."""

from __future__ import annotations

from whalefall.api import bp, json_body, openapi, parse
from whalefall.api.context import runtime
from whalefall.auth.guard import current_actor, require
from whalefall.domain.alertspec import ChannelCreate, ChannelPatch, GlobalPolicy, WindowCreate, WindowPatch
from whalefall.i18n import current_language
from whalefall.i18n.messages import say
from whalefall.models import DeliveryStatus, Role
from whalefall.services import alert_channels, alert_deliveries, alerts, audit, runs, windows
from whalefall.web.envelope import listing, ok
from whalefall.web.queries import DeliveryQuery, query


@bp.get("/alert-channels")
@require(Role.ADMIN)
def list_channels():
    rt = runtime()
    with rt.db.read() as session:
        stored = [alert_channels.to_dict(c) for c in alert_channels.list_all(session)]
    items = stored + [alert_channels.env_to_dict(t) for t in alert_channels.env_targets(rt)]
    return listing("channels", items, len(items))


@bp.get("/alert-channel-names")
@require(Role.VIEWER)
def channel_names():
    """Names and kinds only, for choosing a job's channels (the URLs stay with the admins)."""
    rt = runtime()
    with rt.db.read() as session:
        stored = [{"name": c.name, "kind": c.kind} for c in alert_channels.list_all(session) if c.enabled]
    items = stored + [{"name": t.name, "kind": t.kind} for t in alert_channels.env_targets(rt)]
    return listing("channels", items, len(items))


@bp.post("/alert-channels")
@require(Role.ADMIN)
def create_channel():
    data = parse(ChannelCreate, json_body())
    channel = alert_channels.create(runtime(), data, current_actor())
    return ok(alert_channels.to_dict(channel), say("channel_created", name=channel.name))


@bp.get("/alert-channels/<id:channel_id>")
@require(Role.ADMIN)
def show_channel(channel_id: int):
    with runtime().db.read() as session:
        return ok(alert_channels.to_dict(alert_channels.get(session, channel_id)))


@bp.put("/alert-channels/<id:channel_id>")
@require(Role.ADMIN)
def update_channel(channel_id: int):
    data = parse(ChannelPatch, json_body())
    channel = alert_channels.update(runtime(), channel_id, data, current_actor())
    return ok(alert_channels.to_dict(channel), say("channel_updated", name=channel.name))


@bp.delete("/alert-channels/<id:channel_id>")
@require(Role.ADMIN)
def delete_channel(channel_id: int):
    alert_channels.delete(runtime(), channel_id, current_actor())
    return ok({"id": channel_id}, say("channel_deleted", id=channel_id))


@bp.post("/alert-channels/<id:channel_id>/test")
@require(Role.ADMIN)
def test_channel(channel_id: int):
    """Send a test alert now and answer how it went (the delivery, also kept in the history)."""
    rt, actor = runtime(), current_actor()
    with rt.db.read() as session:
        channel = alert_channels.get(session, channel_id)
    delivery = alerts.send_test(rt, channel, actor, current_language())
    with rt.db.begin() as session:
        audit.record(
            session,
            actor,
            "channel.test",
            "channel",
            str(channel_id),
            {"name": channel.name, "status": delivery["status"]},
        )
    if delivery["status"] == DeliveryStatus.SENT:
        return ok(delivery, say("channel_test_sent", name=channel.name))
    return ok(delivery, say("channel_test_failed", name=channel.name, error=delivery["error"] or ""))


@bp.get("/alert-policy")
@require(Role.VIEWER)
def show_policy():
    return ok(alerts.global_policy(runtime()).model_dump())


@bp.put("/alert-policy")
@require(Role.ADMIN)
def update_policy():
    data = parse(GlobalPolicy, json_body())
    policy = alerts.set_global_policy(runtime(), data, current_actor())
    return ok(policy.model_dump(), say("policy_saved"))


@bp.get("/alert-deliveries")
@require(Role.VIEWER)
def list_deliveries():
    q = query(DeliveryQuery)
    with runtime().db.read() as session:
        rows, total = alert_deliveries.page(
            session,
            event=q.event,
            job_id=q.job_id,
            channel=q.channel,
            status=q.status,
            since=runs.parse_when(q.since, "since"),
            page=q.page,
            per_page=q.per_page,
        )
    items = [alert_deliveries.to_dict(d) for d in rows]
    return listing("deliveries", items, total, page=q.page, per_page=q.per_page)


openapi.ROUTES.extend(
    [
        ("get", "/alert-channels", "admin", "List alert channels (URLs masked)", None, None),
        ("post", "/alert-channels", "admin", "Create an alert channel", ChannelCreate, None),
        ("get", "/alert-channels/{channel_id}", "admin", "One alert channel (URL masked)", None, None),
        ("put", "/alert-channels/{channel_id}", "admin", "Change an alert channel", ChannelPatch, None),
        ("delete", "/alert-channels/{channel_id}", "admin", "Delete an alert channel", None, None),
        ("post", "/alert-channels/{channel_id}/test", "admin", "Send a test alert now", None, None),
        ("get", "/alert-channel-names", "viewer", "Channel names and kinds, for a job's notify", None, None),
        ("get", "/alert-policy", "viewer", "The global alert policy", None, None),
        ("put", "/alert-policy", "admin", "Change the global alert policy", GlobalPolicy, None),
        ("get", "/alert-deliveries", "viewer", "The alert delivery history", None, DeliveryQuery),
    ]
)


# --- maintenance windows ------------------------------------------------------------------------------


@bp.get("/maintenance-windows")
@require(Role.VIEWER)
def list_windows():
    rt = runtime()
    with rt.db.read() as session:
        items = [windows.to_dict(rt, w) for w in windows.list_all(session)]
    return listing("windows", items, len(items))


@bp.post("/maintenance-windows")
@require(Role.OPERATOR)
def create_window():
    data = parse(WindowCreate, json_body())
    rt = runtime()
    window = windows.create(rt, data, current_actor())
    return ok(windows.to_dict(rt, window), say("window_created", name=window.name))


@bp.put("/maintenance-windows/<id:window_id>")
@require(Role.OPERATOR)
def update_window(window_id: int):
    data = parse(WindowPatch, json_body())
    rt = runtime()
    window = windows.update(rt, window_id, data, current_actor())
    return ok(windows.to_dict(rt, window), say("window_updated", name=window.name))


@bp.post("/maintenance-windows/<id:window_id>/end")
@require(Role.OPERATOR)
def end_window(window_id: int):
    rt = runtime()
    window = windows.end(rt, window_id, current_actor())
    return ok(windows.to_dict(rt, window), say("window_ended", name=window.name))


@bp.delete("/maintenance-windows/<id:window_id>")
@require(Role.OPERATOR)
def delete_window(window_id: int):
    windows.delete(runtime(), window_id, current_actor())
    return ok({"id": window_id}, say("window_deleted", id=window_id))


openapi.ROUTES.extend(
    [
        (
            "get",
            "/maintenance-windows",
            "viewer",
            "Maintenance windows (open ones say when they close)",
            None,
            None,
        ),
        ("post", "/maintenance-windows", "operator", "Create a maintenance window", WindowCreate, None),
        (
            "put",
            "/maintenance-windows/{window_id}",
            "operator",
            "Change a maintenance window",
            WindowPatch,
            None,
        ),
        (
            "post",
            "/maintenance-windows/{window_id}/end",
            "operator",
            "End a maintenance window now",
            None,
            None,
        ),
        ("delete", "/maintenance-windows/{window_id}", "operator", "Delete a maintenance window", None, None),
    ]
)
