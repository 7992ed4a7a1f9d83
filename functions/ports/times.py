"""Time checks the records share with the adapters (one place, so both refuse alike)."""

from __future__ import annotations

from datetime import UTC, datetime


def require_aware(value: datetime, field: str) -> datetime:
    """``value`` in UTC; a naive datetime is refused because its zone would be a guess."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field}: needs a timezone-aware datetime")
    return value.astimezone(UTC)
