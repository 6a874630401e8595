"""``sql_query`` (template): one read-only query on a registered instance, its result kept with the run.

Read-only three ways over: the transaction (PostgreSQL ``READ ONLY`` through a server-side
cursor, which also takes one ``SELECT``/``VALUES`` statement only; MySQL/MariaDB ``SET SESSION
TRANSACTION READ ONLY`` then ``START TRANSACTION READ ONLY``, one statement per call), a statement
timeout (the server's own limit), and the instance account's privileges, which stay the real
limit (a read-only login is the recommended one). At most ``max_rows`` rows are read; the first
``preview_rows`` go into the run's result and all of them into a CSV kept in the data dir
(``services.run_results``), downloadable as ``GET /scheduler/api/runs/<id>/result.csv``.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from whalefall.domain.base import Strict
from whalefall.fleet import open_adapter
from whalefall.services import job_credentials, run_results
from whalefall.tasks.params import DatabaseName, TemplateInstance
from whalefall.tasks.registry import TaskContext

CURSOR_NAME = "whalefall_sql_query"


class Params(Strict):
    instance_id: TemplateInstance
    sql: str = Field(min_length=1, max_length=100_000, description="one read-only query (SELECT …)")
    database: DatabaseName = None
    max_rows: int = Field(1000, ge=1, le=100_000, description="rows read at most")
    preview_rows: int = Field(20, ge=0, le=200, description="rows shown in the run's result")
    timeout_seconds: int = Field(30, ge=1, le=3600, description="statement timeout")

    @field_validator("sql")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip() or "\x00" in value:
            raise PydanticCustomError("not_blank", "must not be blank")
        return value


def cell(value: Any) -> Any:
    """A value as JSON and CSV carry it: numbers, text and booleans as they are, the rest as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | timedelta):
        return str(value)
    return str(value)


def _postgresql(conn: Any, sql: str, max_rows: int) -> tuple[list[str], list[tuple]]:
    conn.autocommit = False
    conn.read_only = True  # BEGIN READ ONLY
    cur = conn.cursor(name=CURSOR_NAME)  # DECLARE … CURSOR FOR <one SELECT/VALUES>
    cur.execute(sql)
    columns = [d.name for d in cur.description or []]
    return columns, cur.fetchmany(max_rows + 1)


def _mysql(conn: Any, sql: str, max_rows: int) -> tuple[list[str], list[tuple]]:
    import pymysql.cursors

    cur = conn.cursor(pymysql.cursors.SSCursor)  # unbuffered: rows past the limit are never read
    cur.execute("SET SESSION TRANSACTION READ ONLY")
    cur.execute("START TRANSACTION READ ONLY")
    cur.execute(sql)  # one statement: the connection does not enable multi-statements
    columns = [d[0] for d in cur.description or []]
    return columns, list(cur.fetchmany(max_rows + 1))


def query(target: Any, sql: str, max_rows: int) -> tuple[list[str], list[tuple], bool]:
    """(columns, at most ``max_rows`` rows, whether there were more). Raises FleetUnreachable in words.

    Leaving the adapter closes the connection, which ends the read-only transaction and drops
    any rows not read.
    """
    read = _postgresql if target.db_type == "postgresql" else _mysql
    with open_adapter(target) as adapter:
        columns, rows = read(adapter.conn, sql, max_rows)
    return columns, [tuple(r) for r in rows[:max_rows]], len(rows) > max_rows


def run(
    ctx: TaskContext,
    instance_id: int,
    sql: str,
    database: str | None = None,
    max_rows: int = 1000,
    preview_rows: int = 20,
    timeout_seconds: int = 30,
) -> dict[str, Any]:
    runtime = ctx.runtime
    target = job_credentials.target_for_task(
        runtime, ctx.job_id, ctx.run_id, instance_id, statement_timeout=timeout_seconds
    )
    if database:
        target = replace(target, database=database)
    columns, rows, truncated = query(target, sql, max_rows)
    path = run_results.csv_path(runtime, ctx.run_id)
    with path.open("w", newline="", encoding="utf-8-sig") as f:  # the BOM lets spreadsheets read UTF-8
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows([("" if v is None else cell(v)) for v in row] for row in rows)
    ctx.logger.info(
        "%d row(s)%s, %d column(s); CSV kept", len(rows), " (truncated)" if truncated else "", len(columns)
    )
    return {
        "instance_id": instance_id,
        "database": target.database,
        "columns": columns,
        "row_count": len(rows),
        "truncated": truncated,
        "rows": [[cell(v) for v in row] for row in rows[:preview_rows]],
        "csv": f"/scheduler/api/runs/{ctx.run_id}/result.csv",
    }
