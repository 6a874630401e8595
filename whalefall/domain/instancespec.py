"""A database instance as the API and the CLI give it (SPEC §10): one pydantic model each."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from whalefall.domain.base import Strict

DbTypeName = Literal["mysql", "postgresql", "sqlserver", "oracle"]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Host = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[^\s/]+$")
]


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
    disk_capacity_bytes: int | None = Field(
        None,
        ge=1,
        le=2**62,
        description="the disk the databases live on, for the days-until-full forecast; null clears it",
    )

    @field_validator("name", "username")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.strip()
            if not value:
                raise PydanticCustomError("not_blank", "must not be blank")
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
