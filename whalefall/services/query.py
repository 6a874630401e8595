"""The query helpers every service shares: one way to page, one escaped LIKE, one count of changed rows."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from sqlalchemy import CursorResult, Delete, Insert, Select, String, Update, cast, func, or_, select
from sqlalchemy.orm import Session

T = TypeVar("T")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_pattern(text: str) -> str:
    """``%text%`` in lower case, with LIKE's wildcards escaped (use ``escape="\\\\"``)."""
    return "%" + _escape_like(text.lower()) + "%"


def contains(column: Any, text: str) -> Any:
    """Case-insensitive "column contains text", the same on every database."""
    return func.lower(column).like(like_pattern(text), escape="\\")


def has_tag(column: Any, tag: str) -> Any:
    """A JSON list column holds ``tag``, the same on every database: its JSON text holds the quoted tag.

    Both spellings of non-ASCII text are looked for: escaped as SQLAlchemy writes it, and raw as
    MySQL 8 returns its normalised JSON.
    """
    text = cast(column, String)
    forms = dict.fromkeys((json.dumps(tag), json.dumps(tag, ensure_ascii=False)))
    return or_(*(text.like("%" + _escape_like(form) + "%", escape="\\") for form in forms))


def paginate(
    session: Session, query: Select[T], *order: Any, page: int, per_page: int
) -> tuple[list[T], int]:
    """One page of ``query`` in ``order`` and the total count."""
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(*order).limit(per_page).offset((page - 1) * per_page))
    return list(rows), total


def changed_rows(
    session: Session, statement: Update | Delete | Insert, params: dict[str, Any] | None = None
) -> int:
    """Execute a bulk UPDATE or DELETE (or an INSERT … SELECT); the number of rows it matched.

    The count is what makes a conditional UPDATE a safe transition ("require one changed row").
    """
    result = session.execute(statement, params)
    # Session.execute is typed as returning a Result; an UPDATE or DELETE yields its CursorResult.
    assert isinstance(result, CursorResult)
    return result.rowcount
