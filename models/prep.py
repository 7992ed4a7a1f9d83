"""Turning a long history frame into one regular grid per target, and filling it for the models.

What is handled, and how (everything else is rejected with a :class:`HistoryError` naming the field):

- rows at or after ``now`` are dropped (no look-ahead);
- unsorted rows are sorted; several rows in one grid slot (duplicates, or irregular steps snapped
  to the nearest point of the target's grid) are averaged; the grid's phase is the circular mean
  offset of the target's timestamps from multiples of ``step_seconds``, to the whole minute (a grid at
  :02, :07 stays there; jitter of a few seconds does not move it);
- ``NaN`` / empty ``y`` and missing rows are gaps (unknown load, never zero);
- negative or infinite ``y`` cannot be load: they become gaps and are counted in :class:`DataReport`;
- tz-aware ``ds`` is converted to UTC; tz-naive ``ds`` is taken as UTC;
- histories longer than ``max_history_days`` are cut to their newest part (bounded cost).

Models get a gap-free copy (:func:`fill_gaps`): short gaps interpolated, long gaps filled from the
same time one day earlier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("unique_id", "ds", "y")


class HistoryError(ValueError):
    """The history frame cannot be used; the message names the column and the reason."""


@dataclass
class DataReport:
    """What preparation had to repair, per target, so callers can log or alert on it."""

    dropped_future_rows: int = 0
    invalid_values: dict[str, int] = field(default_factory=dict)
    merged_rows: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class GridSeries:
    """One target on a regular grid: position ``i`` is at ``t0 + i * step`` Unix seconds; NaN = unknown."""

    unique_id: str
    t0: int
    step: int
    y: np.ndarray

    @property
    def t_last(self) -> int:
        return self.t0 + (len(self.y) - 1) * self.step

    @property
    def known_days(self) -> float:
        return float(np.count_nonzero(~np.isnan(self.y))) * self.step / 86_400

    def times(self) -> np.ndarray:
        return self.t0 + self.step * np.arange(len(self.y), dtype=np.int64)

    def head(self, n: int) -> GridSeries:
        """The first ``n`` positions (an earlier view of the same history)."""
        return GridSeries(self.unique_id, self.t0, self.step, self.y[:n])

    def tail_days(self, days: float) -> GridSeries:
        keep = int(days * 86_400 // self.step)
        if len(self.y) <= keep:
            return self
        cut = len(self.y) - keep
        return GridSeries(self.unique_id, self.t0 + cut * self.step, self.step, self.y[cut:])


def to_unix_seconds(stamp: datetime | pd.Timestamp | np.datetime64) -> int:
    """UTC Unix seconds of a timestamp (naive means UTC)."""
    ts = pd.Timestamp(stamp)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int(ts.as_unit("ns").value // 1_000_000_000)


def from_unix_seconds(seconds: np.ndarray | int) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(np.asarray(seconds, dtype=np.int64)), unit="s")).as_unit("ns")


def _ds_seconds(ds: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(ds) and getattr(ds.dt, "tz", None) is None:
        values = ds.to_numpy()
        if np.isnat(values).any():
            raise HistoryError(f"ds: {int(np.isnat(values).sum())} missing timestamps")
        return np.asarray(values.astype("datetime64[s]").astype(np.int64))
    try:
        stamps = pd.to_datetime(ds)
    except (ValueError, TypeError) as exc:
        raise HistoryError(f"ds: not datetimes ({exc})") from exc
    if stamps.isna().any():
        raise HistoryError(f"ds: {int(stamps.isna().sum())} missing timestamps")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return np.asarray(stamps.astype("datetime64[s]").astype(np.int64))


def to_grid(
    history: pd.DataFrame,
    *,
    step_seconds: int,
    now: datetime,
    max_history_days: float = 28.0,
    report: DataReport | None = None,
) -> dict[str, GridSeries]:
    """Regular grids of every target in ``history`` using only rows with ``ds < now``."""
    if not isinstance(history, pd.DataFrame):
        raise HistoryError(f"history: expected a pandas DataFrame, got {type(history).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in history.columns]
    if missing:
        raise HistoryError(f"{missing[0]}: missing column (history needs {', '.join(REQUIRED_COLUMNS)})")
    if step_seconds <= 0:
        raise HistoryError(f"step_seconds: must be positive, got {step_seconds}")
    report = report if report is not None else DataReport()
    if history.empty:
        return {}
    seconds = _ds_seconds(history["ds"])
    if pd.api.types.is_numeric_dtype(history["y"]) and not pd.api.types.is_bool_dtype(history["y"]):
        y = np.array(history["y"].to_numpy(dtype=float, na_value=np.nan), dtype=float)
    else:
        y_raw = pd.to_numeric(history["y"], errors="coerce")
        suspect = y_raw.isna() & history["y"].notna()
        if suspect.any():
            text = history["y"][suspect].astype(str).str.strip().str.lower()
            bad_values = history["y"][suspect][~text.isin(["", "nan", "none", "<na>"])]
            if len(bad_values):
                raise HistoryError(f"y: {len(bad_values)} values are not numbers (first: {bad_values.iloc[0]!r})")
        y = y_raw.to_numpy(dtype=float, na_value=np.nan).copy()
    uid_column = history["unique_id"]
    uid = uid_column.to_numpy() if uid_column.dtype == object else uid_column.astype(str).to_numpy()
    uid = np.asarray([str(u) for u in uid]) if len(uid) and not isinstance(uid[0], str) else uid

    cutoff = to_unix_seconds(now)
    future = seconds >= cutoff
    report.dropped_future_rows += int(future.sum())
    seconds, y, uid = seconds[~future], y[~future], uid[~future]

    invalid = ~np.isfinite(y) & ~np.isnan(y) | (y < 0)
    if invalid.any():
        for name, count in zip(*np.unique(uid[invalid], return_counts=True), strict=True):
            report.invalid_values[str(name)] = report.invalid_values.get(str(name), 0) + int(count)
        y[invalid] = np.nan

    # each target's grid keeps its own phase (the most common offset from the epoch grid, e.g. :02, :07)
    codes, names = pd.factorize(uid)
    angle = 2 * np.pi * (seconds % step_seconds) / step_seconds
    mean_angle = np.arctan2(
        np.bincount(codes, weights=np.sin(angle), minlength=len(names)),
        np.bincount(codes, weights=np.cos(angle), minlength=len(names)),
    )
    resolution = 60 if step_seconds % 60 == 0 else 1
    phase_by_code = (np.rint(mean_angle % (2 * np.pi) / (2 * np.pi) * step_seconds / resolution) * resolution).astype(
        np.int64
    ) % step_seconds
    phase = phase_by_code[codes]
    # nearest grid slot, but never the slot of ``now`` or later: a row just before now stays in the past
    last_past_slot = -(-(cutoff - phase) // step_seconds) - 1
    slots = np.minimum(np.rint((seconds - phase) / step_seconds).astype(np.int64), last_past_slot)
    frame = pd.DataFrame({"uid": uid, "slot": slots, "y": y})
    phase_of = {str(n): int(p) for n, p in zip(names, phase_by_code, strict=True)}
    grouped = frame.groupby(["uid", "slot"], sort=True)["y"]
    merged = grouped.mean()
    counts = grouped.size()
    out: dict[str, GridSeries] = {}
    max_slots = int(max_history_days * 86_400 // step_seconds)
    for name, part in merged.groupby(level=0, sort=False):
        slot_index = part.index.get_level_values(1).to_numpy()
        extra = int(np.sum(np.asarray(counts.loc[name])) - len(slot_index))
        if extra:
            report.merged_rows[str(name)] = extra
        first, last = int(slot_index[0]), int(slot_index[-1])
        first = max(first, last - max_slots + 1)
        grid = np.full(last - first + 1, np.nan)
        keep = slot_index >= first
        grid[slot_index[keep] - first] = part.to_numpy()[keep]
        out[str(name)] = GridSeries(str(name), first * step_seconds + phase_of[str(name)], step_seconds, grid)
    return out


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """For each True position, the length of the run of Trues it belongs to (0 elsewhere)."""
    out = np.zeros(len(mask), dtype=np.int64)
    if not mask.any():
        return out
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        out[start:stop] = stop - start
    return out


def fill_gaps(y: np.ndarray, season: int, short_gap: int) -> np.ndarray:
    """A gap-free copy: gaps up to ``short_gap`` steps interpolated, longer ones from one season before.

    Leading unknown values take the first known value; a series with no known value is all zeros.
    """
    out = np.array(y, dtype=float)
    missing = np.isnan(out)
    if not missing.any():
        return out
    if missing.all():
        return np.zeros_like(out)
    runs = _run_lengths(missing)
    long_gap = missing & (runs > short_gap)
    if long_gap.any() and season < len(out):
        for i in np.flatnonzero(long_gap):
            if i >= season and not np.isnan(out[i - season]):
                out[i] = out[i - season]
    series = pd.Series(out)
    return np.asarray(series.interpolate(limit_direction="both").to_numpy(dtype=float))


def season_steps(step_seconds: int) -> int:
    """Steps in one day (the daily season), at least 1."""
    return max(1, round(86_400 / step_seconds))
