"""The product's tables. Importing this package registers them all on ``Base.metadata``."""

from whalefall.models import fleet  # noqa: F401  (registers the fleet tables)
from whalefall.models.alert import (
    AlertChannel,
    AlertDelivery,
    AlertEvent,
    AlertJobState,
    DeliveryStatus,
    MaintenanceWindow,
)
from whalefall.models.audit import AuditEntry
from whalefall.models.base import Base
from whalefall.models.job import Job, JobKind, JobState
from whalefall.models.run import ACTIVE_STATUSES, Run, RunStatus, TriggerSource
from whalefall.models.system import JobChange, Lease, Node, SeededDefault, StateEntry
from whalefall.models.user import ApiToken, LoginAttempt, Role, User
from whalefall.models.version import JobVersion

__all__ = [
    "AlertChannel",
    "AlertDelivery",
    "AlertEvent",
    "AlertJobState",
    "DeliveryStatus",
    "ACTIVE_STATUSES",
    "ApiToken",
    "AuditEntry",
    "Base",
    "Job",
    "JobChange",
    "JobKind",
    "JobState",
    "JobVersion",
    "Lease",
    "LoginAttempt",
    "MaintenanceWindow",
    "Node",
    "Role",
    "Run",
    "RunStatus",
    "SeededDefault",
    "StateEntry",
    "TriggerSource",
    "User",
]
