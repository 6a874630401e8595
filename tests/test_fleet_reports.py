"""Fleet reports (SPEC §14): sizes on disk, the largest tables, growth and days until full, the
``capacity`` alert, instance facts and "test all" — against the real MariaDB and PostgreSQL, and
replication roles on recorded rows (no replica here)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.fleet_support import (  # noqa: F401  (fixtures)
    ADMIN,
    MARIADB,
    POSTGRES,
    context,
    mariadb_server,
    postgres_server,
    register,
)
from whalefall.domain.alertspec import ChannelCreate
from whalefall.fleet import mysql, oracle, postgresql, sqlserver
from whalefall.fleet.base import seconds
from whalefall.models import AlertDelivery
from whalefall.models.fleet import DatabaseSize, Instance, InstanceSize, TableSize
from whalefall.services import alert_channels, fleet_forecast, fleet_sizes
from whalefall.tasks import collect_database_sizes, sync_accounts

BASE = "/scheduler/api"
MiB = 1024 * 1024
DAY1 = datetime(2026, 11, 2, 4, 0, tzinfo=UTC)  # noon in Shanghai, the default timezone
DAY2 = DAY1 + timedelta(days=1)


def collect(rt, when: datetime) -> str:
    return collect_database_sizes.run(context(rt, scheduled_time=when))


def size_row(rt, iid: int, name: str, when: datetime) -> DatabaseSize:
    with rt.db.read() as session:
        return session.get(DatabaseSize, (iid, name, fleet_sizes.business_date(rt, when)))


# --- sizes on disk, largest tables: MariaDB --------------------------------------------------------


@pytest.mark.mariadb
def test_a_mariadb_size_grows_by_what_was_loaded_without_analyze(runtime, mariadb):
    p = mariadb.prefix
    db = f"{p}_load"
    mariadb.run(
        f"CREATE DATABASE `{db}`",
        f"CREATE TABLE `{db}`.big (id INT PRIMARY KEY AUTO_INCREMENT, pad VARCHAR(2000)) ENGINE=InnoDB",
        f"CREATE TABLE `{db}`.small (id INT PRIMARY KEY, note VARCHAR(100)) ENGINE=InnoDB",
        f"CREATE TABLE `{db}`.log (id INT, msg VARCHAR(1000)) ENGINE=Aria",
        f"INSERT INTO `{db}`.small VALUES (1, 'one')",
    )
    iid = register(runtime, "maria", "mysql", MARIADB)
    collect(runtime, DAY1)
    before = size_row(runtime, iid, db, DAY1).size_bytes

    written = 12_000 * 2000  # 24 MB of row data, no ANALYZE TABLE afterwards
    mariadb.run(
        f"INSERT INTO `{db}`.big (pad) SELECT REPEAT('x', 2000) FROM seq_1_to_12000",
        f"INSERT INTO `{db}`.log SELECT seq, REPEAT('y', 1000) FROM seq_1_to_2000",
    )
    assert collect(runtime, DAY2).startswith("成功 1 个")
    after = size_row(runtime, iid, db, DAY2)
    grown = after.size_bytes - before
    aria_written = 2000 * 1000
    assert written + aria_written <= grown < 1.6 * (written + aria_written), (before, after.size_bytes)
    # The split is the engine's: Aria's data length is there, InnoDB's statistics may lag.
    assert after.data_bytes >= aria_written and after.index_bytes is not None and after.free_bytes is not None

    response = collect_tables(runtime, iid, db)
    big = response["big"]
    assert big.total_bytes >= written and big.engine == "InnoDB"
    assert big.previous_date == fleet_sizes.business_date(runtime, DAY1)
    assert big.total_bytes - big.previous_total_bytes >= written
    assert list(response)[:2] == ["big", "log"]  # largest first


def collect_tables(rt, iid: int, db: str) -> dict[str, TableSize]:
    with rt.db.read() as session:
        rows = fleet_sizes.largest_tables(session, iid, database=db)
    return {r.table_name: r for r in rows}


@pytest.mark.mariadb
def test_only_the_top_n_tables_of_each_database_are_kept_and_a_rerun_keeps_the_growth(runtime, mariadb):
    p = mariadb.prefix
    mariadb.run(f"CREATE DATABASE `{p}_many`")
    for n in range(4):
        mariadb.run(
            f"CREATE TABLE `{p}_many`.t{n} (id INT PRIMARY KEY, pad VARCHAR(500)) ENGINE=Aria",
            f"INSERT INTO `{p}_many`.t{n} SELECT seq, REPEAT('z', 500) FROM seq_1_to_{(n + 1) * 200}",
        )
    runtime.settings.fleet_top_tables = 2
    iid = register(runtime, "maria", "mysql", MARIADB)
    collect(runtime, DAY1)
    mariadb.run(f"INSERT INTO `{p}_many`.t3 SELECT seq, REPEAT('z', 500) FROM seq_1001_to_1400")
    collect(runtime, DAY2)
    collect(runtime, DAY2)  # a re-run the same day keeps the growth against the day before
    tables = collect_tables(runtime, iid, f"{p}_many")
    assert set(tables) == {"t3", "t2"}
    t3 = tables["t3"]
    assert t3.row_estimate == 1200 and t3.previous_total_bytes < t3.total_bytes
    assert t3.previous_date == fleet_sizes.business_date(runtime, DAY1)


@pytest.mark.mariadb
def test_the_collection_records_the_servers_version_uptime_and_role(runtime, mariadb):
    iid = register(runtime, "maria", "mysql", MARIADB)
    collect(runtime, DAY1)
    with runtime.db.read() as session:
        facts = session.get(Instance, iid).server_facts
    assert facts["version"].startswith("MariaDB ") and facts["uptime_seconds"] > 0
    assert facts["role"] == "primary" and facts["replica_lag_seconds"] is None and facts["at"]


# --- PostgreSQL -------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgresql_lists_each_databases_largest_tables_and_its_role(runtime, postgres):
    db = f"{postgres.prefix}_tables"
    postgres.run(f'CREATE DATABASE "{db}"')
    postgres.on(db).run(
        "CREATE TABLE orders AS SELECT g AS id, repeat('x', 400) AS pad FROM generate_series(1, 20000) g",
        "CREATE INDEX orders_id ON orders (id)",
        "ANALYZE orders",  # reltuples, the row estimate; the sizes are the files' whatever the statistics
        "CREATE TABLE tiny (id int)",
    )
    iid = register(runtime, "pg", "postgresql", POSTGRES)
    collect(runtime, DAY1)
    tables = collect_tables(runtime, iid, db)
    orders = tables["public.orders"]
    assert orders.total_bytes >= 20000 * 400 and orders.index_bytes > 0 and orders.row_estimate == 20000
    assert orders.total_bytes >= orders.data_bytes + orders.index_bytes
    assert "public.tiny" in tables and tables["public.tiny"].total_bytes < orders.total_bytes
    assert size_row(runtime, iid, db, DAY1).size_bytes >= orders.total_bytes
    with runtime.db.read() as session:
        facts = session.get(Instance, iid).server_facts
    assert facts["version"].startswith("PostgreSQL") and facts["role"] == "primary"


# --- replication roles and sizes on recorded rows ---------------------------------------------------


def test_a_mysql_replica_is_read_from_show_replica_status_with_its_lag():
    assert mysql.parse_replica_status([]) == ("primary", None)
    mysql8 = {"Source_Host": "10.0.0.1", "Replica_IO_Running": "Yes", "Seconds_Behind_Source": 12}
    assert mysql.parse_replica_status([mysql8]) == ("replica", 12.0)
    stopped = {"Master_Host": "10.0.0.1", "Slave_IO_Running": "No", "Seconds_Behind_Master": None}
    assert mysql.parse_replica_status([stopped]) == ("replica", None)
    two_sources = [
        {"Connection_name": "a", "Seconds_Behind_Master": 3},
        {"Connection_name": "b", "Seconds_Behind_Master": 40},
    ]
    assert mysql.parse_replica_status(two_sources) == ("replica", 40.0)


def test_postgresql_sqlserver_and_oracle_roles_and_lags_from_recorded_rows():
    standby = postgresql.parse_facts("PostgreSQL 16.2", True, 86400, 2.5)
    assert (standby.role, standby.replica_lag_seconds, standby.uptime_seconds) == ("replica", 2.5, 86400)
    assert postgresql.parse_facts("PostgreSQL 16.2", False, 10, None).role == "primary"
    assert sqlserver.parse_facts("SQL Server 2022", 3600, [("SECONDARY", 7)]).replica_lag_seconds == 7.0
    assert sqlserver.parse_facts("SQL Server 2022", 3600, []).role == "primary"
    assert sqlserver.parse_facts("SQL Server 2022", None, None).role is None  # no VIEW SERVER STATE
    physical = oracle.parse_facts("Oracle 19.3", 7200, "PHYSICAL STANDBY", "+00 00:01:05")
    assert (physical.role, physical.replica_lag_seconds) == ("replica", 65.0)
    assert oracle.parse_facts("Oracle 19.3", 7200, "PRIMARY", None).role == "primary"
    assert seconds("+01 02:00:00") == 93600.0 and seconds(timedelta(minutes=2)) == 120.0
    assert seconds("soon") is None


def test_mysql8_tablespaces_count_files_and_other_tables_their_statistics():
    tables = [
        ("shop", "orders", "InnoDB", 1000, 16384, 16384, 0),  # statistics lag: the file is the size
        ("shop", "events", "InnoDB", 50, 16384, 0, 0),  # partitioned: its partitions' files
        ("shop", "in_general", "InnoDB", 5, 65536, 0, 0),  # in a general tablespace: statistics
        ("shop", "archive", "MyISAM", 10, 4096, 2048, 0),
        ("my-app", "t", "InnoDB", 1, 16384, 0, 0),
    ]
    spaces = [
        ("innodb_system", 12582912, 12582912),
        ("shop/orders", 31457280, 31457280),
        ("shop/events#p#p2025", 1048576, 1048576),
        ("shop/events#p#p2026", 2097152, 0),  # allocated unknown: the file size
        ("general_ts", 9999999, 9999999),
        ("my@002dapp/t", 98304, 98304),
    ]
    capacity = mysql.build_capacity(["shop", "my-app", "empty"], tables, spaces, top_tables=2)
    sizes = {d.name: d for d in capacity.databases}
    assert sizes["shop"].size_bytes == 31457280 + 3145728 + 65536 + 6144
    assert (sizes["shop"].data_bytes, sizes["shop"].index_bytes) == (16384 * 2 + 65536 + 4096, 16384 + 2048)
    assert sizes["my-app"].size_bytes == 98304 and sizes["empty"].size_bytes == 0
    assert [t.name for t in capacity.tables if t.database == "shop"] == ["orders", "events"]
    without = mysql.build_capacity(["shop"], tables[:1], None, top_tables=1)
    assert without.databases[0].size_bytes == 32768 and "PROCESS" in without.notes[0]


def test_sqlserver_counts_data_and_log_files_and_oracle_its_free_space():
    sizes = sqlserver.parse_sizes([("orders", 1536 * 8192, 1280 * 8192)])
    assert (sizes[0].size_bytes, sizes[0].data_bytes) == (1536 * 8192, 1280 * 8192)
    ts = oracle.parse_sizes([("USERS", 5242880, None, None, 1048576), ("TEMP", 2097152, None, None, None)])
    assert (ts[0].size_bytes, ts[0].free_bytes, ts[1].free_bytes) == (5242880, 1048576, None)


def test_sqlserver_and_oracle_largest_tables_from_recorded_rows():
    mssql = sqlserver.build_tables("orders", [("dbo.lines", 10485760, 8388608, 1048576, 120000)])
    assert [(t.database, t.name, t.total_bytes, t.index_bytes, t.rows) for t in mssql] == [
        ("orders", "dbo.lines", 10485760, 1048576, 120000)
    ]
    ora = oracle.build_tables([("USERS", "APP.ORDERS", 5242880, 1000), ("USERS", "APP.NEW", 65536, None)])
    assert [(t.database, t.name, t.total_bytes, t.rows) for t in ora] == [
        ("USERS", "APP.ORDERS", 5242880, 1000),
        ("USERS", "APP.NEW", 65536, None),
    ]


# --- growth, forecast and the capacity alert -----------------------------------------------------------

TODAY = date(2026, 11, 30)


def series(rt, iid: int, days: int, start_bytes: int, per_day: int, *, database: str = "app") -> None:
    """Daily sizes ending TODAY, growing by ``per_day``: written by the test, dated explicitly."""
    with rt.db.begin() as session:
        for n in range(days):
            day = TODAY - timedelta(days=days - 1 - n)
            size = start_bytes + n * per_day
            at = datetime.combine(day, datetime.min.time(), UTC)
            session.add(
                InstanceSize(
                    instance_id=iid, collected_date=day, total_bytes=size, database_count=1, collected_at=at
                )
            )
            session.add(
                DatabaseSize(
                    instance_id=iid,
                    database_name=database,
                    collected_date=day,
                    size_bytes=size,
                    collected_at=at,
                )
            )


def fake_instance(rt, name: str, capacity: int | None) -> int:
    return register(rt, name, "mysql", MARIADB, host="192.0.2.1", disk_capacity_bytes=capacity)


def test_days_until_full_is_a_straight_line_through_the_last_thirty_days(runtime):
    iid = fake_instance(runtime, "growing", 1000 * MiB)
    series(runtime, iid, 45, 100 * MiB, 10 * MiB)  # 15 days older than the window: left out
    with runtime.db.read() as session:
        f = fleet_forecast.instance_forecast(session, session.get(Instance, iid), TODAY, warn_days=30)
    used = 100 * MiB + 44 * 10 * MiB
    assert (f["used_bytes"], f["samples"], f["growth_per_day_bytes"]) == (used, 30, 10 * MiB)
    assert f["days_until_full"] == 46.0 and f["full_date"] == "2027-01-15" and not f["warning"]
    assert f["databases"][0]["database"] == "app" and f["databases"][0]["growth_per_day_bytes"] == 10 * MiB
    with runtime.db.read() as session:
        soon = fleet_forecast.instance_forecast(session, session.get(Instance, iid), TODAY, warn_days=60)
    assert soon["warning"]


def test_no_capacity_no_growth_or_a_full_disk_are_told_apart():
    assert fleet_forecast.days_until_full(500, None, 10.0) is None
    assert fleet_forecast.days_until_full(500, 1000, 0.0) is None
    assert fleet_forecast.days_until_full(500, 1000, -3.0) is None
    assert fleet_forecast.days_until_full(1000, 1000, 5.0) == 0.0
    assert fleet_forecast.slope_per_day([(TODAY, 5)]) is None
    shrinking = [(TODAY - timedelta(days=2), 300), (TODAY - timedelta(days=1), 200), (TODAY, 100)]
    assert fleet_forecast.slope_per_day(shrinking) == -100.0


@pytest.mark.mariadb
def test_a_disk_forecast_to_fill_soon_raises_the_capacity_alert_once_a_day(runtime, mariadb):
    alert_channels.create(runtime, ChannelCreate(name="ops", url="json://127.0.0.1:9/a"), ADMIN)
    p = mariadb.prefix
    mariadb.run(
        f"CREATE DATABASE `{p}_full`",
        f"CREATE TABLE `{p}_full`.t (id INT, pad VARCHAR(1000)) ENGINE=Aria",
        f"INSERT INTO `{p}_full`.t SELECT seq, REPEAT('f', 1000) FROM seq_1_to_1000",
    )
    iid = register(runtime, "maria", "mysql", mariadb.scoped())
    # Yesterday and the day before, as written here; today's size comes from the real server.
    today = fleet_sizes.business_date(runtime, DAY2)
    with runtime.db.begin() as session:
        for back, total in ((2, 0), (1, 1)):
            day = today - timedelta(days=back)
            session.add(
                InstanceSize(
                    instance_id=iid,
                    collected_date=day,
                    total_bytes=total,
                    database_count=1,
                    collected_at=DAY1,
                )
            )
    collect(runtime, DAY2)
    with runtime.db.read() as session:
        used = session.get(InstanceSize, (iid, today)).total_bytes
    # A disk with 10 days' room at the fitted growth: below the 30-day setting.
    with runtime.db.begin() as session:
        f = fleet_forecast.instance_forecast(session, session.get(Instance, iid), today, warn_days=30)
        session.get(Instance, iid).disk_capacity_bytes = used + 10 * f["growth_per_day_bytes"]
    collect(runtime, DAY2)
    collect(runtime, DAY2)
    with runtime.db.read() as session:
        sent = session.scalars(select(AlertDelivery).where(AlertDelivery.event == "capacity")).all()
    assert len(sent) == 1 and sent[0].channel == "ops" and sent[0].status == "pending"
    with runtime.db.read() as session:
        names = set(
            session.scalars(select(DatabaseSize.database_name).where(DatabaseSize.instance_id == iid))
        )
    assert names == {f"{p}_full"}  # only its own: what other tests do meanwhile is not counted
    assert "maria" in sent[0].title and "10.0" in sent[0].body and used > 1_000_000


# --- the API ----------------------------------------------------------------------------------------


@pytest.mark.mariadb
def test_the_api_sets_a_disk_capacity_and_shows_forecasts_tables_facts_and_failures(
    client, bearer, login, runtime, mariadb
):
    admin, viewer = bearer("admin"), bearer("viewer")
    made = client.post(
        f"{BASE}/instances",
        json={
            "name": "maria",
            "db_type": "mysql",
            "host": MARIADB.host,
            "port": MARIADB.port,
            "username": MARIADB.username,
            "password": MARIADB.password or "",
            "disk_capacity_bytes": 10 * 2**30,
        },
        headers=admin,
    ).get_json()["data"]
    assert made["disk_capacity_bytes"] == 10 * 2**30
    wrong = client.post(
        f"{BASE}/instances",
        json={"name": "wrong-port", "db_type": "mysql", "host": "127.0.0.1", "port": 1, "username": "x"},
        headers=admin,
    ).get_json()["data"]
    bad = client.put(f"{BASE}/instances/{made['id']}", json={"disk_capacity_bytes": 0}, headers=admin)
    assert bad.status_code == 400 and "disk_capacity_bytes" in bad.get_json()["errors"]

    collect(runtime, DAY1)  # partial: the wrong port fails, the real server is measured
    listed = {
        i["name"]: i for i in client.get(f"{BASE}/instances", headers=viewer).get_json()["data"]["instances"]
    }
    assert listed["wrong-port"]["failed_tasks"] == ["collect_database_sizes"]
    assert "1" in listed["wrong-port"]["last_outcomes"]["collect_database_sizes"]["error"]
    assert listed["maria"]["failed_tasks"] == [] and listed["maria"]["facts"]["role"] == "primary"

    forecast = client.get(f"{BASE}/capacity/forecast?instance_id={made['id']}", headers=viewer).get_json()[
        "data"
    ]
    assert forecast["warn_days"] == 30 and forecast["instances"][0]["disk_capacity_bytes"] == 10 * 2**30
    dbs = client.get(f"{BASE}/instances/{made['id']}/databases", headers=viewer).get_json()["data"][
        "databases"
    ]
    assert dbs and all(d["data_bytes"] is not None and d["free_bytes"] is not None for d in dbs)
    tables = client.get(f"{BASE}/instances/{made['id']}/tables?database=mysql", headers=viewer)
    assert tables.status_code == 200
    assert client.get(f"{BASE}/instances/99999/tables", headers=viewer).status_code == 404
    assert client.get(f"{BASE}/capacity/forecast?instance_id=x", headers=viewer).status_code == 400

    cleared = client.put(f"{BASE}/instances/{made['id']}", json={"disk_capacity_bytes": None}, headers=admin)
    assert cleared.get_json()["data"]["disk_capacity_bytes"] is None

    assert client.post(f"{BASE}/instances/test-all", headers=viewer).status_code == 403
    tested = client.post(f"{BASE}/instances/test-all", headers=bearer("operator")).get_json()
    by_name = {r["name"]: r for r in tested["data"]["results"]}
    assert by_name["maria"]["connected"] and by_name["maria"]["facts"]["uptime_seconds"] > 0
    assert not by_name["wrong-port"]["connected"] and tested["data"]["failed"] == 1

    # The wrong port's page says its last account sync failed, not just "no accounts yet".
    sync_accounts.run(context(runtime, job_id="sync"))
    login(client, "viewer")
    page = client.get(f"/scheduler/instances/{wrong['id']}").get_data(as_text=True)
    assert "还没有同步到账户：上次同步失败了" in page and "上次账户同步失败" in page


def test_the_last_outcome_of_each_fleet_task_is_found_on_every_product_database(any_runtime):
    from whalefall.errors import FleetTaskFailed
    from whalefall.fleet.errors import FleetUnreachable
    from whalefall.services import fleet_sessions, instances

    rt = any_runtime
    iid = fake_instance(rt, "flaky", None)
    only = [i for i in fleet_sessions.load_instances(rt) if i.id == iid]

    def ok(instance, session_id):
        return fleet_sessions.Outcome()

    def refused(instance, session_id):
        raise FleetUnreachable("mysql 192.0.2.1:3306: connection refused")

    fleet_sessions.run_per_instance(context(rt), "collect_database_sizes", only, ok)
    with pytest.raises(FleetTaskFailed, match="失败 1 个"):  # every instance failed: the run fails
        fleet_sessions.run_per_instance(context(rt), "collect_database_sizes", only, refused)
    fleet_sessions.run_per_instance(context(rt), "sync_accounts", only, ok)
    with rt.db.read() as session:
        summary = instances.summaries(session, [iid], "Asia/Shanghai")[iid]
    assert summary["failed_tasks"] == ["collect_database_sizes"]
    assert summary["last_outcomes"]["collect_database_sizes"]["error"].endswith("connection refused")
    assert summary["last_outcomes"]["sync_accounts"]["status"] == "success"
