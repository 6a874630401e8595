"""Request bodies and query strings of the fleet API (SPEC §10), one pydantic model each."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field

from whalefall.domain.base import RowId
from whalefall.web.fleet_queries import (  # noqa: F401  (the queries the console shares live in web)
    ExportFormat,
    FleetRiskQuery,
    InstanceListQuery,
    RiskQuery,
    SyncSessionQuery,
)
from whalefall.web.queries import Pagination, Query

PeriodName = Literal["daily", "weekly", "monthly", "quarterly"]


class AccountListQuery(Pagination):
    per_page: int = Field(100, ge=1, le=1000)
    q: str | None = Field(None, max_length=200, description="in the account name or key")
    kind: str | None = Field(None, max_length=32)
    superuser: bool | None = None
    locked: bool | None = None
    include_deleted: bool = False
    format: ExportFormat = Field("json", description="csv: every matching account as a CSV file")

    def filters(self) -> dict[str, Any]:
        """The filters of ``services.fleet_accounts.page``."""
        return self.model_dump(include={"q", "kind", "superuser", "locked", "include_deleted"})


class AccountChangeQuery(Pagination):
    change_type: Literal["added", "changed", "removed"] | None = None
    account: str | None = Field(None, max_length=320, description="an account key, e.g. 'app'@'%'")


class DatabaseListQuery(Pagination):
    per_page: int = Field(100, ge=1, le=1000)
    q: str | None = Field(None, max_length=200)
    include_gone: bool = False


class CapacityQuery(Query):
    instance_id: RowId | None = Field(None, description="one instance; all when left out")
    database: str | None = Field(None, max_length=255, description="one database of that instance")
    period: PeriodName = "daily"
    start: date | None = Field(None, description="first period start (YYYY-MM-DD)")
    end: date | None = Field(None, description="last period start (YYYY-MM-DD)")
    top: int = Field(10, ge=0, le=100, description="how many largest and fastest-growing databases")
    format: ExportFormat = Field("json", description="csv: the series as a CSV file, one row per point")


class TableListQuery(Query):
    database: str | None = Field(None, max_length=255, description="one database; all when left out")
    limit: int = Field(100, ge=1, le=1000, description="how many of the largest tables")


class ForecastQuery(Query):
    instance_id: RowId | None = Field(
        None, description="one instance, with its databases' growth; all instances when left out"
    )
