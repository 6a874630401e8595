"""Alert pages: the channels and the global policy (admins), the delivery history and the
maintenance windows (viewers; operators change windows).

The channels list is rendered from ``services.alert_channels`` (URLs only in
their masked form); ``static/js/alerts.js`` sends every change and each test
alert to the alerts API (``whalefall/api/alerts.py``). The history parses its
filters with the API's own query model, ``DeliveryQuery``.
"""

from __future__ import annotations

from typing import get_args
from zoneinfo import ZoneInfo

from sqlalchemy import select

from whalefall.auth.guard import page_login_required
from whalefall.console import bp, render, runtime
from whalefall.domain.alertspec import EventName
from whalefall.models import AlertDelivery, AlertEvent, DeliveryStatus, Job, Role
from whalefall.services import alert_channels, alert_deliveries, alerts, windows
from whalefall.services import runs as run_service
from whalefall.web.queries import DeliveryQuery, query

PER_PAGE = 50
#: The kinds a channel can be (``notify.KINDS``' values), in the order the URL help lists them.
CHANNEL_KINDS = ["email", "dingtalk", "wecom", "feishu", "slack", "webhook", "other"]
#: One example URL per kind for the dialog's help (data: shown as typed, never translated).
URL_EXAMPLES = [
    ("email", "mailtos://dba:password@smtp.example.com?to=oncall@example.com"),
    ("dingtalk", "dingtalk://SECRET@ACCESS_TOKEN/"),
    ("wecom", "wecombot://WEBHOOK_KEY"),
    ("feishu", "feishu://WEBHOOK_TOKEN/"),
    ("slack", "slack://T000/B000/XXXXXXXX/#dba"),
    ("webhook", "json://alerts.example.com/hook"),
]


@bp.get("/admin/alerts")
@page_login_required(Role.ADMIN)
def alert_channels_page():
    rt = runtime()
    with rt.db.read() as session:
        stored = [alert_channels.to_dict(c) for c in alert_channels.list_all(session)]
    channels = stored + [alert_channels.env_to_dict(t) for t in alert_channels.env_targets(rt)]
    return render(
        "console/alert_channels.html",
        channels=channels,
        url_examples=URL_EXAMPLES,
        policy=alerts.global_policy(rt).model_dump(),
        channel_names=[c["name"] for c in channels if c["enabled"]],
        policy_events=list(get_args(EventName)),
    )


@bp.get("/alerts/windows")
@page_login_required()
def windows_page():
    rt = runtime()
    with rt.db.read() as session:
        items = [windows.to_dict(rt, w) for w in windows.list_all(session)]
        jobs = session.execute(select(Job.id, Job.name).order_by(Job.id)).all()
        categories = sorted(c for c in session.scalars(select(Job.category).distinct()) if c)
    return render(
        "console/windows.html",
        windows=items,
        jobs=[{"id": j.id, "name": j.name} for j in jobs],
        categories=categories,
    )


@bp.get("/alerts/deliveries")
@page_login_required()
def alert_deliveries_page():
    rt = runtime()
    zone = ZoneInfo(rt.settings.timezone)
    f = query(DeliveryQuery, per_page=PER_PAGE)
    since = run_service.parse_when(f.since, "since", zone=zone)
    with rt.db.read() as session:
        rows, total = alert_deliveries.page(
            session,
            event=f.event,
            job_id=f.job_id,
            channel=f.channel,
            status=f.status,
            since=since,
            page=f.page,
            per_page=PER_PAGE,
        )
        seen = set(session.scalars(select(AlertDelivery.channel).distinct()))
    channel_names = sorted(seen | alert_channels.known_names(rt))
    return render(
        "console/alert_deliveries.html",
        deliveries=[alert_deliveries.to_dict(d) for d in rows],
        total=total,
        page=f.page,
        pages=max(1, -(-total // PER_PAGE)),
        events=[e.value for e in AlertEvent],
        statuses=[s.value for s in DeliveryStatus],
        channel_names=channel_names,
        filters={
            "event": f.event or "",
            "channel": f.channel or "",
            "status": f.status or "",
            "job_id": f.job_id or "",
        },
    )
