"""What an alert says: the message of each event, in the console's language, for every kind of channel.

Chat robots (DingTalk, WeCom, Feishu, Slack) get Markdown, email and webhooks
plain text, and webhooks also get the facts as fields of their JSON body.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from whalefall import clock, notify
from whalefall.domain.alertspec import GlobalPolicy, NotifyPolicy
from whalefall.errors import InvalidInput
from whalefall.i18n import catalogue, reasons
from whalefall.models import (
    AlertChannel,
    AlertDelivery,
    AlertEvent,
    AlertJobState,
    DeliveryStatus,
    Job,
    MaintenanceWindow,
    Run,
    RunStatus,
)
from whalefall.models.fleet import SyncSession, SyncSessionInstance
from whalefall.runtime import Runtime
from whalefall.services import alert_channels, alert_deliveries, audit, fleet_sizes, nodes, state, windows
from whalefall.services.audit import Actor
from whalefall.services.query import changed_rows

log = logging.getLogger(__name__)


def _say(key: str, lang: str, **params: Any) -> str:
    return catalogue.text("alert", key, lang).format(**params)


def test_message(runtime: Runtime, channel: str, lang: str) -> notify.Message:
    base = runtime.settings.base_url
    now = clock.local_text(clock.now(), runtime.settings.timezone) or ""
    title = _say("test_title", lang)
    lines = [_say("test_body", lang, channel=channel), _say("test_time", lang, time=now)]
    link = f"{base}/scheduler/"
    facts = {"event": "test", "channel": channel, "time": clock.iso(clock.now()) or "", "link": link}
    return notify.Message(
        title=title,
        markdown="\n\n".join(lines) + f"\n\n[{_say('open_console', lang)}]({link})",
        text="\n".join(lines) + f"\n{link}",
        facts=facts,
        failure=False,
    )


def send_test(runtime: Runtime, channel: AlertChannel, actor: Actor, lang: str) -> dict[str, Any]:
    """Send a test alert to ``channel`` now; the delivery, as recorded in the history."""
    target = alert_channels.target_of(runtime, channel)
    message = test_message(runtime, channel.name, lang)
    stamp = clock.now().strftime("%Y%m%dT%H%M%S.%f")
    delivery = alert_deliveries.record_attempt(
        runtime,
        target,
        message,
        event="test",
        dedupe_key=f"test:{channel.id}:{stamp}",
        lang=lang,
    )
    return alert_deliveries.to_dict(delivery)


# --- the policy ------------------------------------------------------------------------------------

POLICY_KEY = "alert_policy"
SCAN_KEY = "alerts_scanned_until"
SCAN_OVERLAP = timedelta(seconds=60)  # runs commit out of finish order across processes
FIRST_LOOK_BACK = timedelta(minutes=10)  # the first scan of an install looks this far back, no further
SCAN_BATCH = 2000
MAX_ATTEMPTS = 4
BACKOFF_SECONDS = (5, 30, 120)  # after the 1st, 2nd, 3rd failed attempt
STALE_SENDING = timedelta(minutes=5)
ERROR_LINES = 5

LATE_STATUSES = (
    RunStatus.FAILED.value,
    RunStatus.TIMEOUT.value,
    RunStatus.INTERRUPTED.value,
    RunStatus.MISSED.value,
    RunStatus.SKIPPED.value,
)
FAILURE_EVENTS = {
    RunStatus.FAILED.value: AlertEvent.FAILURE,
    RunStatus.TIMEOUT.value: AlertEvent.TIMEOUT,
    RunStatus.INTERRUPTED.value: AlertEvent.INTERRUPTED,
    RunStatus.MISSED.value: AlertEvent.MISSED,
}


def global_policy(runtime: Runtime) -> GlobalPolicy:
    stored = state.get(runtime, POLICY_KEY)
    return GlobalPolicy.model_validate_json(stored) if stored else GlobalPolicy()


def set_global_policy(runtime: Runtime, policy: GlobalPolicy, actor: Actor) -> GlobalPolicy:
    check_channels(runtime, policy.channels, field="channels")
    with runtime.db.begin() as session:
        state.put(runtime, POLICY_KEY, policy.model_dump_json(), session=session)
        audit.record(session, actor, "alerts.policy", "policy", "global", policy.model_dump())
    return policy


def check_channels(runtime: Runtime, names: list[str] | None, *, field: str) -> None:
    """400 naming ``field`` when a channel name is neither stored nor in WHALEFALL_NOTIFY_URLS."""
    unknown = sorted(set(names or []) - {"*"} - alert_channels.known_names(runtime))
    if unknown:
        raise InvalidInput(
            f"unknown alert channel(s): {', '.join(unknown)}",
            field=field,
            key="unknown_channels",
            params={"field": field, "names": ", ".join(unknown)},
        )


@dataclass(frozen=True)
class Effective:
    """A job's policy: its ``notify`` over the global one."""

    enabled: bool
    channels: list[str]
    events: set[str]
    threshold: int
    throttle: timedelta
    long_running_seconds: int | None


