"""Fleet tasks over several instances: the pool, failures recorded while the rest go on, sessions, secrets."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from sqlalchemy import select

from tests.conftest import make_runtime
from tests.fleet_support import ADMIN, MARIADB, POSTGRES, context, mariadb_server, postgres_server, register  # noqa: F401
from whalefall.domain.instancespec import InstanceCreate, InstancePatch
from whalefall.errors import ConfigError, FleetTaskFailed
from whalefall.fleet import crypto
from whalefall.fleet.errors import SecretUnreadable
from whalefall.models.fleet import Instance, InstanceAccount, SyncSession, SyncSessionInstance
from whalefall.services import fleet_sessions, instances
from whalefall.tasks import sync_accounts
from whalefall.tasks.registry import TaskRegistry

FLEET_TASKS = (
    "sync_accounts",
    "collect_database_sizes",
    "calculate_database_size_aggregations",
    "monitor_partition_health",
)


def session_rows(rt, session_id: int | None = None) -> dict[str, SyncSessionInstance]:
    with rt.db.read() as session:
        if session_id is None:
            session_id = session.scalar(select(SyncSession.id).order_by(SyncSession.id.desc()))
        return {
            r.instance_name: r
            for r in session.scalars(
                select(SyncSessionInstance).where(SyncSessionInstance.session_id == session_id)
            )
        }


def fake_instances(rt, count: int) -> list[Instance]:
    for i in range(count):
        instances.create(
            rt, InstanceCreate(name=f"i{i}", db_type="mysql", host="127.0.0.1", username="u"), ADMIN
        )
    return fleet_sessions.load_instances(rt)


def test_the_fleet_tasks_are_registered_under_their_names():
    registry = TaskRegistry.default()
    for name in FLEET_TASKS:
        assert callable(registry.resolve(name)) and registry.describe(name, "en")


# --- the pool ------------------------------------------------------------------------------


def test_no_more_instances_than_the_setting_are_worked_on_at_once(runtime):
    runtime.settings.fleet_max_connections = 2
    lock, now, peak = threading.Lock(), [0], [0]

    def work(instance, session_id):
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        time.sleep(0.05)
        with lock:
            now[0] -= 1
        return fleet_sessions.Outcome(counts={"n": 1})

    text = fleet_sessions.run_per_instance(
        context(runtime), "sync_accounts", fake_instances(runtime, 6), work
    )
    assert peak[0] == 2
    assert text.startswith("成功 6 个，失败 0 个")


def test_a_slow_or_failing_instance_is_recorded_and_the_others_go_on(runtime):
    def work(instance, session_id):
        if instance.name == "i0":
            raise RuntimeError("boom")
        if instance.name == "i1":
            time.sleep(0.3)
        return fleet_sessions.Outcome(counts={"databases": 3}, details={"who": instance.name})

    text = fleet_sessions.run_per_instance(
        context(runtime), "collect_database_sizes", fake_instances(runtime, 4), work
    )
    assert text.startswith("成功 3 个，失败 1 个")
    rows = session_rows(runtime)
    assert rows["i0"].status == "failed" and rows["i0"].error == "RuntimeError: boom"
    assert rows["i1"].status == "success" and rows["i1"].duration_seconds >= 0.3
    assert rows["i2"].counts == {"databases": 3} and rows["i2"].details == {"who": "i2"}
    with runtime.db.read() as session:
        sync = session.scalar(select(SyncSession))
    assert (sync.status, sync.total, sync.succeeded, sync.failed) == ("partial", 4, 3, 1)
    assert sync.task == "collect_database_sizes" and sync.finished_at is not None and sync.summary == text


def test_a_run_where_every_instance_failed_fails(runtime):
    def work(instance, session_id):
        raise ValueError("no")

    with pytest.raises(FleetTaskFailed, match="成功 0 个，失败 2 个"):
        fleet_sessions.run_per_instance(context(runtime), "sync_accounts", fake_instances(runtime, 2), work)


def test_a_cancelled_run_leaves_the_instances_not_started(runtime):
    text = fleet_sessions.run_per_instance(
        context(runtime, cancel=lambda: True),
        "sync_accounts",
        fake_instances(runtime, 3),
        lambda i, s: fleet_sessions.Outcome(),
    )
    assert "取消 3 个" in text
    assert {r.status for r in session_rows(runtime).values()} == {"cancelled"}


def test_the_summary_speaks_english_when_configured(runtime):
    runtime.settings.language = "en"
    text = fleet_sessions.run_per_instance(
        context(runtime), "sync_accounts", fake_instances(runtime, 1), lambda i, s: fleet_sessions.Outcome()
    )
    assert text.endswith(": 1 succeeded, 0 failed")


def test_inactive_instances_are_left_alone(runtime):
    fake_instances(runtime, 2)
    instances.update(runtime, 1, InstancePatch(is_active=False), ADMIN)
    assert [i.name for i in fleet_sessions.load_instances(runtime)] == ["i1"]


# --- real servers, some unreachable ------------------------------------------------------------


def test_unreachable_instances_fail_in_words_while_the_others_sync(runtime, mariadb, postgres, caplog):
    good_maria = register(runtime, "maria", "mysql", MARIADB)
    register(runtime, "pg", "postgresql", POSTGRES)
    register(runtime, "maria-stopped", "mysql", MARIADB, port=1)
    register(runtime, "maria-bad-password", "mysql", MARIADB, password="Wrong-pass-77")
    register(
        runtime,
        "pg-no-such-user",
        "postgresql",
        POSTGRES,
        username=f"{postgres.prefix}_nobody",
        password="Wrong-pass-88",
    )
    with caplog.at_level(logging.INFO):
        text = sync_accounts.run(context(runtime))
    assert text.startswith("成功 2 个，失败 3 个")
    rows = session_rows(runtime)
    assert rows["maria"].status == rows["pg"].status == "success"
    assert "Can't connect" in rows["maria-stopped"].error and "127.0.0.1:1" in rows["maria-stopped"].error
    assert "Access denied" in rows["maria-bad-password"].error
    assert "does not exist" in rows["pg-no-such-user"].error
    assert "Wrong-pass" not in caplog.text and not any("Wrong-pass" in (r.error or "") for r in rows.values())
    with runtime.db.read() as session:
        status = {i.name: i.last_contact_ok for i in session.scalars(select(Instance))}
        stored = session.scalar(select(InstanceAccount.id).where(InstanceAccount.instance_id == good_maria))
    assert status == {
        "maria": True,
        "pg": True,
        "maria-stopped": False,
        "maria-bad-password": False,
        "pg-no-such-user": False,
    }
    assert stored is not None


def test_an_instance_that_cannot_be_read_keeps_its_accounts(runtime, mariadb):
    mariadb.run(f"CREATE USER `{mariadb.prefix}_kept`@'%'")
    iid = register(runtime, "maria", "mysql", MARIADB)
    sync_accounts.run(context(runtime))
    instances.update(runtime, iid, InstancePatch(port=1), ADMIN)
    with pytest.raises(FleetTaskFailed):
        sync_accounts.run(context(runtime))
    with runtime.db.read() as session:
        rows = session.scalars(select(InstanceAccount).where(InstanceAccount.instance_id == iid)).all()
    assert rows and not any(r.is_deleted for r in rows)
    assert any(r.username == f"{mariadb.prefix}_kept" for r in rows)


# --- secrets -----------------------------------------------------------------------------------


def test_passwords_are_stored_encrypted_and_read_back(runtime):
    iid = register(runtime, "x", "mysql", MARIADB, password="Plain-secret-9")
    with runtime.db.read() as session:
        instance = session.get(Instance, iid)
    assert "Plain-secret-9" not in instance.password_encrypted
    assert instances.target_for(runtime, instance).password == "Plain-secret-9"
    assert crypto.check_secrets(runtime) == 1


def test_a_changed_secret_key_stops_start_up_naming_the_instances(runtime, tmp_path):
    register(runtime, "orders-db", "mysql", MARIADB, password="Plain-secret-9")
    other = make_runtime(tmp_path, secret_key="another-secret")
    try:
        with pytest.raises(ConfigError, match="orders-db"):
            crypto.check_secrets(other)
        with other.db.read() as session:
            instance = session.scalar(select(Instance))
        with pytest.raises(SecretUnreadable):  # never an empty password
            instances.target_for(other, instance)
    finally:
        other.close()


def test_an_encryption_key_from_the_settings_is_used_and_rotates(runtime, tmp_path):
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    first = make_runtime(tmp_path, encryption_key=old)
    register(first, "a", "mysql", MARIADB, password="Plain-secret-9")
    rotated = make_runtime(tmp_path, encryption_key=f"{new},{old}")
    derived = make_runtime(tmp_path)
    try:
        assert crypto.check_secrets(rotated) == 1
        with pytest.raises(SecretUnreadable):
            crypto.check_secrets(derived)
    finally:
        for rt in (first, rotated, derived):
            rt.close()


def test_a_malformed_encryption_key_is_named_but_not_echoed(tmp_path):
    rt = make_runtime(tmp_path, encryption_key="not-a-key-Sekrit")
    try:
        with pytest.raises(ConfigError, match="WHALEFALL_ENCRYPTION_KEY") as info:
            crypto.check_secrets(rt)
        assert "Sekrit" not in str(info.value)
    finally:
        rt.close()


def test_the_encryption_key_can_come_from_a_file(tmp_path):
    from cryptography.fernet import Fernet

    from whalefall.config import load_settings

    key = Fernet.generate_key().decode()
    path = tmp_path / "key"
    path.write_text(key + "\n")
    assert load_settings(environ={"WHALEFALL_ENCRYPTION_KEY_FILE": str(path)}).encryption_key == key


# --- timeouts: the driver's, never a signal ------------------------------------------------------


def test_a_server_that_never_answers_fails_after_the_connect_timeout_in_a_worker_thread(runtime):
    import socket

    from whalefall.tasks import collect_database_sizes

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts the TCP handshake, never says a word
    try:
        port = silent.getsockname()[1]
        runtime.settings.fleet_connect_timeout_seconds = 1
        register(runtime, "hung-maria", "mysql", MARIADB, host="127.0.0.1", port=port)
        register(runtime, "hung-pg", "postgresql", POSTGRES, host="127.0.0.1", port=port)
        started = time.monotonic()
        with pytest.raises(FleetTaskFailed):
            collect_database_sizes.run(context(runtime))
        assert time.monotonic() - started < 5
    finally:
        silent.close()
    rows = session_rows(runtime)
    assert "timed out" in rows["hung-maria"].error.lower() or "timeout" in rows["hung-maria"].error.lower()
    assert "timeout" in rows["hung-pg"].error.lower()


@pytest.mark.parametrize("kind", ["mysql", "postgresql"])
def test_a_statement_past_the_statement_timeout_is_stopped(kind, mariadb, postgres):
    from whalefall.fleet import open_adapter
    from whalefall.fleet.base import Target
    from whalefall.fleet.errors import FleetUnreachable

    url = MARIADB if kind == "mysql" else POSTGRES
    target = Target(
        kind,
        url.host,
        url.port or (3306 if kind == "mysql" else 5432),
        "",
        url.username,
        url.password or "",
        connect_timeout=3,
        statement_timeout=1,
    )
    started = time.monotonic()
    with pytest.raises(FleetUnreachable) as info, open_adapter(target) as adapter:
        adapter.rows("SELECT SLEEP(5)" if kind == "mysql" else "SELECT pg_sleep(5)")
    assert time.monotonic() - started < 4
    # The server's own limit or the driver's read timeout, whichever fires first.
    assert any(
        word in info.value.message.lower()
        for word in ("timeout", "timed out", "max_statement_time", "interrupted")
    )


# --- through the runner, as the default jobs run ---------------------------------------------------


def test_the_default_jobs_run_through_the_runner_with_the_summary_as_result_and_a_log(runtime, mariadb):
    from whalefall.scheduler.oneshot import run_in_foreground
    from whalefall.services import defaults

    defaults.seed(runtime)
    register(runtime, "maria", "mysql", MARIADB)
    register(runtime, "maria-stopped", "mysql", MARIADB, port=1)
    run = run_in_foreground(runtime, "collect_database_sizes")
    assert run.status == "success" and run.return_value.startswith("成功 1 个，失败 1 个")
    assert "maria-stopped failed" in run.log and "Can't connect" in run.log
    with runtime.db.read() as session:
        sync = session.scalar(select(SyncSession))
    assert sync.run_id == run.id and sync.job_id == "collect_database_sizes"
    for job_id in ("calculate_database_size_aggregations", "monitor_partition_health"):
        assert run_in_foreground(runtime, job_id).status == "success"


# --- the product's own database may be SQLite, PostgreSQL or MariaDB -------------------------------


def test_the_fleet_tasks_store_the_same_on_every_product_database(any_runtime, mariadb):
    from whalefall.services import fleet_accounts, fleet_capacity, fleet_sizes
    from whalefall.tasks import calculate_database_size_aggregations, collect_database_sizes

    p = mariadb.prefix
    mariadb.run(
        f"CREATE DATABASE `{p}_Db`",
        f"CREATE USER `{p}_U`@'%'",
        f"CREATE USER `{p}_u`@'%'",
        f"GRANT SELECT ON `{p}_Db`.* TO `{p}_U`@'%'",
    )
    iid = register(any_runtime, "maria", "mysql", MARIADB)
    sync_accounts.run(context(any_runtime))
    collect_database_sizes.run(context(any_runtime))
    day = fleet_sizes.business_date(any_runtime)
    calculate_database_size_aggregations.run(context(any_runtime), date=day.isoformat())
    with any_runtime.db.read() as session:
        accounts, _ = fleet_accounts.page(session, iid, q=p)
        series = fleet_capacity.series(session, period="daily", instance_id=iid, database=f"{p}_Db")
        inventory, _ = fleet_sizes.inventory_page(session, iid, q=p)
    # Names differing only in case are different accounts everywhere (MySQL's are case-sensitive).
    assert sorted(a.username for a in accounts) == [f"{p}_U", f"{p}_u"]
    assert next(a for a in accounts if a.username == f"{p}_U").privileges == {
        "databases": {f"{p}_Db": ["SELECT"]}
    }
    assert series[0]["points"][0]["sample_count"] == 1
    assert [i.database_name for i in inventory] == [f"{p}_Db"]
