"""Reading load traces: CSV with a header ``timestamp,value`` (the format of the replay).

ISO-8601 timestamps, UTC when no offset is given, one row per step at a fixed step. A missing row is
a gap (unknown load), never zero. Rejections name the line and the reason; the input is never
silently repaired except for what is documented here:

- rows may come unsorted: they are sorted;
- an exact duplicate row is dropped; two rows with the same timestamp and different values are an error;
- an empty ``value`` or ``NaN`` is a gap;
- the step is the most common spacing; a timestamp off that grid is an error, and so is a grid longer
  than :data:`MAX_GRID_STEPS` (one stray far-away timestamp would otherwise ask for terabytes);
- timestamps without an offset that follow a daylight-saving change are an error, not UTC: the file going
  back in time onto an hour it already gave (clocks back), or an hour missing exactly where a time zone
  skips one (clocks forward). Give each timestamp its offset (``Z`` for UTC) to read such a file.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

#: Traces larger than this are refused before parsing (10 years of 1-minute data is ~150 MB).
MAX_TRACE_BYTES = 200 * 1024 * 1024
MAX_VALUE = 1e15
#: Timestamps pandas can hold (nanoseconds since 1970 in 64 bits), with a day to spare at each end.
FIRST_TIME = datetime(1677, 9, 23)
LAST_TIME = datetime(2262, 4, 10)
#: The grid (gaps included) is refused beyond this many steps, before it is allocated: 20 years of minutes.
MAX_GRID_STEPS = 20 * 366 * 1440
#: Steps forescale forecasts and scales on: CloudWatch periods (multiples of 60 s) up to an hour, dividing a
#: day (the engine's daily season needs at least two steps per day, and its hourly blocks a step within one).
MIN_STEP_SECONDS, MAX_STEP_SECONDS = 60, 3600
#: Time zones whose clocks-forward hour is looked for in an hour-long gap of timestamps without an offset.
DST_ZONES = (
    "Europe/London", "Europe/Paris", "Europe/Helsinki", "America/New_York", "America/Chicago", "America/Denver",
    "America/Los_Angeles", "America/Santiago", "Australia/Sydney", "Pacific/Auckland", "Asia/Jerusalem",
)  # fmt: skip
_HINT = "give each timestamp its UTC offset (e.g. 2024-10-27T02:30:00+01:00) or write them in UTC with Z"


class TraceError(ValueError):
    """The trace is malformed; the message names the line or field and the reason."""


@dataclass(frozen=True)
class Trace:
    """A load series on a regular grid: ``ds`` (tz-naive UTC), ``y`` (NaN where the load is unknown)."""

    ds: pd.DatetimeIndex
    y: np.ndarray
    step_seconds: int
    name: str = "trace"

    @property
    def frame(self) -> pd.DataFrame:
        """Nixtla long frame ``unique_id, ds, y`` with gaps as missing rows."""
        known = ~np.isnan(self.y)
        return pd.DataFrame({"unique_id": self.name, "ds": self.ds[known], "y": self.y[known]})

    def __len__(self) -> int:
        return len(self.ds)


def check_step(step_seconds: int) -> None:
    """Refuse a step forescale does not forecast on, naming the supported range."""
    if not (MIN_STEP_SECONDS <= step_seconds <= MAX_STEP_SECONDS and step_seconds % 60 == 0 and
            86_400 % step_seconds == 0):  # fmt: skip
        raise TraceError(
            f"trace: step {step_seconds} s is not supported: forescale works on steps from {MIN_STEP_SECONDS} s to "
            f"{MAX_STEP_SECONDS} s, whole minutes dividing a day (resample the trace to one)"
        )


@cache
def _zones() -> tuple[ZoneInfo, ...]:
    out = []
    for name in DST_ZONES:
        try:
            out.append(ZoneInfo(name))
        except ZoneInfoNotFoundError:  # a host without the time zone database: nothing to compare with
            continue
    return tuple(out)


def _skipped_by(wall: datetime) -> str | None:
    """A time zone in which the wall-clock time ``wall`` never happens (clocks forward), or None."""
    for zone in _zones():
        there = wall.replace(tzinfo=zone)
        if there.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
            return str(zone)
    return None


def _clocks_back(line: int, stamp: datetime, previous: datetime | None, seen: dict[datetime, float]) -> None:
    """A row without an offset that goes back (at most an hour) onto a time already given: an autumn repeat."""
    if previous is not None and stamp in seen and timedelta(0) < previous - stamp <= timedelta(hours=1):
        raise TraceError(
            f"line {line}: timestamp {stamp:%Y-%m-%d %H:%M:%S} goes back to an hour already given: local time across "
            f"a daylight-saving change (clocks back)? Timestamps without an offset are read as UTC; {_HINT}"
        )


def _clocks_forward(naive: dict[datetime, int], step: int) -> None:
    """Rows without an offset (``stamp -> line``) around a gap of exactly the hour a time zone skips in spring."""
    if step >= 3600:
        return
    gap = timedelta(hours=1, seconds=step)
    for before, after in itertools.pairwise(sorted(naive)):
        zone = _skipped_by(before + timedelta(seconds=step)) if after - before == gap else None
        if zone is not None:
            raise TraceError(
                f"line {naive[after]}: timestamp {after:%Y-%m-%d %H:%M:%S} follows a missing hour that {zone} skips "
                f"at a daylight-saving change (clocks forward): local time? Timestamps without an offset are read "
                f"as UTC; {_HINT}"
            )


def _parse_time(text: str, line: int) -> tuple[datetime, bool]:
    """(tz-naive UTC time, whether the text gave no offset)."""
    try:
        stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        naive = stamp.tzinfo is None
        if not naive:
            stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError) as exc:
        raise TraceError(f"line {line}: timestamp {text!r} is not ISO-8601") from exc
    if not FIRST_TIME <= stamp <= LAST_TIME:
        raise TraceError(f"line {line}: timestamp {text!r} is outside {FIRST_TIME:%Y-%m-%d} to {LAST_TIME:%Y-%m-%d}")
    return stamp, naive


def _parse_value(text: str, line: int) -> float:
    if text.strip() == "" or text.strip().lower() == "nan":
        return math.nan
    try:
        value = float(text)
    except ValueError as exc:
        raise TraceError(f"line {line}: value {text!r} is not a number") from exc
    if math.isinf(value) or abs(value) > MAX_VALUE:
        raise TraceError(f"line {line}: value {text!r} is out of range")
    if value < 0:
        raise TraceError(f"line {line}: value {value} is negative; load cannot be negative")
    return value


def parse_trace(text: str, *, name: str = "trace") -> Trace:
    """Parse the CSV text of a trace onto its regular grid (see the module docstring for the rules)."""
    if len(text) > MAX_TRACE_BYTES:
        raise TraceError(f"trace: {len(text)} bytes is over the {MAX_TRACE_BYTES} byte limit")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise TraceError(f"line 1: not valid CSV ({exc})") from exc
    if header is None or [h.strip().lower() for h in header[:2]] != ["timestamp", "value"]:
        raise TraceError("line 1: header must be 'timestamp,value'")
    rows: dict[datetime, float] = {}
    naive: dict[datetime, int] = {}  # rows without an offset: stamp -> line
    previous: datetime | None = None
    try:
        numbered = list(enumerate(reader, start=2))
    except csv.Error as exc:
        raise TraceError(f"line {reader.line_num}: not valid CSV ({exc})") from exc
    for line, row in numbered:
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != 2:
            raise TraceError(f"line {line}: expected 2 columns (timestamp,value), got {len(row)}")
        (stamp, no_offset), value = _parse_time(row[0], line), _parse_value(row[1], line)
        if no_offset:
            _clocks_back(line, stamp, previous, rows)
            naive[stamp] = line
        previous = stamp
        if stamp in rows and not (rows[stamp] == value or (math.isnan(rows[stamp]) and math.isnan(value))):
            raise TraceError(f"line {line}: timestamp {row[0]} appears twice with different values")
        rows[stamp] = value
    if len(rows) < 2:
        raise TraceError("trace: needs at least 2 rows")
    stamps = sorted(rows)
    deltas = Counter(int((b - a).total_seconds()) for a, b in itertools.pairwise(stamps))
    step = deltas.most_common(1)[0][0]
    if step <= 0:
        raise TraceError("trace: timestamps must advance")
    _clocks_forward(naive, step)
    start = stamps[0]
    positions = {}
    for stamp in stamps:
        offset = (stamp - start).total_seconds()
        if offset % step:
            raise TraceError(f"timestamp: {stamp.isoformat()} is off the {step}-second grid starting {start}")
        positions[stamp] = int(offset // step)
    n = positions[stamps[-1]] + 1
    if n > MAX_GRID_STEPS:
        raise TraceError(
            f"trace: {n} steps of {step} s from {start} to {stamps[-1]} is over the {MAX_GRID_STEPS} step limit "
            "(a timestamp far from the others?)"
        )
    y = np.full(n, np.nan)
    for stamp, value in rows.items():
        y[positions[stamp]] = value
    ds = pd.date_range(start=start, periods=n, freq=pd.Timedelta(seconds=step))
    return Trace(ds=ds, y=y, step_seconds=step, name=name)


def read_trace(path: str | Path, *, name: str | None = None) -> Trace:
    """Read a ``timestamp,value`` CSV file; refuses files over :data:`MAX_TRACE_BYTES` before reading."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_TRACE_BYTES:
        raise TraceError(f"trace: {path} is {size} bytes, over the {MAX_TRACE_BYTES} byte limit")
    return parse_trace(path.read_text(encoding="utf-8-sig"), name=name or path.stem)


def write_trace(trace: Trace, path: str | Path) -> None:
    """Write a trace as ``timestamp,value``; gaps are written with an empty value so the grid survives."""
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value"])
        for stamp, value in zip(trace.ds, trace.y, strict=True):
            writer.writerow([stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), "" if math.isnan(value) else repr(float(value))])