def effective(job_notify: dict[str, Any] | None, base: GlobalPolicy) -> Effective:
    try:
        own = NotifyPolicy.model_validate(job_notify or {})
    except ValidationError:  # written before alerts had a schema: the global policy holds
        own = NotifyPolicy()
    return Effective(
        enabled=own.enabled,
        channels=own.channels if own.channels is not None else base.channels,
        events=set(own.events if own.events is not None else base.events),
        threshold=own.threshold or base.threshold,
        throttle=timedelta(seconds=base.throttle_seconds),
        long_running_seconds=own.long_running_seconds or base.long_running_seconds,
    )


# --- events from runs -------------------------------------------------------------------------------


def _event_of(run: Run, job: Job | None) -> AlertEvent | None:
    """The event a finished run raises, or None (a success; a failure a retry will follow)."""
    if run.status in FAILURE_EVENTS:
        retry_follows = (
            job is not None and run.status != RunStatus.MISSED.value and run.attempt <= job.max_retries
        )
        return None if retry_follows else FAILURE_EVENTS[run.status]
    if run.status == RunStatus.SKIPPED.value and (run.error_message or "").startswith("upstream"):
        return AlertEvent.SKIPPED_UPSTREAM
    return None


def scan_finished(runtime: Runtime) -> int:
    """Judge the runs that finished since the last scan; how many new ones were read (a full
    batch means: call again at once).

    New runs are read in (finished_at, id) order from the scan's mark, a batch at a time, so
    the scan keeps up with any rate. Runs commit out of finish order across processes, so the
    last minute before the mark is looked at again — but only for what can alert: failures,
    skips, partial runs, and the runs of jobs that are failing (their recovery). A job's
    ``last_run_id`` and the deliveries' unique key keep a run from alerting twice.
    """
    now = clock.now()
    mark_at, mark_id = _mark(runtime, now)
    with runtime.db.read() as session:
        # Only what judging needs: a thousand runs a second are read here, their logs are not.
        light = select(Run.id, Run.job_id, Run.status, Run.partial, Run.finished_at, Run.error_message)
        fresh = list(
            session.execute(
                light.where(
                    or_(Run.finished_at > mark_at, and_(Run.finished_at == mark_at, Run.id > mark_id)),
                    Run.finished_at <= now,
                )
                .order_by(Run.finished_at, Run.id)
                .limit(SCAN_BATCH)
            )
        )
        failing = list(
            session.scalars(
                select(AlertJobState.job_id).where(
                    or_(AlertJobState.consecutive_failures > 0, AlertJobState.failure_alerted.is_(True))
                )
            )
        )
        window = and_(Run.finished_at > mark_at - SCAN_OVERLAP, Run.finished_at <= mark_at)
        late = list(
            session.execute(
                light.where(window, or_(Run.status.in_(LATE_STATUSES), Run.partial.is_(True))).limit(
                    SCAN_BATCH
                )
            )
        )
        if failing:
            late += list(session.execute(light.where(window, Run.job_id.in_(failing)).limit(SCAN_BATCH)))
    batch = list({run.id: run for run in sorted(late + fresh, key=lambda r: r.id)}.values())
    if batch:
        _judge(runtime, batch, now)
    if fresh:
        last = fresh[-1]
        state.put(runtime, SCAN_KEY, json.dumps({"at": (last.finished_at or now).isoformat(), "id": last.id}))
    elif state.get(runtime, SCAN_KEY) is None:
        state.put(runtime, SCAN_KEY, json.dumps({"at": mark_at.isoformat(), "id": 0}))
    return len(fresh)


