"""Request bodies and query strings of the fleet API (SPEC §10), one pydantic model each."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from whalefall.api.schemas import Pagination, Query, Strict

DbTypeName = Literal["mysql", "postgresql", "sqlserver", "oracle"]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Host = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[^\s/]+$")
]
PeriodName = Literal["daily", "weekly", "monthly", "quarterly"]


class InstancePatch(Strict):
    """Fields of an instance; on update every field is optional and only those given change.

    ``password`` is write-only: it is stored encrypted and never returned. On
    update, leave it out to keep the stored one; ``""`` clears it.
    """

    name: str | None = Field(None, min_length=1, max_length=128)
    db_type: DbTypeName | None = None
    host: Host | None = None
    port: int | None = Field(None, ge=1, le=65535, description="defaults to the engine's usual port")
    database: str | None = Field(
        None, max_length=128, description="database to connect to (Oracle: the service name)"
    )
    username: str | None = Field(None, min_length=1, max_length=128)
    password: str | None = Field(None, max_length=1024, description="write-only")
    tags: list[Tag] | None = Field(None, max_length=20)
    description: str | None = Field(None, max_length=2000)
    is_active: bool | None = None

    @field_validator("name", "username")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.strip()
            if not value:
                raise ValueError("must not be blank")
        return value


class InstanceCreate(InstancePatch):
    name: str = Field(min_length=1, max_length=128)
    db_type: DbTypeName
    host: Host
    username: str = Field(min_length=1, max_length=128)


class ConnectionCheck(InstancePatch):
    """Connection fields to try before saving; ``instance_id`` fills in what is left out
    (its stored password included)."""

    instance_id: int | None = Field(None, ge=1)


class InstanceListQuery(Pagination):
    q: str | None = Field(None, max_length=200, description="in name, host, description")
    db_type: DbTypeName | None = None
    is_active: bool | None = None
    tag: str | None = Field(None, max_length=64)


class AccountListQuery(Pagination):
    per_page: int = Field(100, ge=1, le=1000)
    q: str | None = Field(None, max_length=200, description="in the account name or key")
    kind: str | None = Field(None, max_length=32)
    superuser: bool | None = None
    locked: bool | None = None
    include_deleted: bool = False


class AccountChangeQuery(Pagination):
    change_type: Literal["added", "changed", "removed"] | None = None
    account: str | None = Field(None, max_length=320, description="an account key, e.g. 'app'@'%'")


class DatabaseListQuery(Pagination):
    per_page: int = Field(100, ge=1, le=1000)
    q: str | None = Field(None, max_length=200)
    include_gone: bool = False


class CapacityQuery(Query):
    instance_id: int | None = Field(None, ge=1, description="one instance; all when left out")
    database: str | None = Field(None, max_length=255, description="one database of that instance")
    period: PeriodName = "daily"
    start: date | None = Field(None, description="first period start (YYYY-MM-DD)")
    end: date | None = Field(None, description="last period start (YYYY-MM-DD)")
    top: int = Field(10, ge=0, le=100, description="how many largest and fastest-growing databases")


class SyncSessionQuery(Pagination):
    task: (
        Literal["sync_accounts", "collect_database_sizes", "calculate_database_size_aggregations"] | None
    ) = None
    status: Literal["running", "success", "partial", "failed", "cancelled"] | None = None
    instance_id: int | None = Field(None, ge=1)
