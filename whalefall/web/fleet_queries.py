"""The fleet's query strings that the console's report pages share with the API (SPEC §10, §14)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from whalefall.domain.accountrisk import DEFAULT_RECENT_DAYS, RiskKind, Severity
from whalefall.domain.base import RowId
from whalefall.domain.instancespec import DbTypeName
from whalefall.web.queries import Pagination, Query

ExportFormat = Literal["json", "csv"]


class InstanceListQuery(Pagination):
    q: str | None = Field(None, max_length=200, description="in name, host, description")
    db_type: DbTypeName | None = None
    is_active: bool | None = None
    tag: str | None = Field(None, max_length=64)


class RiskQuery(Query):
    kind: RiskKind | None = Field(None, description="one kind of risk")
    severity: Severity | None = None
    days: int = Field(
        DEFAULT_RECENT_DAYS,
        ge=1,
        le=3650,
        description="what counts as recent: added or changed in these days",
    )
    format: ExportFormat = Field("json", description="csv: the report as a CSV file")


class FleetRiskQuery(RiskQuery):
    instance_id: RowId | None = Field(None, description="one instance; all when left out")


class SyncSessionQuery(Pagination):
    task: (
        Literal["sync_accounts", "collect_database_sizes", "calculate_database_size_aggregations"] | None
    ) = None
    status: Literal["running", "success", "partial", "failed", "cancelled"] | None = None
    instance_id: RowId | None = None
