"""Run alerts end to end against a real HTTP receiver: events, thresholds, throttling, recovery, retries.

The clock is moved with time-machine; the dispatcher is driven one step at a time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from whalefall.clock import now as clock_now
from whalefall.domain.alertspec import ChannelCreate, GlobalPolicy
from whalefall.domain.jobspec import JobCreate
from whalefall.models import AlertDelivery, Run, RunStatus, TriggerSource
from whalefall.scheduler.alerts import YIELD_SECONDS, AlertDispatcher
from whalefall.services import alert_channels, alerts, jobs, runs
from whalefall.services.audit import Actor

T0 = datetime(2031, 3, 4, 2, 0, 0, tzinfo=UTC)
ADMIN = Actor("admin", "admin")


@pytest.fixture
def hook(runtime, http_receiver):
    alert_channels.create(
        runtime, ChannelCreate(name="hook", url=f"json://127.0.0.1:{http_receiver.port}/alert"), ADMIN
    )
    return http_receiver


@pytest.fixture
def travel():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def make_job(rt, job_id: str = "nightly", **fields):
    data = {"id": job_id, "name": "Nightly ETL", "function": "heartbeat", "trigger_type": "interval"}
    return jobs.create(rt, JobCreate(**{**data, "interval_seconds": 3600, **fields}), ADMIN)


def finish(rt, job_id: str, status: RunStatus, error: str | None = None, attempt: int = 1):
    run = runs.enqueue(rt, job_id, source=TriggerSource.MANUAL, node="n1", attempt=attempt)
    assert runs.start(rt, run.id, "n1")
    return runs.finish(rt, run.id, status, error_message=error)


def dispatch(rt) -> AlertDispatcher:
    dispatcher = AlertDispatcher(rt, lambda: True)
    dispatcher.step()
    return dispatcher


def deliveries(rt) -> list[AlertDelivery]:
    with rt.db.read() as session:
        return list(session.scalars(select(AlertDelivery).order_by(AlertDelivery.id)))


def test_a_failed_run_alerts_once_with_job_status_time_error_and_link(runtime, hook, travel):
    make_job(runtime)
    run = finish(runtime, "nightly", RunStatus.FAILED, "Traceback\nValueError: disk full\n" + "more\n" * 10)
    travel.shift(1)
    dispatch(runtime)
    dispatch(runtime)  # a second look at the same run raises nothing more
    body = hook.wait_for()[0].json()
    assert len(hook.requests) == 1
    assert body["title"] == "【失败】Nightly ETL（nightly）"
    assert (
        "状态：失败" in body["message"]
        and "计划时间：2031-03-04 10:00:00（Asia/Shanghai）" in body["message"]
    )
    assert "ValueError: disk full" in body["message"] and body["message"].count("more") == 3
    assert body["event"] == "failure" and body["job_id"] == "nightly" and body["run_id"] == str(run.id)
    assert body["link"] == f"http://127.0.0.1:5000/scheduler/runs/{run.id}"
    assert [(d.event, d.status, d.attempts) for d in deliveries(runtime)] == [("failure", "sent", 1)]


def test_english_alerts_when_the_product_speaks_english(tmp_path, http_receiver):
    from tests.conftest import make_runtime

    rt = make_runtime(tmp_path, language="en", base_url="https://wf.example.com/")
    try:
        alert_channels.create(
            rt, ChannelCreate(name="hook", url=f"json://127.0.0.1:{http_receiver.port}/a"), ADMIN
        )
        make_job(rt)
        run = finish(rt, "nightly", RunStatus.TIMEOUT, "timeout: over 60 s")
        dispatch(rt)
        body = http_receiver.wait_for()[0].json()
        assert body["title"] == "[timed out] Nightly ETL (nightly)" and "Status: timeout" in body["message"]
        assert body["link"] == f"https://wf.example.com/scheduler/runs/{run.id}"
    finally:
        rt.close()


def test_a_failure_a_retry_will_follow_does_not_alert_the_last_attempt_does(runtime, hook, travel):
    make_job(runtime, max_retries=1)
    finish(runtime, "nightly", RunStatus.FAILED, "boom", attempt=1)
    dispatch(runtime)
    assert deliveries(runtime) == []
    finish(runtime, "nightly", RunStatus.FAILED, "boom again", attempt=2)
    dispatch(runtime)
    assert [d.event for d in deliveries(runtime)] == ["failure"]


def test_a_threshold_alerts_only_after_that_many_failures_in_a_row(runtime, hook, travel):
    make_job(runtime, notify={"threshold": 3})
    for _ in range(2):
        finish(runtime, "nightly", RunStatus.FAILED, "boom")
        travel.shift(60)
    dispatch(runtime)
    assert deliveries(runtime) == []
    finish(runtime, "nightly", RunStatus.FAILED, "boom")
    dispatch(runtime)
    assert [d.event for d in deliveries(runtime)] == ["failure"]


def test_one_alert_per_window_and_the_next_says_how_many_were_held_back(runtime, hook, travel):
    make_job(runtime)
    for _ in range(3):
        finish(runtime, "nightly", RunStatus.FAILED, "boom")
        travel.shift(60)
        dispatch(runtime)
    assert [d.status for d in deliveries(runtime)] == ["sent", "throttled", "throttled"]
    travel.shift(600)
    finish(runtime, "nightly", RunStatus.FAILED, "boom")
    travel.shift(1)
    dispatch(runtime)
    bodies = [r.json() for r in hook.wait_for(2)]
    assert len(bodies) == 2 and bodies[1]["held_back"] == "2"
    assert "在此之前另有 2 条告警被合并未发" in bodies[1]["message"]


def test_recovery_follows_a_failure_alert_even_inside_the_window_and_only_then(runtime, hook, travel):
    make_job(runtime)
    finish(runtime, "nightly", RunStatus.SUCCESS)
    dispatch(runtime)
    assert deliveries(runtime) == []  # nothing failed: nothing to recover from
    finish(runtime, "nightly", RunStatus.FAILED, "boom")
    travel.shift(30)
    dispatch(runtime)
    finish(runtime, "nightly", RunStatus.SUCCESS)
    travel.shift(30)
    dispatch(runtime)
    finish(runtime, "nightly", RunStatus.SUCCESS)
    travel.shift(30)
    dispatch(runtime)
    assert [(d.event, d.status) for d in deliveries(runtime)] == [("failure", "sent"), ("recovery", "sent")]
    assert hook.wait_for(2)[1].json()["title"] == "【已恢复】Nightly ETL（nightly）"


def test_a_job_can_turn_its_alerts_off_or_pick_its_channels_and_events(runtime, hook, travel, http_receiver):
    make_job(runtime, "quiet", notify={"enabled": False})
    make_job(runtime, "picky", notify={"events": ["timeout"]})
    finish(runtime, "quiet", RunStatus.FAILED, "boom")
    finish(runtime, "picky", RunStatus.FAILED, "boom")
    dispatch(runtime)
    assert deliveries(runtime) == []
    finish(runtime, "picky", RunStatus.TIMEOUT, "slow")
    dispatch(runtime)
    assert [d.event for d in deliveries(runtime)] == ["timeout"]


def test_a_job_naming_an_unknown_channel_is_refused_naming_it(client, bearer, hook):
    body = {
        "id": "j",
        "name": "J",
        "function": "heartbeat",
        "trigger_type": "interval",
        "interval_seconds": 60,
    }
    refused = client.post(
        "/scheduler/api/jobs", json={**body, "notify": {"channels": ["nope"]}}, headers=bearer("admin")
    )
    assert refused.status_code == 400 and "notify.channels" in refused.json["errors"]
    assert refused.json["message"] == "「告警渠道」：没有这些告警渠道：nope"
    assert client.get("/scheduler/api/jobs/j", headers=bearer("admin")).status_code == 404
    accepted = client.post(
        "/scheduler/api/jobs", json={**body, "notify": {"channels": ["hook"]}}, headers=bearer("admin")
    )
    assert accepted.status_code == 200 and accepted.json["data"]["notify"] == {"channels": ["hook"]}


def test_a_run_still_going_past_its_limit_alerts_once(runtime, hook, travel):
    make_job(runtime, notify={"long_running_seconds": 3600})
    run = runs.enqueue(runtime, "nightly", source=TriggerSource.MANUAL, node="n1")
    runs.start(runtime, run.id, "n1")
    travel.shift(3599)
    dispatch(runtime)
    assert deliveries(runtime) == []
    travel.shift(2)
    dispatch(runtime)
    dispatch(runtime)
    body = hook.wait_for()[0].json()
    assert [d.event for d in deliveries(runtime)] == ["long_running"]
    assert body["title"] == "【运行过久】Nightly ETL（nightly）" and "已运行 3601 秒" in body["message"]


def test_a_failing_channel_is_retried_with_backoff_then_given_up_and_never_raises(runtime, hook, travel):
    hook.status = 500
    make_job(runtime)
    finish(runtime, "nightly", RunStatus.FAILED, "boom")
    dispatch(runtime)
    [delivery] = deliveries(runtime)
    assert (delivery.status, delivery.attempts) == ("pending", 1) and "500" in delivery.error
    dispatch(runtime)
    assert deliveries(runtime)[0].attempts == 1  # not due before its backoff
    for wait in (5, 30, 120):
        travel.shift(wait)
        dispatch(runtime)
    [delivery] = deliveries(runtime)
    assert (delivery.status, delivery.attempts) == ("failed", 4) and len(hook.requests) == 4


def test_the_global_policy_is_kept_and_checked(client, bearer, hook):
    admin = bearer("admin")
    assert (
        client.get("/scheduler/api/alert-policy", headers=bearer("viewer")).json["data"]["throttle_seconds"]
        == 600
    )
    saved = client.put(
        "/scheduler/api/alert-policy", json={"channels": ["hook"], "throttle_seconds": 60}, headers=admin
    )
    assert saved.status_code == 200 and saved.json["data"]["channels"] == ["hook"]
    bad = client.put("/scheduler/api/alert-policy", json={"channels": ["ghost"]}, headers=admin)
    assert bad.status_code == 400 and "channels" in bad.json["errors"]
    assert client.get("/scheduler/api/alert-policy", headers=admin).json["data"]["throttle_seconds"] == 60
    assert client.put("/scheduler/api/alert-policy", json={}, headers=bearer("operator")).status_code == 403


def test_the_global_policy_reaches_the_scan(runtime, hook, travel):
    alerts.set_global_policy(runtime, GlobalPolicy(events=["timeout"]), ADMIN)
    make_job(runtime)
    finish(runtime, "nightly", RunStatus.FAILED, "boom")
    dispatch(runtime)
    assert deliveries(runtime) == []
    finish(runtime, "nightly", RunStatus.TIMEOUT, "slow")
    travel.shift(timedelta(minutes=1))
    dispatch(runtime)
    assert [d.event for d in deliveries(runtime)] == ["timeout"]


def test_a_notify_stored_before_alerts_had_a_schema_follows_the_global_policy(runtime, hook, travel):
    from whalefall.models import Job

    make_job(runtime)
    with runtime.db.begin() as session:
        session.get(Job, "nightly").notify = {"on": ["failed"], "urls": ["mailto://x@example.com"]}
    finish(runtime, "nightly", RunStatus.FAILED, "boom")
    dispatch(runtime)
    assert [d.event for d in deliveries(runtime)] == ["failure"]


def test_a_delivery_left_sending_by_a_dead_sender_is_sent_again(runtime, hook, travel):
    from whalefall.models import AlertDelivery as Delivery

    make_job(runtime)
    finish(runtime, "nightly", RunStatus.FAILED, "boom")
    alerts.scan_finished(runtime)
    [claimed] = alerts.due(runtime)  # claimed, then the sender's process died
    assert alerts.due(runtime) == []
    travel.shift(timedelta(minutes=4))
    assert alerts.due(runtime) == []
    travel.shift(timedelta(minutes=2))
    assert alerts.due(runtime) == [claimed]
    assert alerts.deliver(runtime, claimed) == "sent"
    with runtime.db.read() as session:
        assert session.get(Delivery, claimed).status == "sent"


def test_a_web_process_tells_once_when_no_scheduler_leads_and_again_when_one_does(runtime, hook, travel):
    from whalefall.models import AlertEvent
    from whalefall.services import nodes

    assert alerts.watch_scheduler(runtime) is None  # no scheduler ever ran here: nothing to miss
    assert nodes.acquire(runtime, "host:1:aaaaaa")
    assert alerts.watch_scheduler(runtime) is None
    travel.shift(runtime.settings.lease_seconds + 5)  # expired, but a standby may still take over
    assert alerts.watch_scheduler(runtime) is None
    travel.shift(runtime.settings.lease_seconds)
    assert alerts.watch_scheduler(runtime) == AlertEvent.SCHEDULER_DOWN
    assert alerts.watch_scheduler(runtime) is None  # told once
    down = hook.wait_for()[0].json()
    assert down["title"] == "鲸落调度器已停止" and down["event"] == "scheduler_down" and down["since"]
    assert nodes.acquire(runtime, "host:2:bbbbbb")
    assert alerts.watch_scheduler(runtime) == AlertEvent.SCHEDULER_BACK
    assert alerts.watch_scheduler(runtime) is None
    assert hook.wait_for(2)[1].json()["title"] == "鲸落调度器已恢复"
    assert [(d.event, d.status) for d in deliveries(runtime)] == [
        ("scheduler_down", "sent"),
        ("scheduler_back", "sent"),
    ]


def test_two_web_processes_send_the_scheduler_down_alert_once(runtime, hook, travel):
    from whalefall.services import nodes, state

    assert nodes.acquire(runtime, "host:1:aaaaaa")
    travel.shift(3 * runtime.settings.lease_seconds)
    assert alerts.watch_scheduler(runtime) is not None
    state.put(runtime, alerts.OUTAGE_KEY, None)  # the second process read the state before the first wrote it
    alerts.watch_scheduler(runtime)
    assert len(deliveries(runtime)) == 1 and len(hook.requests) == 1


def test_a_fleet_run_with_failed_instances_is_partial_and_alerts_naming_them(runtime, hook, travel):
    import logging

    from whalefall.domain.instancespec import InstanceCreate
    from whalefall.services import fleet_sessions, instances
    from whalefall.tasks.registry import TaskContext

    make_job(runtime, "sizes")
    for name in ("orders", "billing", "crm"):
        instances.create(
            runtime, InstanceCreate(name=name, db_type="mysql", host="127.0.0.1", username="u"), ADMIN
        )
    run = runs.enqueue(runtime, "sizes", source=TriggerSource.MANUAL, node="n1")
    runs.start(runtime, run.id, "n1")

    def work(instance, session_id):
        if instance.name in ("billing", "crm"):
            raise RuntimeError(f"cannot reach {instance.name}\nmore detail")
        return fleet_sessions.Outcome(counts={"databases": 1})

    ctx = TaskContext(runtime, run.id, "sizes", None, 1, logging.getLogger("test"))
    text = fleet_sessions.run_per_instance(
        ctx, "collect_database_sizes", fleet_sessions.load_instances(runtime), work
    )
    finished = runs.finish(runtime, run.id, RunStatus.SUCCESS, return_value=text)
    assert finished is not None and finished.status == "success" and finished.partial
    assert runs.to_dict(finished, "Asia/Shanghai")["display_status"] == "partial"
    dispatch(runtime)
    body = hook.wait_for()[0].json()
    assert body["title"] == "【部分成功】Nightly ETL（sizes）" and "状态：部分成功" in body["message"]
    assert (
        "失败的实例（2 个）：billing: RuntimeError: cannot reach billing, crm: RuntimeError: cannot reach crm"
        in body["message"]
    )
    finish(runtime, "sizes", RunStatus.SUCCESS)  # the next clean run is a recovery
    dispatch(runtime)
    assert [d.event for d in deliveries(runtime)] == ["partial", "recovery"]


def test_a_channel_that_hangs_does_not_delay_the_next_fire(runtime, http_receiver):
    """Real time, on purpose: the scheduler's own loop, its alert thread and a receiver that hangs 6 s."""
    import time as wallclock

    from whalefall.scheduler.service import SchedulerService

    http_receiver.delay = 6
    alert_channels.create(
        runtime, ChannelCreate(name="slow", url=f"json://127.0.0.1:{http_receiver.port}/a"), ADMIN
    )
    body = {"trigger_type": "interval", "interval_seconds": 1}
    failing = "def execute_task():\n    raise RuntimeError('broken')\n"
    jobs.create(runtime, JobCreate(id="broken", name="Broken", code=failing, **body), ADMIN)
    jobs.create(
        runtime,
        JobCreate(id="beat", name="Beat", function="heartbeat", trigger_type="interval", interval_seconds=1),
        ADMIN,
    )
    service = SchedulerService(runtime)
    service.start()
    try:
        http_receiver.wait_for(1, timeout=15)  # the first alert is being delivered: the receiver hangs now
        hung_at = clock_now()
        wallclock.sleep(3)
    finally:
        service.stop(wait_seconds=1)
    with runtime.db.read() as session:
        beats = [
            r
            for r in session.scalars(select(Run).where(Run.job_id == "beat", Run.scheduled_time >= hung_at))
            if r.started_at is not None
        ]
    assert len(beats) >= 2
    lateness = [(r.started_at - r.scheduled_time).total_seconds() for r in beats]
    assert max(lateness) < 1.0, lateness  # generous: the receiver hangs for 6 s


