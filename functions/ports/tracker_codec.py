"""Binary form of the decider's forecast record (``ForecastTracker.to_state()``), compact and exact.

The record is mostly two long arrays (up to ``max_samples`` ratios and the time each was observed:
20,160 of each for a default target, 7 days of 5-minute decisions over 10-minute windows). As JSON
that is about 800 KB; here every number keeps its exact float64 / int64 value and::

    blob = zlib( b"FTS1" | u32 header length | header JSON | int64 block | float64 block )

- the header holds the settings, the length of every array and the few per-window error sums the
  confidence is measured from (``scores``, exact as JSON numbers);
- the int64 block holds every time stamp (pending forecasts, then the ring), each array delta-coded
  (forecast steps are evenly spaced, so the deltas repeat and compress to almost nothing);
- the float64 block holds every float (pending medians, ring ratios, recent ratios) byte-shuffled
  (all first bytes, then all second bytes, ...), so that the sign, exponent and leading mantissa
  bytes, nearly constant for ratios around 1, compress well: about 6.6 bytes per ratio.

:func:`decode` raises ``ValueError`` naming what is wrong with a blob that is not such a record.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

MAGIC = b"FTS1"
#: a stored record never holds more numbers than this (about 100 MB decoded): refuse larger claims
MAX_VALUES = 6_000_000


def _shuffle(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values.astype("<f8").view(np.uint8).reshape(-1, 8).T).tobytes()


def _unshuffle(blob: bytes, count: int) -> np.ndarray:
    planes = np.frombuffer(blob, dtype=np.uint8).reshape(8, count)
    return np.ascontiguousarray(planes.T).view("<f8").reshape(-1).astype(float)


def _delta(values: np.ndarray) -> np.ndarray:
    return np.diff(values.astype(np.int64), prepend=np.int64(0))


def encode(state: Mapping[str, Any]) -> bytes:
    """``ForecastTracker.to_state()`` -> compressed bytes (every value exact)."""
    pending = state["pending"]
    recent = state["recent"]
    ints: list[np.ndarray] = []
    floats: list[np.ndarray] = []
    pending_meta = []
    for stamps, p50, bias, ends in pending:
        stamps_a, p50_a = np.asarray(stamps, dtype=np.int64), np.asarray(p50, dtype=float)
        ints.append(_delta(stamps_a))
        floats.append(p50_a)
        pending_meta.append([len(stamps_a), len(p50_a), float(bias), int(ends)])
    ring_stamps = np.asarray(state["stamps"], dtype=np.int64)
    ring_ratios = np.asarray(state["ratios"], dtype=float)
    ints.append(_delta(ring_stamps))
    floats.append(ring_ratios)
    recent_meta = []
    for ends, ratios in recent:
        ratios_a = np.asarray(ratios, dtype=float)
        floats.append(ratios_a)
        recent_meta.append([int(ends), len(ratios_a)])
    header = {
        "settings": dict(state["settings"]),
        "pending": pending_meta,
        "ring": [len(ring_stamps), len(ring_ratios)],
        "recent": recent_meta,
        "scores": _scores(state.get("scores", [])),
    }
    header_bytes = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    int_block = np.concatenate(ints).astype("<i8").tobytes() if ints else b""
    float_values = np.concatenate(floats) if floats else np.empty(0)
    body = MAGIC + struct.pack("<I", len(header_bytes)) + header_bytes + int_block + _shuffle(float_values)
    return zlib.compress(body, 6)


def _scores(rows: Any) -> list[list[Any]]:
    """``[window end ns, forecast error sum, seasonal naive error sum, steps(, load sum, issued error sum)]``
    rows, typed (records stored before the last two have four)."""
    typed: list[list[Any]] = []
    for ends, forecast, naive, steps, *issued in rows:
        if len(issued) not in (0, 2):
            raise ValueError(f"a scores row has {4 + len(issued)} values, not 4 or 6")
        typed.append([int(ends), float(forecast), float(naive), int(steps), *(float(v) for v in issued)])
    return typed


def _take(header: Mapping[str, Any]) -> tuple[int, int]:
    """(int64 count, float64 count) the header announces."""
    ints = sum(int(n) for n, _, _, _ in header["pending"]) + int(header["ring"][0])
    floats = (
        sum(int(m) for _, m, _, _ in header["pending"])
        + int(header["ring"][1])
        + sum(int(n) for _, n in header["recent"])
    )
    return ints, floats


def decode(blob: bytes) -> dict[str, Any]:
    """Compressed bytes -> the ``to_state()`` data; ``ValueError`` naming the fault when malformed."""
    try:
        body = zlib.decompressobj().decompress(blob, 8 * (2 * MAX_VALUES) + 1_000_000)
    except zlib.error as exc:
        raise ValueError(f"tracker state: not zlib data ({exc})") from exc
    if body[:4] != MAGIC or len(body) < 8:
        raise ValueError("tracker state: unknown format (no FTS1 header)")
    (header_length,) = struct.unpack("<I", body[4:8])
    try:
        header = json.loads(body[8 : 8 + header_length])
        int_count, float_count = _take(header)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"tracker state: header is malformed ({exc})") from exc
    if min(int_count, float_count) < 0 or int_count + float_count > MAX_VALUES:
        raise ValueError(f"tracker state: header announces {int_count} + {float_count} values")
    start = 8 + header_length
    if len(body) != start + 8 * (int_count + float_count):
        raise ValueError(
            f"tracker state: {len(body) - start} bytes of values for {int_count} + {float_count} announced"
        )
    ints = np.frombuffer(body[start : start + 8 * int_count], dtype="<i8").astype(np.int64)
    floats = _unshuffle(body[start + 8 * int_count :], float_count)
    int_at = float_at = 0
    pending = []
    for n, m, bias, ends in header["pending"]:
        stamps = np.cumsum(ints[int_at : int_at + n])
        p50 = floats[float_at : float_at + m]
        int_at, float_at = int_at + n, float_at + m
        pending.append([stamps.tolist(), p50.tolist(), bias, ends])
    n_ring, m_ring = header["ring"]
    ring_stamps = np.cumsum(ints[int_at : int_at + n_ring])
    ring_ratios = floats[float_at : float_at + m_ring]
    float_at += m_ring
    recent = []
    for ends, n in header["recent"]:
        recent.append([ends, floats[float_at : float_at + n].tolist()])
        float_at += n
    try:
        scores = _scores(header.get("scores", []))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"tracker state: scores are malformed ({exc})") from exc
    return {
        "settings": header["settings"],
        "pending": pending,
        "ratios": ring_ratios.tolist(),
        "stamps": ring_stamps.tolist(),
        "recent": recent,
        "scores": scores,
    }
