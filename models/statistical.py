"""The statistical family, per target: fitted once by the trainer, applied cheaply to newer data.

Measured on this machine (14 days at 5 min, see models/README.md): statsforecast's MSTL on the
5-minute series costs ~0.7 s (daily) and ~10 s (daily + weekly), AutoTheta ~3.4 s, AutoETS with a
288-step season 14-24 s. So the seasonal structure is estimated where it is cheap:

- ``MSTL``: statsforecast's ``mstl`` decomposition of the *hourly* means (seasons 24 h and, with
  two weeks of history, 168 h; ~60 ms) gives the daily and weekly seasonal components; the
  sub-hour shape is the mean 5-minute deviation from the hourly mean per time of day over the last
  week, applied at the size the last 12 hours show (:func:`detail_amplitude`); the trend is forecast
  by ``AutoETS(model="ZZN")`` on the hourly deseasonalised series (MSTL's own default).
- ``AutoTheta``: the same deseasonalised hourly series forecast by statsforecast's AutoTheta.
- ``AutoETS``: statsforecast's AutoETS (ZZN) on the deseasonalised series at 5-minute resolution
  (the last 3 days), which tracks the current level best for the next hour; its trend is followed for
  that hour only, then the level is held (``ETS_TREND_SECONDS``).
- ``SeasonalNaive`` and ``SeasonalWindowAverage`` (mean of the same time on the last 7 days):
  the definitions of statsforecast's models of those names, computed directly with numpy.

"Apply" re-runs only the fitted filters (``forward``) on the newest data: about a millisecond.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.prep import season_steps

WEEK_SECONDS = 7 * 86_400
STAT_MODELS: tuple[str, ...] = ("Naive", "SeasonalNaive", "SeasonalWindowAverage", "MSTL", "AutoETS", "AutoTheta")
SWA_WINDOW_DAYS = 7
FINE_DAYS = 3
#: AutoETS's trend (fitted at 5 minutes) is followed this far ahead, then its level is held
ETS_TREND_SECONDS = 3600
#: the sub-hour shape's current size is measured over this many seconds ...
DETAIL_WINDOW_SECONDS = 12 * 3600
#: ... and kept within [0, this] times the fitted shape
DETAIL_AMPLITUDE_MAX = 1.5


def block_steps(step: int, seconds: int) -> int:
    return max(1, round(seconds / step)) if step <= seconds else 1


def end_aligned_blocks(values: np.ndarray, size: int) -> np.ndarray:
    """Means of consecutive blocks of ``size`` ending at the last value (a partial first block is dropped)."""
    n = len(values) // size
    if n == 0:
        return np.asarray(values[-1:], dtype=float)
    return np.asarray(values[len(values) - n * size :].reshape(n, size).mean(axis=1))


def seasonal_naive(y: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """statsforecast's SeasonalNaive: the value one season (or whole seasons) before each future step."""
    n = len(y)
    h = np.arange(1, horizon + 1)
    index = n - 1 + h - season * np.ceil(h / season).astype(np.int64)
    index = np.where(index < 0, n - 1, index)
    return np.asarray(y[index], dtype=float)


def seasonal_window_average(y: np.ndarray, horizon: int, season: int, window: int = SWA_WINDOW_DAYS) -> np.ndarray:
    """statsforecast's SeasonalWindowAverage: mean of the same season position over the last ``window`` seasons."""
    n = len(y)
    h = np.arange(1, horizon + 1)
    first_k = np.ceil(h / season).astype(np.int64)
    total = np.zeros(horizon)
    count = np.zeros(horizon)
    for extra in range(window):
        index = n - 1 + h - season * (first_k + extra)
        ok = index >= 0
        total[ok] += y[index[ok]]
        count[ok] += 1
    fallback = seasonal_naive(y, horizon, season)
    return np.where(count > 0, total / np.maximum(count, 1), fallback)


