"""The delivery history: every alert, for every channel, and how it ended."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from whalefall import clock, notify
from whalefall.models import AlertDelivery, DeliveryStatus
from whalefall.runtime import Runtime
from whalefall.services.alert_channels import Target
from whalefall.services.query import paginate


def record_attempt(
    runtime: Runtime,
    target: Target,
    message: notify.Message,
    *,
    event: str,
    dedupe_key: str,
    lang: str,
    job_id: str | None = None,
    run_id: int | None = None,
) -> AlertDelivery:
    """Send now and record the outcome as one delivery (a channel test; the dispatcher queues instead)."""
    now = clock.now()
    ok, error = notify.send(target.url, message)
    delivery = AlertDelivery(
        dedupe_key=dedupe_key,
        event=event,
        job_id=job_id,
        run_id=run_id,
        channel=target.name,
        status=(DeliveryStatus.SENT if ok else DeliveryStatus.FAILED).value,
        lang=lang,
        title=message.title,
        body=message.text,
        body_markdown=message.markdown,
        facts=json.dumps(message.facts, ensure_ascii=False),
        held_back=0,
        attempts=1,
        error=error or None,
        created_at=now,
        finished_at=clock.now(),
    )
    with runtime.db.begin() as session:
        session.add(delivery)
    return delivery


def claim_and_send(
    runtime: Runtime, target: Target, message: notify.Message, *, event: str, dedupe_key: str, lang: str
) -> AlertDelivery | None:
    """Record the delivery as ``sending`` first: when another process holds the key, do nothing.
    Then send and record how it went. None when someone else has it."""
    now = clock.now()
    delivery = AlertDelivery(
        dedupe_key=dedupe_key,
        event=event,
        channel=target.name,
        status=DeliveryStatus.SENDING.value,
        lang=lang,
        title=message.title,
        body=message.text,
        body_markdown=message.markdown,
        facts=json.dumps(message.facts, ensure_ascii=False),
        held_back=0,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    try:
        with runtime.db.begin() as session:
            session.add(delivery)
    except IntegrityError:
        return None
    ok, error = notify.send(target.url, message)
    with runtime.db.begin() as session:
        stored = session.get(AlertDelivery, delivery.id)
        if stored is not None:
            stored.status = (DeliveryStatus.SENT if ok else DeliveryStatus.FAILED).value
            stored.attempts, stored.error, stored.finished_at = 1, error or None, clock.now()
            delivery = stored
    return delivery


def page(
    session: Session,
    *,
    event: str | None = None,
    job_id: str | None = None,
    channel: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[AlertDelivery], int]:
    query = select(AlertDelivery)
    for column, value in (
        (AlertDelivery.event, event),
        (AlertDelivery.job_id, job_id),
        (AlertDelivery.channel, channel),
        (AlertDelivery.status, status),
    ):
        if value:
            query = query.where(column == value)
    if since:
        query = query.where(AlertDelivery.created_at >= since)
    return paginate(session, query, AlertDelivery.id.desc(), page=page, per_page=per_page)


def to_dict(delivery: AlertDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event": delivery.event,
        "job_id": delivery.job_id,
        "run_id": delivery.run_id,
        "channel": delivery.channel,
        "status": delivery.status,
        "lang": delivery.lang,
        "title": delivery.title,
        "body": delivery.body,
        "held_back": delivery.held_back,
        "attempts": delivery.attempts,
        "error": delivery.error,
        "created_at": clock.iso(delivery.created_at),
        "finished_at": clock.iso(delivery.finished_at),
    }
