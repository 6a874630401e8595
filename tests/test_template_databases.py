"""Templates against the local PostgreSQL and MariaDB: ``database_backup`` and ``sql_query``, for real.

A backup is taken as a user with an awkward password (quotes, a backslash, ``#``, a space), the
dump is restored into another scratch database and the table compared row for row. A query runs
read-only: writes of every shape are refused, and the whole result is kept as a CSV.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import subprocess
import time

import pytest

from tests.fleet_support import context, mariadb_server, postgres_server, register  # noqa: F401 (fixtures)
from tests.test_job_credentials import audit_actions, run_job
from tests.test_scheduler import ADMIN
from whalefall.domain.templatespec import TemplateJobCreate
from whalefall.errors import TaskFailed
from whalefall.fleet.errors import FleetUnreachable
from whalefall.services import run_results
from whalefall.services import templates as template_service
from whalefall.tasks import database_backup, sql_query

PASSWORD = "Bk\"up\\#1 x;'q"  # Bk"up\#1 x;'q
ROWS = [(1, "alpha", None), (2, "贝塔", "2026-12-07"), (3, 'it\'s, "quoted"', "2026-01-01")]


def sql_literal(text: str, *, backslashes: bool) -> str:
    escaped = text.replace("'", "''")
    return "'" + (escaped.replace("\\", "\\\\") if backslashes else escaped) + "'"


@pytest.fixture
def pg_source(runtime, postgres):
    """A scratch PostgreSQL database with table ``t``, owned by a user with a password; registered."""
    user, source = f"{postgres.prefix}_bk", f"{postgres.prefix}_src"
    postgres.run(
        f'CREATE ROLE "{user}" LOGIN PASSWORD {sql_literal(PASSWORD, backslashes=False)}',
        f'CREATE DATABASE "{source}" OWNER "{user}"',
    )
    db = postgres.on(source)
    db.run("CREATE TABLE t (id int PRIMARY KEY, name text, day date)", f'ALTER TABLE t OWNER TO "{user}"')
    for row in ROWS:
        db.run("INSERT INTO t VALUES ({}, {}, {})".format(*(sql_value(v) for v in row)))
    db.engine.dispose()
    instance_id = register(
        runtime, "pg-main", "postgresql", postgres.url.set(username=user, password=PASSWORD), database=source
    )
    return instance_id, source


@pytest.fixture
def maria_source(runtime, mariadb):
    user, source = f"{mariadb.prefix}_bk", f"{mariadb.prefix}_src"
    mariadb.run(
        f"CREATE DATABASE `{source}` CHARACTER SET utf8mb4",
        f"CREATE USER '{user}'@'%' IDENTIFIED BY {sql_literal(PASSWORD, backslashes=True)}",
        f"GRANT ALL ON `{source}`.* TO '{user}'@'%'",
        f"CREATE TABLE `{source}`.t (id int PRIMARY KEY, name varchar(100), day date)",
    )
    for row in ROWS:
        mariadb.run(f"INSERT INTO `{source}`.t VALUES ({', '.join(sql_value(v, mysql=True) for v in row)})")
    instance_id = register(
        runtime, "maria-main", "mysql", mariadb.url.set(username=user, password=PASSWORD), database=source
    )
    return instance_id, source


def sql_value(value, mysql: bool = False) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return sql_literal(value, backslashes=mysql)


def backup(runtime, job_id: str, instance_id: int, directory, **params):
    checked = database_backup.Params.model_validate(
        {"instance_id": instance_id, "directory": str(directory), **params},
        context={"data_dir": runtime.settings.data_dir},
    )
    return database_backup.run(context(runtime, job_id), **checked.model_dump())


def table_rows(server, database: str) -> list[tuple]:
    db = server.on(database)
    try:
        return [
            tuple(None if v is None else str(v) for v in r)
            for r in db.rows("SELECT id, name, day FROM t ORDER BY id")
        ]
    finally:
        db.engine.dispose()


def expected_rows() -> list[tuple]:
    return [tuple(None if v is None else str(v) for v in row) for row in ROWS]


def check_dump(result, directory) -> bytes:
    path = directory / os.path.basename(result["path"])
    assert path.is_file() and result["size_bytes"] == path.stat().st_size > 0
    assert (path.stat().st_mode & 0o777) == 0o600
    assert result["duration_seconds"] >= 0 and result["dump_bytes"] > result["size_bytes"] / 10
    dump = gzip.decompress(path.read_bytes())
    assert PASSWORD.encode() not in dump
    return dump


# --- database_backup -------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_postgresql_backup_restores_into_another_database_with_the_same_rows(
    runtime, postgres, pg_source, tmp_path
):
    instance_id, source = pg_source
    dumps = tmp_path / "dumps"
    result = backup(runtime, "pg-nightly", instance_id, dumps)
    assert result["tool"] == "pg_dump" and result["database"] == source
    dump = check_dump(result, dumps)
    assert b"-- PostgreSQL database dump complete" in dump[-200:]

    target = f"{postgres.prefix}_restored"
    postgres.run(f'CREATE DATABASE "{target}"')
    url = postgres.url
    subprocess.run(
        [
            "psql",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            url.host,
            "-p",
            str(url.port),
            "-U",
            url.username,
            "-d",
            target,
        ],
        input=dump,
        check=True,
        capture_output=True,
        env={**os.environ, "PGPASSWORD": url.password or ""},
    )
    assert table_rows(postgres, target) == table_rows(postgres, source) == expected_rows()
    assert [a for a, _ in audit_actions(runtime)] == ["instance.credentials_issued"]


@pytest.mark.mariadb
def test_a_nightly_mariadb_backup_job_from_its_template_restores_into_another_database(
    runtime, mariadb, maria_source, tmp_path
):
    instance_id, source = maria_source
    dumps = tmp_path / "dumps"
    body = {
        "id": "maria-nightly",
        "name": "nightly",
        "trigger_type": "cron",
        "cron_expression": "0 2 * * *",
        "params": {"instance_id": instance_id, "directory": str(dumps), "keep_files": 7},
    }
    template_service.create_job(runtime, "database_backup", TemplateJobCreate.model_validate(body), ADMIN)
    run = run_job(runtime, "maria-nightly")
    assert run.status == "success", (run.error_message, run.log)
    assert PASSWORD not in run.log and PASSWORD not in run.return_value
    result = json.loads(run.return_value)  # the dump's size, path and duration, in the run
    assert result["tool"] in ("mariadb-dump", "mysqldump")
    dump = check_dump(result, dumps)
    assert b"-- Dump completed" in dump[-200:]

    target = f"{mariadb.prefix}_restored"
    mariadb.run(f"CREATE DATABASE `{target}` CHARACTER SET utf8mb4")
    url = mariadb.url
    client = (
        "mariadb" if subprocess.run(["which", "mariadb"], capture_output=True).returncode == 0 else "mysql"
    )
    subprocess.run(
        [client, "-h", url.host, "-P", str(url.port), "-u", url.username, target],
        input=dump,
        check=True,
        capture_output=True,
        env={**os.environ, "MYSQL_PWD": url.password or ""},
    )
    assert table_rows(mariadb, target) == table_rows(mariadb, source) == expected_rows()


def test_the_password_reaches_the_dump_tool_only_through_its_environment_or_a_0600_file(tmp_path):
    from whalefall.fleet.base import Target

    for db_type in ("postgresql", "mysql"):
        target = Target(db_type, "db.example", 5432, "sales", "dba", PASSWORD)
        argv, env = database_backup.command("/usr/bin/dump", target, tmp_path)
        assert all(PASSWORD not in part for part in argv)
        if db_type == "postgresql":
            assert env["PGPASSWORD"] == PASSWORD and env["PGDATABASE"] == "sales"
        else:
            option_file = tmp_path / "client.cnf"
            assert argv[1] == f"--defaults-extra-file={option_file}"
            assert (option_file.stat().st_mode & 0o777) == 0o600
            assert 'password="Bk\\"up\\\\#1 x;\'q"' in option_file.read_text()


@pytest.mark.postgres
def test_retention_removes_this_jobs_old_dumps_and_nothing_else(runtime, pg_source, tmp_path):
    instance_id, _ = pg_source
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    old = time.time() - 30 * 86400
    names = [
        "pg-nightly-20260101T020000Z.sql.gz",
        "pg-nightly-20261201T020000Z.sql.gz",
        "pg-nightly-20261202T020000Z.sql.gz",
        "other-job-20260101T020000Z.sql.gz",
        "notes.txt",
    ]
    for name in names:
        (dumps / name).write_bytes(b"x")
    os.utime(dumps / names[0], (old, old))
    os.utime(dumps / names[3], (old, old))
    result = backup(runtime, "pg-nightly", instance_id, dumps, keep_days=7, keep_files=2)
    assert sorted(result["removed"]) == [names[0], names[1]]
    assert sorted(p.name for p in dumps.iterdir()) == sorted(
        [os.path.basename(result["path"]), names[2], names[3], names[4]]
    )


@pytest.mark.postgres
def test_a_failed_dump_fails_the_run_and_leaves_no_file(runtime, postgres, pg_source, tmp_path):
    instance_id, _ = pg_source
    dumps = tmp_path / "dumps"
    with pytest.raises(TaskFailed, match="pg_dump exited") as caught:
        backup(runtime, "pg-nightly", instance_id, dumps, database=f"{postgres.prefix}_missing")
    assert PASSWORD not in str(caught.value)
    assert list(dumps.iterdir()) == []


def test_a_dump_without_its_trailer_is_refused(tmp_path):
    path = tmp_path / "cut.sql.gz"
    path.write_bytes(gzip.compress(b"-- PostgreSQL database dump\nCREATE TABLE t (id int);\n"))
    with pytest.raises(TaskFailed, match="incomplete"):
        database_backup.verify(path, database_backup.TRAILERS["postgresql"])
    path.write_bytes(gzip.compress(b""))
    with pytest.raises(TaskFailed, match="empty"):
        database_backup.verify(path, database_backup.TRAILERS["postgresql"])


# --- sql_query -------------------------------------------------------------------------------


def query(runtime, instance_id: int, sql: str, run_id: int = 7, **params):
    checked = sql_query.Params.model_validate({"instance_id": instance_id, "sql": sql, **params})
    ctx = context(runtime, "report")
    ctx.run_id = run_id
    return sql_query.run(ctx, **checked.model_dump())


def csv_rows(runtime, run_id: int) -> list[list[str]]:
    text = run_results.existing_csv(runtime, run_id).read_text(encoding="utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.postgres
def test_a_postgresql_query_keeps_the_first_rows_and_the_whole_result_as_csv(runtime, pg_source):
    instance_id, _ = pg_source
    result = query(
        runtime, instance_id, "SELECT id, name, day FROM t ORDER BY id", preview_rows=2, max_rows=3
    )
    assert result["columns"] == ["id", "name", "day"] and result["row_count"] == 3
    assert result["rows"] == [[1, "alpha", None], [2, "贝塔", "2026-12-07"]] and not result["truncated"]
    assert csv_rows(runtime, 7) == [
        ["id", "name", "day"],
        ["1", "alpha", ""],
        ["2", "贝塔", "2026-12-07"],
        ["3", 'it\'s, "quoted"', "2026-01-01"],
    ]
    assert query(runtime, instance_id, "SELECT generate_series(1, 50)", max_rows=10)["truncated"] is True


@pytest.mark.mariadb
def test_a_mariadb_query_keeps_its_result_as_csv(runtime, maria_source):
    instance_id, _ = maria_source
    result = query(runtime, instance_id, "SELECT id, name, day FROM t ORDER BY id", max_rows=2)
    assert result["row_count"] == 2 and result["truncated"] is True
    assert csv_rows(runtime, 7)[1:] == [["1", "alpha", ""], ["2", "贝塔", "2026-12-07"]]


WRITES = {
    "postgres": [
        "INSERT INTO t VALUES (9, 'x', NULL)",
        "DELETE FROM t",
        "WITH gone AS (DELETE FROM t RETURNING id) SELECT * FROM gone",
        "SELECT 1; DELETE FROM t",
        "COMMIT; DELETE FROM t",
        "DROP TABLE t",
        "CREATE TABLE t2 (id int)",
    ],
    "mariadb": [
        "INSERT INTO t VALUES (9, 'x', NULL)",
        "UPDATE t SET name = 'changed'",
        "DROP TABLE t",
        "CREATE TABLE t2 (id int)",
        "SELECT 1; DELETE FROM t",
        "COMMIT",  # alone it ends nothing useful: the next statement is never the user's
    ],
}
SOURCES = {"postgres": "pg_source", "mariadb": "maria_source"}


@pytest.mark.parametrize(
    "engine",
    [
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_a_query_refuses_every_kind_of_write(runtime, request, engine):
    instance_id, source = request.getfixturevalue(SOURCES[engine])
    server = request.getfixturevalue(engine)
    for sql in WRITES[engine]:
        if sql == "COMMIT":
            query(runtime, instance_id, sql)  # harmless: no rows, nothing written
            continue
        with pytest.raises(FleetUnreachable):
            query(runtime, instance_id, sql)
        assert table_rows(server, source) == expected_rows(), sql


@pytest.mark.postgres
def test_a_query_job_made_from_its_template_runs_and_its_csv_downloads(runtime, client, bearer, pg_source):
    instance_id, _ = pg_source
    data = TemplateJobCreate.model_validate(
        {
            "id": "report",
            "name": "report",
            "trigger_type": "interval",
            "interval_hours": 1,
            "params": {"instance_id": instance_id, "sql": "SELECT id, name FROM t ORDER BY id"},
        }
    )
    template_service.create_job(runtime, "sql_query", data, ADMIN)
    run = run_job(runtime, "report")
    assert run.status == "success", (run.error_message, run.log)
    answer = client.get(f"/scheduler/api/runs/{run.id}/result.csv", headers=bearer("viewer"))
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert answer.get_data().decode("utf-8-sig").splitlines()[:2] == ["id,name", "1,alpha"]
    other = client.get(f"/scheduler/api/runs/{run.id + 1000}/result.csv", headers=bearer("viewer"))
    assert other.status_code == 404


def test_a_cancelled_dump_is_killed_even_while_it_writes_nothing(tmp_path):
    # A stand-in tool that hangs without output, as pg_dump does while it waits for a lock.
    code, _ = database_backup.stream_dump(
        ["sleep", "30"], database_backup.base_env(), tmp_path / "x.partial", lambda: True
    )
    assert code == -9
