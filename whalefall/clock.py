"""Time behind one seam: every aware "now" in the product comes from here."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Interpret a naive value read back from a database as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def local_text(value: datetime | None, timezone: str) -> str | None:
    """``YYYY-MM-DD HH:MM:SS`` in ``timezone``, the API's display form."""
    if value is None:
        return None
    return as_utc(value).astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M:%S")


def iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()