def _mark(runtime: Runtime, now: datetime) -> tuple[datetime, int]:
    stored = state.get(runtime, SCAN_KEY)
    if not stored:
        return now - FIRST_LOOK_BACK, 0
    mark = json.loads(stored)
    return datetime.fromisoformat(mark["at"]), int(mark["id"])


def _may_alert(run: Any) -> bool:
    """Could this run raise an event, whatever its job says? (A plain success cannot.)"""
    return run.status in FAILURE_EVENTS or run.status == RunStatus.SKIPPED.value or run.partial


def _judge(runtime: Runtime, finished: list[Any], now: datetime) -> None:
    """Judge a batch of finished runs in one transaction, and none at all when there is nothing to judge.

    A plain success matters only to a job that is failing (its counter, its recovery), so
    thousands of healthy runs a second cost one read here, not a write each.
    """
    with runtime.db.read() as session:
        job_ids = {run.job_id for run in finished}
        failing = {
            s.job_id
            for s in session.scalars(select(AlertJobState).where(AlertJobState.job_id.in_(job_ids)))
            if s.consecutive_failures or s.failure_alerted
        }
    todo = [run for run in finished if _may_alert(run) or run.job_id in failing]
    if not todo:
        return
    base = global_policy(runtime)
    with runtime.db.begin() as session:
        # Every job and alert state of the batch in two reads, not two per run.
        ids = list({run.job_id for run in todo})
        jobs = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(ids)))}
        states = {
            s.job_id: s for s in session.scalars(select(AlertJobState).where(AlertJobState.job_id.in_(ids)))
        }
        for run in session.scalars(select(Run).where(Run.id.in_([r.id for r in todo])).order_by(Run.id)):
            _evaluate(runtime, session, run, base, now, jobs, states)


def _evaluate(
    runtime: Runtime,
    session: Session,
    run: Run,
    base: GlobalPolicy,
    now: datetime,
    jobs: dict[str, Job],
    states: dict[str, AlertJobState],
) -> None:
    job = jobs.get(run.job_id)
    if job is None:
        return
    job_state = states.get(job.id)
    if job_state is None:
        job_state = AlertJobState(job_id=job.id, consecutive_failures=0, failure_alerted=False, held_back=0)
        session.add(job_state)
        states[job.id] = job_state
    if run.id <= (job_state.last_run_id or 0):
        return  # seen by an earlier scan
    job_state.last_run_id = run.id
    policy = effective(job.notify, base)
    event = _event_of(run, job)
    if event is None and run.partial:
        if policy.enabled and AlertEvent.PARTIAL in policy.events:
            _raise(runtime, session, job, run, AlertEvent.PARTIAL, policy, job_state, now)
        return
    if event is None:
        if run.status == RunStatus.SUCCESS.value:
            job_state.consecutive_failures = 0
            if job_state.failure_alerted:
                job_state.failure_alerted = False
                if policy.enabled and AlertEvent.RECOVERY in policy.events:
                    _raise(runtime, session, job, run, AlertEvent.RECOVERY, policy, job_state, now)
        return
    if event in (AlertEvent.FAILURE, AlertEvent.TIMEOUT, AlertEvent.INTERRUPTED):
        job_state.consecutive_failures += 1
        if job_state.consecutive_failures < policy.threshold:
            return
    if policy.enabled and event in policy.events:
        _raise(runtime, session, job, run, event, policy, job_state, now)


