"""Business events: lifting forecasts inside announced windows, and learning each event type's uplift.

A :class:`models.api.BusinessWindow` may carry a ``multiplier`` (x) or an ``expected_load``. When it
carries neither, the learned uplift of its ``event_type`` is used. After a window has passed, the
observed uplift (mean load in the window over the baseline: the mean of the same times on the
previous days) is folded into the learned value. :class:`EventEffectLearner` keeps its whole state
in a plain dict so a DynamoDB adapter can store and restore it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from models.api import BusinessWindow
from models.prep import GridSeries, to_unix_seconds

MAX_SEEN = 2000


def window_key(window: BusinessWindow) -> str:
    return f"{window.unique_id}|{window.event_type}|{to_unix_seconds(window.start)}|{to_unix_seconds(window.end)}"


class EventEffectLearner:
    """Learned uplift per event type (exponentially weighted), with explicit state.

    State: ``{"effects": {event_type: {"uplift": float, "count": int}}, "seen": [window keys]}``.
    """

    def __init__(self, state: dict[str, Any] | None = None, *, smoothing: float = 0.5) -> None:
        if not 0 < smoothing <= 1:
            raise ValueError("smoothing: must lie in (0, 1]")
        self.smoothing = smoothing
        state = state or {}
        self._effects: dict[str, dict[str, float]] = {
            str(k): {"uplift": float(v["uplift"]), "count": int(v["count"])}
            for k, v in dict(state.get("effects", {})).items()
        }
        self._seen: list[str] = [str(k) for k in state.get("seen", [])]

    @property
    def state(self) -> dict[str, Any]:
        """A JSON-serialisable copy of the learned state."""
        return {
            "effects": {k: dict(v) for k, v in self._effects.items()},
            "seen": list(self._seen),
        }

    def uplift(self, event_type: str) -> float | None:
        effect = self._effects.get(event_type)
        return None if effect is None else float(effect["uplift"])

    def observe(self, window: BusinessWindow, uplift: float) -> bool:
        """Fold one observed uplift in (once per window); returns False for a window already seen."""
        key = window_key(window)
        if key in self._seen or not np.isfinite(uplift) or uplift <= 0:
            return False
        self._seen.append(key)
        del self._seen[:-MAX_SEEN]
        effect = self._effects.get(window.event_type)
        if effect is None:
            self._effects[window.event_type] = {"uplift": float(uplift), "count": 1}
        else:
            a = self.smoothing
            effect["uplift"] = (1 - a) * effect["uplift"] + a * float(uplift)
            effect["count"] += 1
        return True


def _window_mask(times: np.ndarray, window: BusinessWindow) -> np.ndarray:
    return (times >= to_unix_seconds(window.start)) & (times < to_unix_seconds(window.end))


def observed_uplift(series: GridSeries, window: BusinessWindow, *, baseline_days: int = 7) -> float | None:
    """Mean load inside a past window over the mean of the same times on up to ``baseline_days`` days before."""
    times = series.times()
    inside = _window_mask(times, window)
    if not inside.any():
        return None
    day = 86_400 // series.step
    actual = series.y[inside]
    baseline_values = []
    index = np.flatnonzero(inside)
    for k in range(1, baseline_days + 1):
        earlier = index - k * day
        ok = earlier >= 0
        if ok.any():
            baseline_values.append(np.where(ok, series.y[np.clip(earlier, 0, None)], np.nan))
    if not baseline_values:
        return None
    baseline = np.nanmean(np.vstack(baseline_values), axis=0)
    both = np.isfinite(actual) & np.isfinite(baseline)
    if both.sum() < max(1, inside.sum() // 2) or np.sum(baseline[both]) <= 0:
        return None
    return float(np.sum(actual[both]) / np.sum(baseline[both]))


def learn_and_remove(
    series: GridSeries, windows: Iterable[BusinessWindow], learner: EventEffectLearner, *, now_seconds: int
) -> np.ndarray:
    """Learn from the past windows of this target and return its history with their effect divided out.

    Models are then trained on the baseline load; the lift is applied on top of their forecasts.
    """
    y = np.array(series.y, dtype=float)
    times = series.times()
    for window in windows:
        if window.unique_id != series.unique_id or to_unix_seconds(window.end) > now_seconds:
            continue
        uplift = observed_uplift(series, window)
        if uplift is None:
            continue
        learner.observe(window, uplift)
        y[_window_mask(times, window)] /= uplift
    return y


def window_multiplier(window: BusinessWindow, learner: EventEffectLearner | None) -> float | None:
    if window.multiplier is not None:
        return float(window.multiplier)
    if window.expected_load is None and learner is not None:
        return learner.uplift(window.event_type)
    return None


def apply_windows(
    unique_id: str,
    times: np.ndarray,
    quantiles: dict[str, np.ndarray],
    windows: Iterable[BusinessWindow],
    learner: EventEffectLearner | None,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Lift the quantile paths inside this target's windows; returns the new paths and what was applied.

    A multiplier scales every quantile; an expected load raises p50 to at least that load and shifts
    the upper quantiles by the same amount. Windows never lower a forecast below the baseline when
    the multiplier is under 1 (a known quiet period does lower it).
    """
    out = {k: np.array(v, dtype=float) for k, v in quantiles.items()}
    applied: list[str] = []
    for window in windows:
        if window.unique_id != unique_id:
            continue
        inside = _window_mask(times, window)
        if not inside.any():
            continue
        multiplier = window_multiplier(window, learner)
        if multiplier is not None and multiplier > 0:
            for values in out.values():
                values[inside] *= multiplier
            applied.append(f"{window.event_type}x{multiplier:.3g}")
        elif window.expected_load is not None:
            lift = np.maximum(0.0, float(window.expected_load) - out["p50"][inside])
            for values in out.values():
                values[inside] += lift
            applied.append(f"{window.event_type}≥{window.expected_load:.3g}")
    return out, applied