def test_healthy_runs_cost_the_scan_no_write(runtime, hook, travel):
    from whalefall.models import AlertJobState, StateEntry

    make_job(runtime)
    for _ in range(20):
        finish(runtime, "nightly", RunStatus.SUCCESS)
    alerts.scan_finished(runtime)
    with runtime.db.read() as session:
        assert session.scalars(select(AlertJobState)).all() == []
        mark = session.get(StateEntry, alerts.SCAN_KEY)
    assert mark is not None  # only the scan's own mark moved


def test_the_scan_keeps_up_when_more_runs_finish_than_one_batch_holds(runtime, hook, travel, monkeypatch):
    monkeypatch.setattr(alerts, "SCAN_BATCH", 5)
    make_job(runtime)
    for _ in range(11):
        finish(runtime, "nightly", RunStatus.SUCCESS)
    finish(runtime, "nightly", RunStatus.FAILED, "the twelfth")
    travel.shift(1)
    dispatch(runtime)
    assert [d.event for d in deliveries(runtime)] == ["failure"]
    assert "the twelfth" in hook.wait_for()[0].json()["message"]


def test_a_busy_runner_puts_a_round_off_but_never_longer_than_the_yield(runtime):
    busy = {"now": False}
    dispatcher = AlertDispatcher(runtime, lambda: True, busy=lambda: busy["now"])
    assert dispatcher.due(100.0)  # idle: every second
    assert dispatcher.due(101.0)
    busy["now"] = True  # a burst: rounds wait …
    assert not dispatcher.due(102.0)
    assert not dispatcher.due(101.0 + YIELD_SECONDS - 0.5)
    assert dispatcher.due(101.0 + YIELD_SECONDS)  # … but not for ever
    assert not dispatcher.due(102.0 + YIELD_SECONDS)
    busy["now"] = False
    assert dispatcher.due(102.0 + YIELD_SECONDS)  # the burst is over: at once
