"""The account risk report (SPEC §14): per instance and fleet-wide, from the stored accounts.

Nothing is read from the instances here: the report is what the last
``sync_accounts`` stored, judged by ``domain.accountrisk``. Removed accounts
are left out. Each risk's words are the catalogue's ``api`` ``risk_<kind>``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from whalefall import clock
from whalefall.domain.accountrisk import SEVERITY_ORDER, AccountFacts, assess, with_granted_roles
from whalefall.i18n import catalogue
from whalefall.models.fleet import Instance, InstanceAccount
from whalefall.services.fleet_accounts import facts

CSV_COLUMNS = ("instance", "db_type", "account", "account_kind", "risk", "severity", "description")


def report(
    session: Session,
    *,
    instance_id: int | None = None,
    kind: str | None = None,
    severity: str | None = None,
    recent_days: int,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Every risk of the current accounts (of one instance, or of all), most severe first, then by
    instance and account: ``{instance_id, instance, db_type, account, username, host, account_kind,
    risk, severity, detail}``."""
    now = now or clock.now()
    query = (
        select(InstanceAccount, Instance)
        .join(Instance, Instance.id == InstanceAccount.instance_id)
        .where(InstanceAccount.is_deleted.is_(False))
    )
    if instance_id is not None:
        query = query.where(InstanceAccount.instance_id == instance_id)
    rows = [(row, instance) for row, instance in session.execute(query)]
    # Each instance's accounts by key, so an account is judged with the privileges of its roles.
    by_instance: dict[int, dict[str, AccountFacts]] = {}
    for row, instance in rows:
        by_instance.setdefault(instance.id, {})[row.account_key] = facts(row, instance.db_type)
    found: list[dict[str, Any]] = []
    for row, instance in rows:
        account = with_granted_roles(by_instance[instance.id][row.account_key], by_instance[instance.id])
        for risk in assess(account, now, recent_days):
            if (kind and risk.kind != kind) or (severity and risk.severity != severity):
                continue
            found.append(
                {
                    "instance_id": instance.id,
                    "instance": instance.name,
                    "db_type": instance.db_type,
                    "account": row.account_key,
                    "username": row.username,
                    "host": row.host,
                    "account_kind": row.kind,
                    "risk": risk.kind.value,
                    "severity": risk.severity.value,
                    "detail": risk.detail,
                }
            )
    found.sort(key=lambda r: (SEVERITY_ORDER[r["severity"]], r["instance"], r["account"], r["risk"]))
    return found


def summary(risks: list[dict[str, Any]]) -> dict[str, int]:
    """How many risks of each severity: ``{"high": 2, "medium": 0, "low": 5}``."""
    counts = dict.fromkeys(SEVERITY_ORDER, 0)
    for risk in risks:
        counts[risk["severity"]] += 1
    return {str(k): v for k, v in counts.items()}


def describe(risk: dict[str, Any], lang: str) -> str:
    """A risk in words, in ``lang``."""
    return catalogue.text("api", f"risk_{risk['risk']}", lang).format(**risk["detail"])


def csv_rows(risks: list[dict[str, Any]], lang: str) -> list[list[str]]:
    """The report as CSV rows (header first), the words in ``lang``."""
    rows = [list(CSV_COLUMNS)]
    for r in risks:
        rows.append(
            [
                r["instance"],
                r["db_type"],
                r["account"],
                r["account_kind"],
                r["risk"],
                r["severity"],
                describe(r, lang),
            ]
        )
    return rows
