"""What makes an account a risk, read from its stored form (SPEC §14): pure, no database.

An account is given as :class:`AccountFacts` (what ``sync_accounts`` stored for it);
:func:`assess` returns its :class:`Risk` list, each a kind, a severity and the
fields its words need (the words themselves are the catalogue's ``risk_<kind>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class RiskKind(StrEnum):
    SUPERUSER = "superuser"
    ALL_PRIVILEGES = "all_privileges"
    GRANT_OPTION = "grant_option"
    WILDCARD_HOST = "wildcard_host"
    NO_PASSWORD = "no_password"
    PASSWORD_EXPIRED = "password_expired"
    LOCKED = "locked"
    BYPASSRLS = "bypassrls"
    REPLICATION = "replication"
    RECENTLY_ADDED = "recently_added"
    RECENTLY_CHANGED = "recently_changed"


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


SEVERITY = {
    RiskKind.SUPERUSER: Severity.HIGH,
    RiskKind.ALL_PRIVILEGES: Severity.HIGH,
    RiskKind.GRANT_OPTION: Severity.MEDIUM,
    RiskKind.WILDCARD_HOST: Severity.HIGH,
    RiskKind.NO_PASSWORD: Severity.HIGH,
    RiskKind.PASSWORD_EXPIRED: Severity.LOW,
    RiskKind.LOCKED: Severity.LOW,
    RiskKind.BYPASSRLS: Severity.HIGH,
    RiskKind.REPLICATION: Severity.MEDIUM,
    RiskKind.RECENTLY_ADDED: Severity.LOW,
    RiskKind.RECENTLY_CHANGED: Severity.LOW,
}
SEVERITY_ORDER = {Severity.HIGH: 0, Severity.MEDIUM: 1, Severity.LOW: 2}

# MySQL privileges that neither write nor administer: anything else on a wildcard host is a risk.
READ_ONLY_PRIVILEGES = frozenset({"USAGE", "SELECT", "SHOW VIEW", "SHOW DATABASES", "EXECUTE"})
ALL = "ALL PRIVILEGES"
GRANT_OPTION = "GRANT OPTION"
GRANTABLE = (" WITH GRANT OPTION", " WITH ADMIN OPTION")  # PostgreSQL's and Oracle's grantable suffixes
DEFAULT_RECENT_DAYS = 7


@dataclass(frozen=True)
class AccountFacts:
    db_type: str
    key: str
    username: str
    host: str = ""
    kind: str = "user"
    is_superuser: bool = False
    is_locked: bool = False
    can_login: bool = True
    attributes: dict[str, Any] = field(default_factory=dict)
    privileges: dict[str, Any] = field(default_factory=dict)
    roles: list[str] = field(default_factory=list)
    first_seen_at: datetime | None = None
    last_changed_at: datetime | None = None


@dataclass(frozen=True)
class Risk:
    kind: RiskKind
    detail: dict[str, str] = field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.kind]


def scoped_privileges(privileges: dict[str, Any]) -> list[tuple[str, str]]:
    """Every ``(scope, privilege)`` of a stored privilege tree: ``("*.*", "SELECT")``, ``("db", "CONNECT")``…

    Revoked privileges (MySQL 8 partial revokes) and PROXY are left out: they grant no right of their own.
    """
    pairs: list[tuple[str, str]] = []
    for scope, value in (privileges or {}).items():
        if scope in ("revoked", "proxy", "owner_of"):
            continue
        if isinstance(value, list):
            pairs.extend(("*.*" if scope == "global" else scope, str(p)) for p in value)
        elif isinstance(value, dict):
            for name, inner in value.items():
                if isinstance(inner, dict):  # SQL Server: a database's user, its roles and permissions
                    inner = inner.get("permissions") or []
                for p in inner if isinstance(inner, list) else [inner]:
                    pairs.append((str(name), str(p)))
    return pairs


def role_key(db_type: str, name: str) -> str:
    """The stored key of a granted role: MySQL 8's ``r@%`` is the account ``'r'@'%'``; others as named."""
    if db_type == "mysql" and "@" in name:
        user, _, host = name.rpartition("@")
        return f"'{user}'@'{host}'"
    return name


def merged(*trees: dict[str, Any]) -> dict[str, Any]:
    """Privilege trees added together: lists united per scope, and per name within a scope."""
    out: dict[str, Any] = {}
    for tree in trees:
        for scope, value in (tree or {}).items():
            if isinstance(value, list):
                out[scope] = sorted(set(out.get(scope, [])) | {str(v) for v in value})
            elif isinstance(value, dict):
                inner = out.setdefault(scope, {})
                for name, items in value.items():
                    if isinstance(items, list) and isinstance(inner.get(name, []), list):
                        inner[name] = sorted(set(inner.get(name, [])) | {str(v) for v in items})
                    else:
                        inner.setdefault(name, items)  # SQL Server's per-database entries: kept as they are
    return out