@dataclass
class StatState:
    """Fitted statistical models of one target (picklable: statsforecast models are plain objects)."""

    step: int
    seasonal_by_slot: np.ndarray  # length = steps per week, indexed by (t // step) % len
    mstl_trend: Any | None
    theta_trend: Any | None
    ets_fine: Any | None
    seasons: tuple[int, ...]
    #: the sub-hour shape (mean deviation from the hourly mean per step of the day), part of ``seasonal_by_slot``
    detail_by_slot: np.ndarray | None = None

    def seasonal_at(self, times: np.ndarray) -> np.ndarray:
        return np.asarray(self.seasonal_by_slot[(times // self.step) % len(self.seasonal_by_slot)])


def _quiet_fit(model: Any, y: np.ndarray) -> Any | None:
    """Fit a statsforecast model; None when the series is too short or degenerate for it."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return model.fit(y=np.ascontiguousarray(y, dtype=float))
    except (ValueError, ZeroDivisionError, np.linalg.LinAlgError, FloatingPointError):
        return None


def _quiet_forward(model: Any, y: np.ndarray, h: int) -> np.ndarray | None:
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = model.forward(y=np.ascontiguousarray(y, dtype=float), h=h)["mean"]
    except (ValueError, ZeroDivisionError, np.linalg.LinAlgError, FloatingPointError):
        return None
    out = np.asarray(out, dtype=float)
    return out if np.all(np.isfinite(out)) else None


def fit_stat(y: np.ndarray, t0: int, step: int) -> StatState:
    """Fit the statistical family on a gap-free series ``y`` whose first value is at Unix second ``t0``."""
    from statsforecast.models import AutoETS, AutoTheta
    from statsforecast.mstl import mstl

    day = season_steps(step)
    week = 7 * day
    hour_block = block_steps(step, 3600)
    times = t0 + step * np.arange(len(y), dtype=np.int64)
    per_day = max(1, round(86_400 / (hour_block * step)))
    hourly = end_aligned_blocks(y, hour_block)
    hourly_t = end_aligned_blocks(times.astype(float), hour_block)
    seasons: list[int] = []
    if len(hourly) >= 2 * per_day + 1:
        seasons.append(per_day)
    if len(hourly) >= 2 * 7 * per_day + 1:
        seasons.append(7 * per_day)
    seasonal = np.zeros(week)
    slot_times = np.arange(week, dtype=float) * step
    if seasons and np.ptp(hourly) > 0:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            decomposition = mstl(np.ascontiguousarray(hourly), seasons if len(seasons) > 1 else seasons[0])
        for period in seasons:
            column = f"seasonal{period}" if f"seasonal{period}" in decomposition.columns else "seasonal"
            component = decomposition[column].to_numpy(dtype=float)[-period:]
            period_seconds = 86_400 if period == per_day else WEEK_SECONDS
            phase = hourly_t[-period:] % period_seconds
            seasonal += np.interp(slot_times % period_seconds, phase, component, period=period_seconds)
    if hour_block > 1 and len(y) >= day:
        recent = y[-min(len(y), SWA_WINDOW_DAYS * day) :]
        recent_t = times[-len(recent) :]
        slot = (recent_t // step) % day
        detail = np.bincount(slot, weights=recent - _hourly_smooth(recent, hour_block), minlength=day) / np.maximum(
            np.bincount(slot, minlength=day), 1
        )
        detail -= detail.mean()
        seasonal += np.tile(detail, 7)
    else:
        detail = None
    state = StatState(step, seasonal, None, None, None, tuple(seasons), detail)
    deseasonalised = y - state.seasonal_at(times)
    hourly_sa = end_aligned_blocks(deseasonalised, hour_block)
    if len(hourly_sa) >= 2 * per_day:
        state.mstl_trend = _quiet_fit(AutoETS(model="ZZN"), hourly_sa)
        state.theta_trend = _quiet_fit(AutoTheta(), hourly_sa)
    fine = end_aligned_blocks(deseasonalised[-FINE_DAYS * day :], block_steps(step, 300))
    if len(fine) >= 24:
        state.ets_fine = _quiet_fit(AutoETS(model="ZZN"), fine)
    return state


def _hourly_smooth(values: np.ndarray, hour_block: int) -> np.ndarray:
    """Centred moving mean over one hour (edges padded with the edge value)."""
    kernel = np.ones(hour_block) / hour_block
    padded = np.pad(values, hour_block // 2, mode="edge")
    return np.convolve(padded, kernel, mode="same")[hour_block // 2 : hour_block // 2 + len(values)]


def detail_amplitude(y: np.ndarray, detail: np.ndarray, hour_block: int) -> float:
    """How large the sub-hour shape is now, relative to the fitted one.

    The least-squares factor of the fitted shape ``detail`` (one value per step of ``y``'s tail) in the
    recent deviations from the hourly mean, within ``[0, DETAIL_AMPLITUDE_MAX]``. After a level shift the
    shape learnt over the last week can be far larger than the load now has (a spike of +45 every hour
    above a load that dropped to 12); this scales it to what the last hours show.
    """
    window = len(detail)
    recent = y[-window:]
    shape = detail[-window:]
    energy = float(np.dot(shape, shape))
    if len(recent) < hour_block or energy <= 0:
        return 1.0
    deviation = recent - _hourly_smooth(recent, hour_block)
    return float(np.clip(np.dot(deviation, shape) / energy, 0.0, DETAIL_AMPLITUDE_MAX))


def _blocks_to_steps(
    last_value: float, forecast: np.ndarray, block: int, horizon: int, last_center_offset: float
) -> np.ndarray:
    """Linear interpolation of block forecasts (centres ``block`` steps apart) back to single steps."""
    centers = last_center_offset + block * np.arange(len(forecast) + 1, dtype=float)
    values = np.concatenate([[last_value], forecast])
    return np.asarray(np.interp(np.arange(1, horizon + 1, dtype=float), centers, values))


def apply_stat(state: StatState | None, y: np.ndarray, t0: int, horizon: int) -> dict[str, np.ndarray]:
    """Point forecasts of every statistical model for the ``horizon`` steps after the last value of ``y``."""
    step = state.step if state is not None else None
    n = len(y)
    day_steps = season_steps(step) if step else None
    out: dict[str, np.ndarray] = {}
    if step is None or day_steps is None or state is None:
        return out
    out["Naive"] = np.full(horizon, float(y[-1]))
    out["SeasonalNaive"] = seasonal_naive(y, horizon, day_steps)
    out["SeasonalWindowAverage"] = seasonal_window_average(y, horizon, day_steps)
    times = t0 + step * np.arange(n, dtype=np.int64)
    future = times[-1] + step * np.arange(1, horizon + 1, dtype=np.int64)
    seasonal_future = state.seasonal_at(future)
    deseasonalised = y - state.seasonal_at(times)
    hour_block = block_steps(step, 3600)
    hourly_sa = end_aligned_blocks(deseasonalised, hour_block)
    n_blocks = math.ceil(horizon / hour_block) + 1
    newest = deseasonalised[-3:]
    if state.detail_by_slot is not None and hour_block > 1:
        # the sub-hour shape at the size the last hours show (see detail_amplitude)
        day = len(state.detail_by_slot)
        detail_past = state.detail_by_slot[(times[-min(n, DETAIL_WINDOW_SECONDS // step) :] // step) % day]
        extra = detail_amplitude(y, detail_past, hour_block) - 1.0
        seasonal_future = seasonal_future + extra * state.detail_by_slot[(future // step) % day]
        newest = newest - extra * detail_past[-3:]
    # the hourly trend starts from the newest level (mean of the last 3 steps), not the last hour's mean
    level_now = float(np.mean(newest))
    for name, model in (("MSTL", state.mstl_trend), ("AutoTheta", state.theta_trend)):
        if model is None:
            continue
        trend = _quiet_forward(model, hourly_sa, n_blocks)
        if trend is not None:
            path = _blocks_to_steps(level_now, trend, hour_block, horizon, -1.0)
            out[name] = path + seasonal_future
    if state.ets_fine is not None:
        fine_block = block_steps(step, 300)
        fine = end_aligned_blocks(deseasonalised[-FINE_DAYS * day_steps :], fine_block)
        trend = _quiet_forward(state.ets_fine, fine, math.ceil(horizon / fine_block) + 1)
        if trend is not None:
            if fine_block == 1:
                path = trend[:horizon]
            else:
                path = _blocks_to_steps(float(fine[-1]), trend, fine_block, horizon, -(fine_block - 1) / 2)
            # a slope fitted on 5-minute changes is not carried past ETS_TREND_SECONDS: sustained for a day it
            # drifts far from any load (bitbrains_411: +3,000 on a mean of 1,500 at 24 h)
            hold = max(1, ETS_TREND_SECONDS // step)
            path = np.concatenate([path[:hold], np.full(max(0, len(path) - hold), path[min(hold, len(path)) - 1])])
            out["AutoETS"] = path + seasonal_future
    return out
