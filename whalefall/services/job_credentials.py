"""Credentials for jobs (SPEC §5): what a code or shell run gets for the instances it declares.

A job lists registered instances by name in ``uses_instances`` (admins only). When — and only
when — one of its runs starts, the runner asks :func:`issue` for their connection details with the
passwords decrypted; they travel to the sandboxed launcher on its stdin, never on a command line,
in an environment the server keeps, or in the job's source. Each hand-over, and each connection a
code job opens with ``connect(name)``, is an audit row naming the instance, the job and the run.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select

from whalefall.fleet import crypto
from whalefall.fleet.base import Target
from whalefall.fleet.errors import SecretUnreadable
from whalefall.models import Job
from whalefall.models.fleet import Instance
from whalefall.runtime import Runtime
from whalefall.services import audit
from whalefall.services import instances as instance_service
from whalefall.services.audit import Actor


class CredentialsUnavailable(LookupError):
    """An instance the job declares is gone, or its password cannot be decrypted; says which."""


def issue(runtime: Runtime, job: Job, run_id: int) -> dict[str, dict[str, Any]]:
    """name → {db_type, host, port, database, user, password} for the job's instances; audited.

    Raises ``CredentialsUnavailable`` naming the first instance that cannot be handed over.
    """
    names = list(job.uses_instances or [])
    if not names:
        return {}
    issued: dict[str, dict[str, Any]] = {}
    with runtime.db.begin() as session:
        found = {i.name: i for i in session.scalars(select(Instance).where(Instance.name.in_(names)))}
        for name in names:
            instance = found.get(name)
            if instance is None:
                raise CredentialsUnavailable(f"instance {name!r} in uses_instances no longer exists")
            try:
                password = crypto.decrypt(runtime, instance.password_encrypted, instance_name=name)
            except SecretUnreadable as exc:
                raise CredentialsUnavailable(str(exc)) from None
            issued[name] = {
                "db_type": instance.db_type,
                "host": instance.host,
                "port": instance.port,
                "database": instance.database,
                "user": instance.username,
                "password": password,
                "connect_timeout": runtime.settings.fleet_connect_timeout_seconds,
            }
            audit.record(
                session,
                _runner(job),
                "instance.credentials_issued",
                "instance",
                str(instance.id),
                {"instance": name, "job_id": job.id, "run_id": run_id},
            )
    return issued


def target_for_task(
    runtime: Runtime, job_id: str, run_id: int, instance_id: int, *, statement_timeout: int | None = None
) -> Target:
    """Where and how a built-in task of a template connects to registered instance ``instance_id``.

    The password is decrypted here, for this run only; the hand-over is an audit row naming the
    instance, the job and the run. Raises ``CredentialsUnavailable`` when the instance is gone or
    its password cannot be decrypted.
    """
    with runtime.db.begin() as session:
        instance = session.get(Instance, instance_id)
        if instance is None:
            raise CredentialsUnavailable(f"instance {instance_id} no longer exists")
        try:
            target = instance_service.target_for(runtime, instance)
        except SecretUnreadable as exc:
            raise CredentialsUnavailable(str(exc)) from None
        audit.record(
            session,
            Actor(f"job:{job_id}"[:64], "admin"),
            "instance.credentials_issued",
            "instance",
            str(instance.id),
            {"instance": instance.name, "job_id": job_id, "run_id": run_id},
        )
    if statement_timeout is not None:
        target = replace(target, statement_timeout=statement_timeout)
    return target


def record_use(runtime: Runtime, job: Job, run_id: int, name: str) -> None:
    """A code job opened a connection to ``name`` (the launcher's ``connect``)."""
    with runtime.db.begin() as session:
        instance_id = session.scalar(select(Instance.id).where(Instance.name == name))
        audit.record(
            session,
            _runner(job),
            "instance.credentials_used",
            "instance",
            str(instance_id or ""),
            {"instance": name, "job_id": job.id, "run_id": run_id},
        )


def _runner(job: Job) -> Actor:
    # The run acts for the job; the audit row names the job in its detail.
    return Actor(f"job:{job.id}"[:64], "admin")