def _raise(
    runtime: Runtime,
    session: Session,
    job: Job,
    run: Run,
    event: AlertEvent,
    policy: Effective,
    job_state: AlertJobState,
    now: datetime,
) -> None:
    """Queue (or hold back) one alert of ``job`` for each of its channels."""
    targets = alert_channels.targets(runtime, policy.channels)
    if not targets:
        return
    window = windows.covering(runtime, job.id, job.category, now)
    if window is not None:
        _silence(session, job, run, event, targets, window, now)
        return
    throttled = (
        event != AlertEvent.RECOVERY
        and job_state.last_sent_at is not None
        and now - job_state.last_sent_at < policy.throttle
    )
    held_back = 0 if throttled else job_state.held_back
    lang = runtime.settings.language
    failed = _failed_instances(session, run.id) if event == AlertEvent.PARTIAL else []
    message = run_message(runtime, job, run, event, held_back, lang, failed_instances=failed)
    for target in targets:
        _queue(
            session,
            f"run:{run.id}:{event.value}:{target.name}",
            event,
            target,
            message,
            lang,
            now,
            job_id=job.id,
            run_id=run.id,
            held_back=held_back,
            throttled=throttled,
        )
    if throttled:
        job_state.held_back += 1
        return
    job_state.held_back = 0
    job_state.last_sent_at = now
    if event in (
        AlertEvent.FAILURE,
        AlertEvent.TIMEOUT,
        AlertEvent.INTERRUPTED,
        AlertEvent.MISSED,
        AlertEvent.PARTIAL,
    ):
        job_state.failure_alerted = True


def _queue(
    session: Session,
    key: str,
    event: AlertEvent,
    target: alert_channels.Target,
    message: notify.Message,
    lang: str,
    now: datetime,
    *,
    job_id: str | None,
    run_id: int | None,
    held_back: int = 0,
    throttled: bool = False,
) -> bool:
    """Add one delivery for the dispatcher (or held back, ``throttled``); False when ``key`` exists."""
    if session.scalar(select(AlertDelivery.id).where(AlertDelivery.dedupe_key == key)) is not None:
        return False
    session.add(
        AlertDelivery(
            dedupe_key=key,
            event=event.value,
            job_id=job_id,
            run_id=run_id,
            channel=target.name,
            status=(DeliveryStatus.THROTTLED if throttled else DeliveryStatus.PENDING).value,
            lang=lang,
            title=message.title,
            body=message.text,
            body_markdown=message.markdown,
            facts=json.dumps(message.facts, ensure_ascii=False),
            held_back=held_back,
            attempts=0,
            created_at=now,
            next_attempt_at=None if throttled else now,
            finished_at=now if throttled else None,
        )
    )
    return True


def _silence(
    session: Session,
    job: Job,
    run: Run,
    event: AlertEvent,
    targets: list[alert_channels.Target],
    window: MaintenanceWindow,
    now: datetime,
) -> None:
    """Record an alert a maintenance window silences: in the history, never sent, not throttled."""
    for target in targets:
        key = f"run:{run.id}:{event.value}:{target.name}"
        if session.scalar(select(AlertDelivery.id).where(AlertDelivery.dedupe_key == key)) is not None:
            continue
        session.add(
            AlertDelivery(
                dedupe_key=key,
                event=event.value,
                job_id=job.id,
                run_id=run.id,
                channel=target.name,
                status=DeliveryStatus.SILENCED.value,
                lang="",
                title="",
                body="",
                body_markdown="",
                facts="{}",
                held_back=0,
                attempts=0,
                error=f"maintenance window {window.name!r}",
                created_at=now,
                finished_at=now,
            )
        )


