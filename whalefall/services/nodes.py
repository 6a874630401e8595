"""Nodes, the leader lease, and recovery of runs whose process died.

Exactly one scheduler is active: it holds the ``scheduler`` lease and renews
it; when it dies another takes over once the lease expires. Every transition
here is a conditional UPDATE, so any number of processes may race safely.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from whalefall import clock
from whalefall.i18n import reasons
from whalefall.models import Job, Lease, Node, Run, RunStatus
from whalefall.runtime import Runtime
from whalefall.services import runs as run_service
from whalefall.services.fencing import LEASE_NAME, db_now, db_time, fence
from whalefall.services.query import changed_rows

__all__ = ["LEASE_NAME", "acquire", "db_now", "fence", "take"]

log = logging.getLogger(__name__)
ORPHAN_AFTER_SECONDS = 30  # a run of this node younger than this may be between claim and start
HOSTNAME = socket.gethostname()
IDENTITY_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"
PID_NAMESPACE_LINK = "/proc/self/ns/pid"
IDENTITY_CHARS = 10


def _first_line(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.readline().strip()
    except OSError:
        return ""


def machine_identity() -> str:
    """A short hash naming this machine *and* this PID namespace: two processes with the same
    identity see each other's pids, so only then may one judge the other dead by its pid.

    Made of the machine id (cloned VMs may share it), the boot id (containers on one host share
    it) and the PID namespace (which they do not). Where none of these can be read, a random
    value: no other process ever shares it, so no pid check is ever trusted there.
    """
    machine = next((line for line in map(_first_line, IDENTITY_FILES) if line), "")
    boot = _first_line(BOOT_ID_FILE)
    try:
        namespace = os.readlink(PID_NAMESPACE_LINK)
    except OSError:
        namespace = ""
    if not (machine or boot):
        return uuid.uuid4().hex[:IDENTITY_CHARS]
    digest = hashlib.sha256(f"{machine}|{boot}|{namespace}".encode()).hexdigest()
    return digest[:IDENTITY_CHARS]


IDENTITY = machine_identity()


def make_node_id(name: str | None = None, *, pid: int | None = None) -> str:
    """``host~identity:pid:tag``: readable, and unique even between machines sharing a hostname."""
    pid = os.getpid() if pid is None else pid
    return f"{name or HOSTNAME}~{IDENTITY}:{pid}:{uuid.uuid4().hex[:6]}"


def parse_node_id(node_id: str) -> tuple[str, str | None, int | None]:
    """(name, identity, pid) of a node id; identity None for ids made before identities existed."""
    rest = node_id.split(":")
    try:
        pid: int | None = int(rest[-2])
        head = ":".join(rest[:-2])
    except (IndexError, ValueError):
        pid, head = None, node_id
    name, sep, identity = head.rpartition("~")
    if not sep:
        return head, None, pid
    return name, identity or None, pid


def is_local(node_id: str) -> bool:
    """Does ``node_id`` live on this machine, in this PID namespace (so its pid means the same here)?"""
    return parse_node_id(node_id)[1] == IDENTITY


def register_node(runtime: Runtime, node_id: str, role: str) -> None:
    now = clock.now()
    pid = parse_node_id(node_id)[2] or os.getpid()
    with runtime.db.begin() as session:
        session.add(Node(id=node_id, hostname=HOSTNAME, pid=pid, role=role, started_at=now, heartbeat_at=now))


def beat(runtime: Runtime, node_id: str) -> None:
    with runtime.db.begin() as session:
        session.execute(update(Node).where(Node.id == node_id).values(heartbeat_at=clock.now()))


def stop_node(runtime: Runtime, node_id: str) -> None:
    with runtime.db.begin() as session:
        session.execute(update(Node).where(Node.id == node_id).values(stopped_at=clock.now()))


def acquire(runtime: Runtime, node_id: str) -> bool:
    """Take or renew the lease. True while this node leads (see :func:`take`)."""
    return take(runtime, node_id) is not None


def take(runtime: Runtime, node_id: str) -> int | None:
    """Take or renew the lease on the database server's clock; the epoch this node holds it under,
    or None when another node holds it.

    Renewing keeps the epoch; taking it (free, expired, or left by a process that died on this very
    machine) adds one, so claims made under an older epoch fail (:func:`fence`).
    """
    seconds = runtime.settings.lease_seconds
    with runtime.db.begin() as session:
        now, expires = db_now(session), db_time(session, seconds)
        renewed = changed_rows(
            session,
            update(Lease)
            .where(Lease.name == LEASE_NAME, Lease.holder == node_id, Lease.expires_at > now)
            .values(expires_at=expires),
        )
        if renewed == 1:
            return session.scalar(select(Lease.epoch).where(Lease.name == LEASE_NAME))
        taken = changed_rows(
            session,
            update(Lease)
            .where(Lease.name == LEASE_NAME, or_(Lease.holder.is_(None), Lease.expires_at <= now))
            .values(holder=node_id, expires_at=expires, acquired_at=now, epoch=Lease.epoch + 1),
        )
        if taken == 1:
            return session.scalar(select(Lease.epoch).where(Lease.name == LEASE_NAME))
        lease = session.get(Lease, LEASE_NAME)
        if lease is not None:
            if lease.holder and lease.holder != node_id and holder_is_dead_here(lease.holder):
                # Its process is gone from this very machine: no need to wait for the lease to expire.
                taken = changed_rows(
                    session,
                    update(Lease)
                    .where(Lease.name == LEASE_NAME, Lease.holder == lease.holder)
                    .values(holder=node_id, expires_at=expires, acquired_at=now, epoch=Lease.epoch + 1),
                )
                if taken == 1:
                    return session.scalar(select(Lease.epoch).where(Lease.name == LEASE_NAME))
            return None
    try:
        with runtime.db.begin() as session:
            session.add(
                Lease(
                    name=LEASE_NAME, holder=node_id, expires_at=clock.now(), acquired_at=clock.now(), epoch=1
                )
            )
            session.flush()
            session.execute(
                update(Lease)
                .where(Lease.name == LEASE_NAME)
                .values(expires_at=db_time(session, seconds), acquired_at=db_now(session))
            )
        return 1
    except IntegrityError:
        return None


def holder_is_dead_here(node_id: str) -> bool:
    """Is ``node_id`` (``host~identity:pid:tag``) a process of this machine and PID namespace that
    no longer exists? A node of another identity (a container or a cloned VM with the same
    hostname) is never judged by a pid of ours: False."""
    _name, _identity, pid = parse_node_id(node_id)
    return pid is not None and is_local(node_id) and not _pid_alive(pid)


def release(runtime: Runtime, node_id: str) -> None:
    with runtime.db.begin() as session:
        session.execute(
            update(Lease)
            .where(Lease.name == LEASE_NAME, Lease.holder == node_id)
            .values(holder=None, expires_at=db_now(session))
        )


def lease(runtime: Runtime) -> Lease | None:
    """The lease row as it stands, expired or not (None before any scheduler ever ran)."""
    with runtime.db.read() as session:
        return session.get(Lease, LEASE_NAME)


def current_leader(runtime: Runtime) -> Lease | None:
    """The lease while someone holds it and it has not expired on the database server's clock."""
    with runtime.db.read() as session:
        row = session.execute(
            select(Lease, (Lease.expires_at > db_now(session)).label("live")).where(Lease.name == LEASE_NAME)
        ).first()
    if row is None or row.Lease.holder is None or not row.live:
        return None
    lease: Lease = row.Lease
    return lease


