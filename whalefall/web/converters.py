"""Path values that can never name a row are refused before a view runs: a 400 naming the part.

``<id:…>`` is a row id of an ``INTEGER`` column, ``<bigid:…>`` of a ``BIGINT`` one. A number
past the column's range, or a text part (``<job_id>``, ``<username>``) holding a NUL, would
reach the database driver, which refuses it with an error of its own (SQLite: OverflowError;
PostgreSQL: out of range, or NUL in text). The converters still match such a path — a
converter that refuses makes werkzeug answer 404 or, oddly, 405 — and mark the value; the
preprocessor turns a marked value into :class:`InvalidInput`. Registered before any
blueprint, since rules bind their converters when they are added.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

from whalefall.domain.base import MAX_BIGINT, MAX_INT
from whalefall.errors import InvalidInput


class OutOfRange(int):
    """A path id past its column's range; ``limit`` is the largest the column holds."""

    limit: int


class RowIdConverter(IntegerConverter):
    limit = MAX_INT

    def __init__(self, map: Map) -> None:
        super().__init__(map)

    def to_python(self, value: str) -> Any:
        number = super().to_python(value)
        if number > self.limit:
            number = OutOfRange(number)
            number.limit = self.limit
        return number


class BigRowIdConverter(RowIdConverter):
    limit = MAX_BIGINT


def refuse_odd_values(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Raise :class:`InvalidInput` naming the first path part past its range or holding a NUL."""
    for name, value in (values or {}).items():
        if isinstance(value, OutOfRange):
            raise InvalidInput(
                f"{name}: must be at most {value.limit}",
                field=name,
                key="invalid",
                params={
                    "field": name,
                    "detail": {"validation": "less_than_equal", "ctx": {"le": value.limit}},
                },
            )
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInput(
                f"{name}: must not contain NUL characters",
                field=name,
                key="invalid",
                params={"field": name, "detail": {"validation": "no_nul"}},
            )


def init_app(app: Flask) -> None:
    app.url_map.converters.update(id=RowIdConverter, bigid=BigRowIdConverter)
    app.url_value_preprocessor(refuse_odd_values)