def scan_long_running(runtime: Runtime) -> int:
    """Alert the runs still going past their job's ``long_running_seconds``; how many were alerted."""
    now = clock.now()
    base = global_policy(runtime)
    with runtime.db.read() as session:
        # What judging needs of every running run (a burst has thousands): not their logs.
        rows = list(
            session.execute(
                select(Run.id, Run.started_at, Job.notify)
                .join(Job, Job.id == Run.job_id)
                .where(Run.status == RunStatus.RUNNING.value, Run.started_at.isnot(None))
            )
        )
    raised = 0
    policies: dict[str, Effective] = {}  # most jobs share one policy (none of their own)
    for run_id, started, job_notify in rows:
        key = json.dumps(job_notify, sort_keys=True, default=str)
        policy = policies.get(key) or policies.setdefault(key, effective(job_notify, base))
        limit = policy.long_running_seconds  # setting a limit is asking for this alert
        if not limit or not policy.enabled or started is None or (now - started).total_seconds() < limit:
            continue
        with runtime.db.begin() as session:
            exists = session.scalar(
                select(AlertDelivery.id).where(AlertDelivery.dedupe_key.like(f"run:{run_id}:long_running:%"))
            )
            run = session.get(Run, run_id)
            job = session.get(Job, run.job_id) if run is not None else None
            if exists is not None or run is None or job is None or run.status != RunStatus.RUNNING.value:
                continue
            job_state = session.get(AlertJobState, job.id) or AlertJobState(
                job_id=job.id, consecutive_failures=0, failure_alerted=False, held_back=0
            )
            session.add(job_state)
            _raise(runtime, session, job, run, AlertEvent.LONG_RUNNING, policy, job_state, now)
            raised += 1
    return raised


# --- sending -----------------------------------------------------------------------------------------


def due(runtime: Runtime, limit: int = 20) -> list[int]:
    """Claim the deliveries whose (next) attempt is due; their ids.

    A delivery claimed by a sender that died (``sending`` for over five
    minutes) is due again. Reading first keeps an idle second write-free.
    """
    now = clock.now()
    claimable = or_(
        and_(AlertDelivery.status == DeliveryStatus.PENDING.value, AlertDelivery.next_attempt_at <= now),
        and_(
            AlertDelivery.status == DeliveryStatus.SENDING.value,
            AlertDelivery.next_attempt_at < now - STALE_SENDING,
        ),
    )
    with runtime.db.read() as session:
        ids = list(
            session.scalars(select(AlertDelivery.id).where(claimable).order_by(AlertDelivery.id).limit(limit))
        )
    claimed = []
    for delivery_id in ids:
        with runtime.db.begin() as session:
            taken = changed_rows(
                session,
                update(AlertDelivery)
                .where(AlertDelivery.id == delivery_id, claimable)
                .values(status=DeliveryStatus.SENDING.value, next_attempt_at=now),
            )
        if taken == 1:
            claimed.append(delivery_id)
    return claimed


def deliver(runtime: Runtime, delivery_id: int) -> str:
    """One attempt of a claimed delivery; its status after it. Never raises for a channel's failure."""
    with runtime.db.read() as session:
        delivery = session.get(AlertDelivery, delivery_id)
    if delivery is None:
        return "gone"
    found = {t.name: t for t in alert_channels.targets(runtime, [delivery.channel])}
    target = found.get(delivery.channel)
    if target is None:
        ok, error = False, f"channel {delivery.channel!r} no longer exists or is disabled"
        final = True
    else:
        message = notify.Message(
            title=delivery.title,
            markdown=delivery.body_markdown,
            text=delivery.body,
            facts=json.loads(delivery.facts or "{}"),
            failure=delivery.event != AlertEvent.RECOVERY,
        )
        ok, error = notify.send(target.url, message)
        final = False
    now = clock.now()
    attempts = delivery.attempts + 1
    if ok:
        values: dict[str, Any] = {"status": DeliveryStatus.SENT.value, "finished_at": now, "error": None}
    elif final or attempts >= MAX_ATTEMPTS:
        values = {"status": DeliveryStatus.FAILED.value, "finished_at": now, "error": error}
        log.warning("alert %s to %s failed: %s", delivery_id, delivery.channel, error)
    else:
        wait = BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1]
        values = {
            "status": DeliveryStatus.PENDING.value,
            "next_attempt_at": now + timedelta(seconds=wait),
            "error": error,
        }
    values["attempts"] = attempts
    with runtime.db.begin() as session:
        changed_rows(
            session,
            update(AlertDelivery)
            .where(AlertDelivery.id == delivery_id, AlertDelivery.status == DeliveryStatus.SENDING.value)
            .values(**values),
        )
    return str(values["status"])


