"""What every model of the domain shares."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# The largest value of the databases' integer columns: ``INTEGER`` (PostgreSQL's int4, MySQL's INT)
# and ``BIGINT``. A number past them is no row at all, and must never reach a driver, which
# would refuse it with an error of its own (SQLite: OverflowError; PostgreSQL: out of range).
MAX_INT = 2**31 - 1
MAX_BIGINT = 2**63 - 1

# A row's id in an ``INTEGER`` column (instances, users, tokens, channels, windows).
RowId = Annotated[int, Field(ge=1, le=MAX_INT)]


class Strict(BaseModel):
    """A request body: an unknown field is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")
