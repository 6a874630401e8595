"""Credentials for jobs: a code job connects to a registered instance by name, never by password.

Against the local MariaDB and PostgreSQL: a user with a password is created, registered as an
instance, and a sandboxed code job connects with ``connect(name)``; the password appears nowhere
in the job, its run or its log, and each hand-over and each connection is audited.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from tests.fleet_support import mariadb_server, postgres_server, register  # noqa: F401 (fixtures)
from tests.test_scheduler import ADMIN, make_job, runs_of, wait_until
from whalefall.domain.jobspec import JobPatch
from whalefall.errors import InvalidInput
from whalefall.models import AuditEntry
from whalefall.scheduler.service import SchedulerService
from whalefall.services import instances
from whalefall.services import jobs as job_service
from whalefall.services import runs as run_service

PASSWORD = "Cr3dential-For-Jobs!"
WHO_AM_I = """
def execute_task():
    conn = connect(params["instance"])
    try:
        cur = conn.cursor()
        cur.execute(params["query"])
        return {"who": str(cur.fetchone()[0]), "declared": context["instances"]}
    finally:
        conn.close()
"""


def run_job(runtime, job_id: str):
    service = SchedulerService(runtime)
    service.start(thread=False)
    try:
        service.step()
        run_service.enqueue(runtime, job_id, source=run_service.TriggerSource.MANUAL, actor=ADMIN)
        return wait_until(
            lambda: [r for r in runs_of(runtime, job_id) if r.status not in ("queued", "running")],
            service,
            timeout=30,
        )[0]
    finally:
        service.stop(wait_seconds=5)


def audit_actions(runtime) -> list[tuple[str, dict]]:
    with runtime.db.read() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action.like("instance.credentials%")))
        return [(row.action, row.detail) for row in rows]


@pytest.mark.mariadb
def test_a_code_job_queries_a_registered_mariadb_without_its_password_in_the_code(runtime, mariadb):
    user = f"{mariadb.prefix}_job"
    mariadb.run(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD}'")
    register(runtime, "orders-primary", "mysql", mariadb.url.set(username=user, password=PASSWORD))
    make_job(
        runtime,
        "who",
        code=WHO_AM_I,
        function=None,
        uses_instances=["orders-primary"],
        params={"instance": "orders-primary", "query": "SELECT CURRENT_USER()"},
    )
    run = run_job(runtime, "who")
    assert run.status == "success", (run.error_message, run.log)
    assert user in run.return_value and "orders-primary" in run.return_value
    assert PASSWORD not in (run.return_value + (run.log or ""))
    actions = audit_actions(runtime)
    assert [a for a, _ in actions] == ["instance.credentials_issued", "instance.credentials_used"]
    assert all(d["job_id"] == "who" and d["run_id"] == run.id for _, d in actions)
    assert all(PASSWORD not in str(d) for _, d in actions)


@pytest.mark.postgres
def test_a_code_job_queries_a_registered_postgresql(runtime, postgres):
    role = f"{postgres.prefix}_job"
    postgres.run(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{PASSWORD}'")
    register(runtime, "reports", "postgresql", postgres.url.set(username=role, password=PASSWORD))
    make_job(
        runtime,
        "pg-who",
        code=WHO_AM_I,
        function=None,
        uses_instances=["reports"],
        params={"instance": "reports", "query": "SELECT current_user"},
    )
    run = run_job(runtime, "pg-who")
    assert run.status == "success", (run.error_message, run.log)
    assert role in run.return_value


def test_connect_refuses_an_instance_the_job_did_not_declare(runtime):
    code = "def execute_task():\n    connect('somebody-elses')\n"
    make_job(runtime, "sneaky", code=code, function=None)
    run = run_job(runtime, "sneaky")
    assert run.status == "failed"
    assert "not in this job's uses_instances" in run.error_message
    assert audit_actions(runtime) == []


def test_unknown_instances_are_refused_naming_them(runtime):
    with pytest.raises(InvalidInput) as caught:
        make_job(runtime, "c", code="def execute_task():\n    pass\n", function=None, uses_instances=["nope"])
    assert caught.value.field == "uses_instances" and "nope" in str(caught.value)


NOWHERE = sa.engine.make_url("mysql+pymysql://u:p@127.0.0.1:1/")


def test_a_builtin_job_cannot_declare_instances(runtime):
    register(runtime, "fake", "mysql", NOWHERE)
    with pytest.raises(InvalidInput) as caught:
        make_job(runtime, "b", uses_instances=["fake"])
    assert caught.value.field == "uses_instances"
    job = make_job(
        runtime, "c", code="def execute_task():\n    pass\n", function=None, uses_instances=["fake"]
    )
    assert job.uses_instances == ["fake"]
    job = job_service.update(runtime, "c", JobPatch(uses_instances=[]), ADMIN)
    assert job.uses_instances == []


def test_a_deleted_instance_fails_the_run_saying_which(runtime):
    instance_id = register(runtime, "gone", "mysql", NOWHERE)
    make_job(
        runtime, "orphan", code="def execute_task():\n    pass\n", function=None, uses_instances=["gone"]
    )
    instances.delete_instance(runtime, instance_id, ADMIN)
    run = run_job(runtime, "orphan")
    assert run.status == "failed" and "'gone'" in run.error_message