# --- what a run alert says ---------------------------------------------------------------------------


def _failed_instances(session: Session, run_id: int) -> list[str]:
    """``name: error`` of each instance a fleet run failed on."""
    rows = session.execute(
        select(SyncSessionInstance.instance_name, SyncSessionInstance.error)
        .join(SyncSession, SyncSession.id == SyncSessionInstance.session_id)
        .where(SyncSession.run_id == run_id, SyncSessionInstance.status == "failed")
        .order_by(SyncSessionInstance.instance_name)
    )
    return [f"{name}: {error.splitlines()[0]}" if error else name for name, error in rows]


def run_message(
    runtime: Runtime,
    job: Job,
    run: Run,
    event: AlertEvent,
    held_back: int,
    lang: str,
    *,
    failed_instances: list[str] | None = None,
) -> notify.Message:
    tz = job.timezone or runtime.settings.timezone
    link = f"{runtime.settings.base_url}/scheduler/runs/{run.id}"
    shown = "partial" if run.partial and run.status == RunStatus.SUCCESS.value else run.status
    status = catalogue.text("console", f"status_{shown}", lang)
    title = _say("run_title", lang, event=_say(f"event_{event.value}", lang), name=job.name, id=job.id)
    lines = [
        _say("line_job", lang, name=job.name, id=job.id),
        _say("line_status", lang, status=status),
        _say(
            "line_scheduled",
            lang,
            time=clock.local_text(run.scheduled_time or run.created_at, tz) or "—",
            tz=tz,
        ),
    ]
    if run.finished_at:
        lines.append(_say("line_finished", lang, time=clock.local_text(run.finished_at, tz) or "", tz=tz))
    elif run.started_at:
        running = int((clock.now() - run.started_at).total_seconds())
        lines.append(_say("line_running", lang, seconds=running))
    lines.append(_say("line_attempt", lang, attempt=run.attempt))
    if failed_instances:
        lines.append(
            _say("line_failed_instances", lang, n=len(failed_instances), names=", ".join(failed_instances))
        )
    error = "\n".join((reasons.say(run.error_message, lang) or "").strip().splitlines()[:ERROR_LINES])
    if held_back:
        lines.append(_say("line_held_back", lang, n=held_back))
    text = "\n".join(lines) + (f"\n{_say('line_error', lang)}\n{error}" if error else "") + f"\n{link}"
    markdown = "\n\n".join(f"- {line}" for line in lines)
    if error:
        markdown += f"\n\n**{_say('line_error', lang)}**\n\n```\n{error}\n```"
    markdown += f"\n\n[{_say('open_run', lang)}]({link})"
    facts = {
        "event": event.value,
        "job_id": job.id,
        "job_name": job.name,
        "run_id": str(run.id),
        "status": run.status,
        "scheduled_time": clock.iso(run.scheduled_time) or "",
        "finished_time": clock.iso(run.finished_at) or "",
        "attempt": str(run.attempt),
        "error": error,
        "held_back": str(held_back),
        "link": link,
    }
    return notify.Message(
        title=title, markdown=markdown, text=text, facts=facts, failure=event != AlertEvent.RECOVERY
    )


# --- capacity -------------------------------------------------------------------------------------


