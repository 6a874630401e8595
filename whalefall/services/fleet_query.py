"""Small query helpers the fleet's read services share: pages and escaped LIKE patterns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


def like_pattern(text: str) -> str:
    """``%text%`` in lower case, with LIKE's wildcards escaped (use ``escape="\\\\"``)."""
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def contains(column: Any, text: str) -> Any:
    """Case-insensitive "column contains text", the same on every database."""
    return func.lower(column).like(like_pattern(text), escape="\\")


def paginate(session: Session, query: Select, *order: Any, page: int, per_page: int) -> tuple[list[Any], int]:
    """One page of ``query`` in ``order`` and the total count."""
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(*order).limit(per_page).offset((page - 1) * per_page))
    return list(rows), total