def with_granted_roles(facts: AccountFacts, accounts: dict[str, AccountFacts]) -> AccountFacts:
    """``facts`` with the privileges of the roles granted to it, and theirs, added (``accounts`` by key).

    Only privileges are inherited: PostgreSQL's SUPERUSER, BYPASSRLS and REPLICATION are not
    (a member of a superuser role is no superuser), and neither are flags.
    """
    trees, seen, todo = [facts.privileges], {facts.key}, list(facts.roles or [])
    while todo:
        key = role_key(facts.db_type, todo.pop())
        role = accounts.get(key)
        if role is None or key in seen:
            continue
        seen.add(key)
        trees.append(role.privileges)
        todo.extend(role.roles or [])
    if len(trees) == 1:
        return facts
    return replace(facts, privileges=merged(*trees))


def _name(privilege: str) -> str:
    """``UPDATE (`id`)`` → ``UPDATE``; ``CREATE WITH GRANT OPTION`` → ``CREATE``."""
    name = privilege.split(" (", 1)[0]
    for suffix in GRANTABLE:
        name = name.removesuffix(suffix)
    return name.strip().upper()


def _scopes(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(sorted({scope for scope, _ in pairs}))


def is_wildcard_host(host: str) -> bool:
    return "%" in host or "_" in host.replace("\\_", "")


def _expired(facts: AccountFacts, now: datetime) -> bool:
    attributes = facts.attributes or {}
    if facts.db_type == "postgresql":
        until = attributes.get("valid_until")
        if not until:
            return False
        try:
            return datetime.fromisoformat(str(until)) < now
        except ValueError:
            return False
    return bool(attributes.get("password_expired"))


def assess(facts: AccountFacts, now: datetime, recent_days: int = DEFAULT_RECENT_DAYS) -> list[Risk]:
    """The risks of one account, most severe first.

    1. Superuser, then ALL PRIVILEGES and GRANT OPTION at any scope;
    2. a wildcard host holding anything beyond reading (MySQL);
    3. no password, an expired one, a locked account;
    4. PostgreSQL's BYPASSRLS and REPLICATION;
    5. added or changed within ``recent_days`` of ``now``.
    """
    risks: list[Risk] = []
    attributes = facts.attributes or {}
    pairs = scoped_privileges(facts.privileges)
    if facts.is_superuser:
        risks.append(Risk(RiskKind.SUPERUSER))
    all_pairs = [(s, p) for s, p in pairs if _name(p) == ALL]
    if all_pairs:
        risks.append(Risk(RiskKind.ALL_PRIVILEGES, {"scopes": _scopes(all_pairs)}))
    grant_pairs = [(s, p) for s, p in pairs if _name(p) == GRANT_OPTION or p.endswith(GRANTABLE)]
    if grant_pairs:
        risks.append(Risk(RiskKind.GRANT_OPTION, {"scopes": _scopes(grant_pairs)}))
    if facts.db_type == "mysql" and facts.host and is_wildcard_host(facts.host):
        writes = sorted({_name(p) for _, p in pairs if _name(p) not in READ_ONLY_PRIVILEGES})
        if writes:
            risks.append(Risk(RiskKind.WILDCARD_HOST, {"host": facts.host, "privileges": ", ".join(writes)}))
    if facts.kind != "role" and attributes.get("password_empty"):
        risks.append(Risk(RiskKind.NO_PASSWORD))
    if _expired(facts, now):
        risks.append(Risk(RiskKind.PASSWORD_EXPIRED))
    if facts.is_locked and facts.db_type != "postgresql" and facts.kind != "role":
        # PostgreSQL has no lock: its is_locked is an expired VALID UNTIL, said above.
        risks.append(Risk(RiskKind.LOCKED))
    if attributes.get("bypassrls") and not facts.is_superuser:
        risks.append(Risk(RiskKind.BYPASSRLS))
    if attributes.get("replication") and not facts.is_superuser:
        risks.append(Risk(RiskKind.REPLICATION))
    since = now - timedelta(days=recent_days)
    if facts.first_seen_at is not None and facts.first_seen_at >= since:
        risks.append(Risk(RiskKind.RECENTLY_ADDED, {"days": str(recent_days)}))
    elif facts.last_changed_at is not None and facts.last_changed_at >= since:
        risks.append(Risk(RiskKind.RECENTLY_CHANGED, {"days": str(recent_days)}))
    return sorted(risks, key=lambda r: SEVERITY_ORDER[r.severity])
