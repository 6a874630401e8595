"""What every model of the domain shares."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

# The largest value of the databases' integer columns: ``INTEGER`` (PostgreSQL's int4, MySQL's INT)
# and ``BIGINT``. A number past them is no row at all, and must never reach a driver, which
# would refuse it with an error of its own (SQLite: OverflowError; PostgreSQL: out of range).
MAX_INT = 2**31 - 1
MAX_BIGINT = 2**63 - 1

# A row's id in an ``INTEGER`` column (instances, users, tokens, channels, windows).
RowId = Annotated[int, Field(ge=1, le=MAX_INT)]


def has_nul(value: Any) -> bool:
    """Whether ``value`` — a string, or any JSON-like nesting of them, keys included — holds a NUL.

    PostgreSQL refuses NUL in text and in JSON, so such input is refused at the edge, for
    every database alike.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
    return False


def refuse_nul(value: Any) -> Any:
    """A field validator's body: ``value`` as is, or the ``no_nul`` error."""
    if has_nul(value):
        raise PydanticCustomError("no_nul", "must not contain NUL characters")
    return value


class Strict(BaseModel):
    """A request body: an unknown field is an error, not silently dropped; no field holds a NUL."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return refuse_nul(value)
