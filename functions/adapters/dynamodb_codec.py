"""Plain Python values <-> DynamoDB attribute values, the compact binary paths, and the checks on the way in.

Shared by the store and its in-memory twin (:class:`forescale_tools.memory.InMemoryItems` stores what
:func:`to_item` would send), so both coerce and refuse alike: floats are stored as exact decimal text, never
``Decimal``; a number that is not finite is refused naming the field.
"""

from __future__ import annotations

import math
import zlib
from array import array
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from functions.adapters._timefmt import epoch_seconds, iso, parse_iso


def to_attribute(value: Any) -> dict[str, Any]:
    """Python value → DynamoDB attribute value (floats as exact decimal text, never Decimal objects)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"value: {value} cannot be stored (DynamoDB numbers are finite)")
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_attribute(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(v) for v in value]}
    raise TypeError(f"value: type {type(value).__name__} cannot be stored")


def from_attribute(attribute: Mapping[str, Any]) -> Any:
    """DynamoDB attribute value → Python value (``N`` → int when integral text, else float)."""
    ((kind, value),) = attribute.items()
    if kind == "NULL":
        return None
    if kind == "BOOL":
        return bool(value)
    if kind == "N":
        text = str(value)
        return int(text) if text.lstrip("-").isdigit() else float(text)
    if kind == "S":
        return str(value)
    if kind == "B":
        return bytes(value)
    if kind == "M":
        return {k: from_attribute(v) for k, v in value.items()}
    if kind == "L":
        return [from_attribute(v) for v in value]
    raise TypeError(f"attribute type {kind} is not used by forescale")


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: to_attribute(v) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: from_attribute(v) for k, v in item.items()}


def pack_floats(values: Sequence[float]) -> bytes:
    return array("d", values).tobytes()


def unpack_floats(blob: bytes) -> tuple[float, ...]:
    out = array("d")
    out.frombytes(blob)
    return tuple(out)


def pack_text(text: str) -> bytes:
    return zlib.compress(text.encode(), 6)


def unpack_text(blob: bytes) -> str:
    return zlib.decompress(bytes(blob)).decode()


def pack_times(values: Sequence[datetime]) -> bytes:
    return array("q", (epoch_seconds(v, "ds") for v in values)).tobytes()


def unpack_times(blob: bytes) -> tuple[datetime, ...]:
    out = array("q")
    out.frombytes(blob)
    return tuple(datetime.fromtimestamp(v, UTC) for v in out)


def optional_iso(value: datetime | None, field: str) -> str | None:
    return None if value is None else iso(value, field)


def optional_time(value: str | None) -> datetime | None:
    return None if value is None else parse_iso(value)


def finite(value: Any, field: str) -> float:
    """``value`` as a float, refused (naming ``field``) unless a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{field}: must be a finite number, got {value!r}")
    return float(value)


def optional_finite(value: Any, field: str) -> float | None:
    return None if value is None else finite(value, field)
