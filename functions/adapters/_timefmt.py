"""Time formats shared by the adapters and their twins (one place, so both sort and parse alike)."""

from __future__ import annotations

from datetime import UTC, datetime

from functions.ports.times import require_aware


def iso(value: datetime, field: str = "time") -> str:
    """Fixed-width UTC ISO text (``2026-11-22T08:43:07.000000Z``): sorts as it is chronological."""
    return require_aware(value, field).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """Inverse of :func:`iso` (accepts any ISO-8601 text with a zone)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def epoch_seconds(value: datetime, field: str = "time") -> int:
    """Whole epoch seconds, the unit of DynamoDB TTL attributes."""
    return int(require_aware(value, field).timestamp())