def _pid_alive(pid: int) -> bool:
    if pid <= 0:  # 0 and negative pids name process groups, not a process: cannot tell, so alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_nodes(runtime: Runtime, self_id: str) -> dict[str, Node]:
    stale = clock.now() - timedelta(seconds=runtime.settings.node_stale_seconds)
    with runtime.db.read() as session:
        nodes = list(session.scalars(select(Node).where(Node.id != self_id)))
    return {
        n.id: n
        for n in nodes
        if n.stopped_at is not None
        or n.heartbeat_at < stale
        # A pid says something only about a process of this very machine and PID namespace.
        or (is_local(n.id) and not _pid_alive(n.pid))
    }


def recover(runtime: Runtime, self_id: str, running_here: set[int] | None = None) -> int:
    """Called by the leader:

    1. this node's own runs that nothing here answers for (``running_here``: what this process
       still executes or has an outcome for) — a start or finish the database refused — are
       treated like a dead node's;
    2. queued runs left with a live node that does not lead (it lost the lease before starting
       them) are freed for the leader;
    3. a dead node's running runs end ``interrupted`` (retried by policy; its process group is
       killed when it ran on this machine) and its queued ones are freed, or recorded ``missed``
       once their grace has passed.

    Returns how many runs were touched.
    """
    dead = dead_nodes(runtime, self_id)
    now = clock.now()
    columns = (Run.id, Run.node, Run.status, Run.pid, Run.scheduled_time, Run.job_id)
    active = Run.status.in_((RunStatus.RUNNING.value, RunStatus.QUEUED.value))
    with runtime.db.read() as session:
        known = set(session.scalars(select(Node.id)))
        others = list(
            session.execute(select(*columns).where(active, Run.node.isnot(None), Run.node != self_id))
        )
        own = []
        if running_here is not None:
            settled = now - timedelta(seconds=ORPHAN_AFTER_SECONDS)
            mine = select(*columns).where(active, Run.node == self_id, Run.created_at < settled)
            own = [row for row in session.execute(mine) if row.id not in running_here]
        alive = {node for node in known if node not in dead}
        orphaned = {row.job_id for row in others if row.node not in alive}
        # The grace of the jobs a dead node left runs of only (not every job, every ten seconds).
        graces = dict(
            session.execute(select(Job.id, Job.misfire_grace_time).where(Job.id.in_(orphaned))).all()
            if orphaned
            else []
        )
    touched = _recover_own(runtime, own)
    touched += _free_standbys(runtime, [row for row in others if row.node in alive])
    touched += _recover_dead(runtime, [row for row in others if row.node not in alive], dead, graces, now)
    return touched