def queue_capacity(
    runtime: Runtime,
    forecast: dict[str, Any],
    day: date,
    *,
    job_id: str | None = None,
    run_id: int | None = None,
) -> int:
    """Queue the ``capacity`` alert of one instance (``fleet_forecast.instance_forecast``) to the
    global policy's channels, once per instance and business day; how many deliveries were queued.

    The size collection calls it when the forecast says the disk fills in fewer than
    ``capacity_alert_days``; the policy's ``events`` may leave ``capacity`` out.
    """
    policy = global_policy(runtime)
    if AlertEvent.CAPACITY.value not in policy.events:
        return 0
    targets = alert_channels.targets(runtime, policy.channels)
    lang = runtime.settings.language
    name, iid = forecast["instance_name"], forecast["instance_id"]
    link = f"{runtime.settings.base_url}/scheduler/capacity?instance_id={iid}"
    title = _say("capacity_title", lang, name=name)
    lines = [
        _say(
            "capacity_body",
            lang,
            name=name,
            days=forecast["days_until_full"],
            date=forecast["full_date"] or "",
            used=fleet_sizes.size_text(forecast["used_bytes"]),
            capacity=fleet_sizes.size_text(forecast["disk_capacity_bytes"]),
            per_day=fleet_sizes.size_text(forecast["growth_per_day_bytes"]),
        )
    ]
    facts = {
        "event": AlertEvent.CAPACITY.value,
        "instance_id": str(iid),
        "instance_name": name,
        "days_until_full": str(forecast["days_until_full"]),
        "full_date": forecast["full_date"] or "",
        "used_bytes": str(forecast["used_bytes"]),
        "disk_capacity_bytes": str(forecast["disk_capacity_bytes"]),
        "growth_per_day_bytes": str(forecast["growth_per_day_bytes"]),
        "link": link,
    }
    message = notify.Message(
        title=title,
        markdown="\n\n".join(lines) + f"\n\n[{_say('open_console', lang)}]({link})",
        text="\n".join(lines) + f"\n{link}",
        facts=facts,
        failure=True,
    )
    now = clock.now()
    with runtime.db.begin() as session:
        queued = [
            _queue(
                session,
                f"capacity:{iid}:{day.isoformat()}:{target.name}",
                AlertEvent.CAPACITY,
                target,
                message,
                lang,
                now,
                job_id=job_id,
                run_id=run_id or None,
            )
            for target in targets
        ]
    return sum(queued)


# --- the dead-man's switch -----------------------------------------------------------------------------

OUTAGE_KEY = "scheduler_outage"  # the outage alerted, until "back" is sent


def watch_scheduler(runtime: Runtime) -> AlertEvent | None:
    """From a web process: alert "scheduler down" once no scheduler has held the lease for longer
    than a takeover takes, and "scheduler back" when one holds it again. The event sent, or None.

    Sent at once to the global policy's channels (no scheduler is there to send it), and
    claimed through the deliveries' unique key, so several web processes send it once.
    """
    now = clock.now()
    lease = nodes.lease(runtime)
    outage = state.get(runtime, OUTAGE_KEY)
    if lease is not None and lease.holder and lease.expires_at > now:
        if not outage:
            return None
        state.put(runtime, OUTAGE_KEY, None)
        _send_now(runtime, AlertEvent.SCHEDULER_BACK, f"{outage}:back", since=None)
        return AlertEvent.SCHEDULER_BACK
    if lease is None or outage:
        return None  # no scheduler ever ran here, or this outage was told already
    if now - lease.expires_at < timedelta(seconds=runtime.settings.lease_seconds):
        return None  # a standby takes over within a lease
    key = f"scheduler_down:{lease.expires_at.isoformat()}"
    state.put(runtime, OUTAGE_KEY, key)
    _send_now(runtime, AlertEvent.SCHEDULER_DOWN, key, since=lease.expires_at)
    return AlertEvent.SCHEDULER_DOWN


def _send_now(runtime: Runtime, event: AlertEvent, key: str, *, since: datetime | None) -> None:
    lang = runtime.settings.language
    tz = runtime.settings.timezone
    link = f"{runtime.settings.base_url}/scheduler/"
    title = _say(f"event_{event.value}", lang)
    lines = [_say(f"{event.value}_body", lang)]
    if since is not None:
        lines.append(_say("line_since", lang, time=clock.local_text(since, tz) or "", tz=tz))
    text = "\n".join(lines) + f"\n{link}"
    markdown = "\n\n".join(lines) + f"\n\n[{_say('open_console', lang)}]({link})"
    facts = {"event": event.value, "since": clock.iso(since) or "", "link": link}
    message = notify.Message(title, markdown, text, facts, failure=event == AlertEvent.SCHEDULER_DOWN)
    for target in alert_channels.targets(runtime, global_policy(runtime).channels):
        alert_deliveries.claim_and_send(
            runtime, target, message, event=event.value, dedupe_key=f"{key}:{target.name}", lang=lang
        )
