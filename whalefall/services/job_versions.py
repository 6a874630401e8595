"""Code versions: every source a code or shell job had, who made it, when and why (SPEC §7).

:func:`record` is called by ``services.jobs`` in the transaction that changes a job, so a job's
source and its history never disagree; restoring a version is a change like any other
(``services.jobs.restore_version``) and so is itself a new version.
"""

from __future__ import annotations

import difflib
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from whalefall import clock
from whalefall.errors import VersionNotFound
from whalefall.models import Job, JobKind, JobVersion
from whalefall.services.audit import Actor

VERSIONED_KINDS = (JobKind.CODE.value, JobKind.SHELL.value)


def _source(kind: str, code: str | None, shell: dict[str, Any] | None) -> tuple[Any, ...]:
    shell = shell or {}
    return (
        kind,
        code or "",
        shell.get("mode"),
        list(shell.get("argv") or []),
        shell.get("working_dir") or None,
        dict(shell.get("env") or {}),
    )


def latest(session: Session, job_id: str) -> JobVersion | None:
    return session.scalars(
        select(JobVersion).where(JobVersion.job_id == job_id).order_by(JobVersion.number.desc()).limit(1)
    ).first()


def record(
    session: Session, job: Job, actor: Actor, note: str | None = None, *, restored_from: int | None = None
) -> JobVersion | None:
    """Keep ``job``'s source as a new version when it differs from the newest kept one.

    Built-in jobs have no source: nothing is kept (their older versions stay). Returns the new
    version, or None when the source did not change.
    """
    if job.kind not in VERSIONED_KINDS:
        job.code_version = None
        return None
    newest = latest(session, job.id)
    if newest is not None and _source(newest.kind, newest.code, newest.shell) == _source(
        job.kind, job.code, job.shell
    ):
        job.code_version = newest.number
        return None
    version = JobVersion(
        job_id=job.id,
        number=(newest.number if newest else 0) + 1,
        kind=job.kind,
        code=job.code,
        shell=dict(job.shell) if job.shell else None,
        note=note or "",
        restored_from=restored_from,
        created_by=actor.name,
        created_at=clock.now(),
    )
    session.add(version)
    job.code_version = version.number
    return version


def forget(session: Session, job_id: str) -> None:
    """Remove a deleted job's versions (its runs keep the number they executed)."""
    session.execute(delete(JobVersion).where(JobVersion.job_id == job_id))


def listing(session: Session, job_id: str) -> list[JobVersion]:
    """Every version of a job, newest first."""
    return list(
        session.scalars(
            select(JobVersion).where(JobVersion.job_id == job_id).order_by(JobVersion.number.desc())
        )
    )


def count(session: Session, job_id: str) -> int:
    return (
        session.scalar(select(func.count()).select_from(JobVersion).where(JobVersion.job_id == job_id)) or 0
    )


def get(session: Session, job_id: str, number: int) -> JobVersion:
    version = session.scalars(
        select(JobVersion).where(JobVersion.job_id == job_id, JobVersion.number == number)
    ).first()
    if version is None:
        raise VersionNotFound(job_id, number)
    return version


def text_of(version: JobVersion) -> str:
    """The source as one text, for reading and diffing: Python, a script, or one argument a line;
    a shell job's working directory and variables follow as ``# working_dir:`` / ``# env`` lines."""
    shell = version.shell or {}
    if version.kind == JobKind.SHELL and shell.get("mode") == "argv":
        body = "".join(f"{arg}\n" for arg in shell.get("argv") or [])
    else:
        body = version.code or ""
    extra = []
    if shell.get("working_dir"):
        extra.append(f"# working_dir: {shell['working_dir']}")
    extra += [f"# env {name}={value}" for name, value in sorted((shell.get("env") or {}).items())]
    if extra:
        body = (body if not body or body.endswith("\n") else body + "\n") + "\n".join(extra) + "\n"
    return body


def diff(session: Session, job_id: str, old: int, new: int) -> str:
    """A unified diff from version ``old`` to version ``new`` of a job ("" when they are equal)."""
    before, after = get(session, job_id, old), get(session, job_id, new)
    lines = difflib.unified_diff(
        text_of(before).splitlines(keepends=True),
        text_of(after).splitlines(keepends=True),
        fromfile=f"{job_id}@v{old}",
        tofile=f"{job_id}@v{new}",
    )
    # A last line without its newline would run into the next one.
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def to_dict(version: JobVersion, *, current: int | None = None, with_source: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "job_id": version.job_id,
        "number": version.number,
        "kind": version.kind,
        "note": version.note,
        "restored_from": version.restored_from,
        "created_by": version.created_by,
        "created_at": clock.iso(version.created_at),
        "current": version.number == current,
    }
    if with_source:
        shell = version.shell or {}
        argv_mode = version.kind == JobKind.SHELL and shell.get("mode") == "argv"
        data.update(
            code=version.code if version.kind == JobKind.CODE else None,
            shell_mode=("argv" if argv_mode else "script") if version.kind == JobKind.SHELL else None,
            command=list(shell.get("argv") or []) if argv_mode else None,
            script=version.code if version.kind == JobKind.SHELL and not argv_mode else None,
            working_dir=shell.get("working_dir") or None,
            env=dict(shell.get("env") or {}),
            text=text_of(version),
        )
    return data