def _recover_own(runtime: Runtime, rows: list[Any]) -> int:
    for run_id, _node, status, _pid, _scheduled, job_id in rows:
        if status == RunStatus.QUEUED.value:
            run_service.release(runtime, run_id)
            continue
        why = reasons.english("interrupted_orphaned")
        if run_service.finish(runtime, run_id, RunStatus.INTERRUPTED, error_message=why) is not None:
            log.warning("run %s of job %s on this node was orphaned: interrupted", run_id, job_id)
    return len(rows)


def _free_standbys(runtime: Runtime, rows: list[Any]) -> int:
    """Queued runs of a live node that does not lead: it will not start them."""
    freed = 0
    for run_id, _node, status, *_ in rows:
        if status == RunStatus.QUEUED.value:
            run_service.release(runtime, run_id)
            freed += 1
    return freed


def _recover_dead(
    runtime: Runtime, rows: list[Any], dead: dict[str, Node], graces: Mapping[str, int | None], now: datetime
) -> int:
    touched = 0
    for run_id, node, status, pid, scheduled, job_id in rows:
        owner = dead.get(node) if node else None
        if status == RunStatus.RUNNING.value:
            if pid and owner is not None and is_local(owner.id):
                _kill_group(pid)
            why = (
                reasons.english("interrupted_node_died", node=node)
                if node
                else reasons.english("interrupted_died")
            )
            if run_service.finish(runtime, run_id, RunStatus.INTERRUPTED, error_message=why) is not None:
                log.warning(
                    "run %s of job %s interrupted: %s died",
                    run_id,
                    job_id,
                    node,
                    extra={"run_id": run_id, "job_id": job_id},
                )
                touched += 1
            continue
        grace = graces.get(job_id) or 0
        if scheduled is None or (now - scheduled).total_seconds() <= grace:
            run_service.release(runtime, run_id)
            touched += 1
            continue
        why = reasons.english("missed_node_died", node=node)
        ended = run_service.finish(
            runtime, run_id, RunStatus.MISSED, from_status=RunStatus.QUEUED, error_message=why
        )
        touched += ended is not None
    return touched


def _kill_group(pid: int) -> None:
    """A code job's process group outlives nothing: kill what its dead parent left."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
