"""How far the load strayed from the forecast lately: the empirical error distribution the decider prices.

A forecaster's p90 and p99 are only as good as its interval method, and every trace is mis-calibrated
in its own way. So the decision engine also looks at its own record: for every recent forecast, the
ratio of what the load turned out to be to what the forecast's median said, over the steps a decision
depends on (the first ``boot + decision interval``). Ratios are taken on loads shifted by a small
``offset`` (a tenth of one instance's load by default) so that a near-idle target does not produce
huge ratios from tiny absolute errors:

    r = (actual + offset) / (p50 + offset)        load at quantile q = r_q * (p50 + offset) - offset

The distribution is pooled over targets' recent days (the caller keeps the window, e.g. 7 days),
which is what makes the choice of quantile in :mod:`functions.domain.decision` cost-aware with real
odds instead of nominal ones.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from models.api import ForecastPath


@dataclass(frozen=True)
class ForecastCalibration:
    """Sorted ratios ``(actual + offset) / (p50 + offset)`` of recent forecasts against what happened."""

    ratios: np.ndarray
    offset: float

    def __post_init__(self) -> None:
        if self.offset < 0:
            raise ValueError("offset: must be >= 0")
        if len(self.ratios) and not np.all(np.isfinite(self.ratios)):
            raise ValueError("ratios: must be finite")

    @classmethod
    def from_ratios(cls, ratios: np.ndarray, *, offset: float) -> ForecastCalibration:
        values = np.sort(np.asarray(ratios, dtype=float))
        return cls(ratios=values, offset=offset)

    @property
    def samples(self) -> int:
        return len(self.ratios)

    def load_at(self, q: float, p50: np.ndarray) -> np.ndarray:
        """Load at quantile ``q`` for each step whose forecast median is ``p50``."""
        ratio = float(np.quantile(self.ratios, q))
        return np.clip(ratio * (p50 + self.offset) - self.offset, 0.0, None)

    def exceedance(self, threshold: float, p50: np.ndarray) -> np.ndarray:
        """Probability, per step, that the load exceeds ``threshold`` given the forecast median ``p50``."""
        limit = (threshold + self.offset) / (p50 + self.offset)
        below = np.searchsorted(self.ratios, limit, side="right")
        return 1.0 - below / len(self.ratios)


def window_ratios(forecast: ForecastPath, *, actual_ds: np.ndarray, actual_y: np.ndarray, offset: float) -> np.ndarray:
    """Ratios of one forecast against the observed load at the same timestamps (unknown load skipped).

    ``actual_ds`` are int64 nanoseconds (tz-naive UTC) in increasing order, ``actual_y`` the loads.
    """
    stamps = forecast.ds.asi8
    where = np.searchsorted(actual_ds, stamps)
    inside = where < len(actual_ds)
    hit = np.zeros(len(stamps), dtype=bool)
    hit[inside] = actual_ds[where[inside]] == stamps[inside]
    values = np.full(len(stamps), np.nan)
    values[hit] = actual_y[where[hit]]
    known = ~np.isnan(values)
    return (values[known] + offset) / (forecast.p50[known] + offset)


@dataclass
class CalibrationWindow:
    """A rolling record of ratios (newest ``max_samples`` kept), for the replay and the decider's state."""

    offset: float
    max_samples: int = 4096
    _chunks: deque[np.ndarray] = field(default_factory=deque, init=False)
    _count: int = field(default=0, init=False)

    def add(self, ratios: np.ndarray) -> None:
        if len(ratios) == 0:
            return
        self._chunks.append(np.asarray(ratios, dtype=float))
        self._count += len(ratios)
        while self._chunks and self._count - len(self._chunks[0]) >= self.max_samples:
            self._count -= len(self._chunks.popleft())

    def calibration(self) -> ForecastCalibration:
        if not self._chunks:
            return ForecastCalibration(ratios=np.empty(0), offset=self.offset)
        return ForecastCalibration.from_ratios(np.concatenate(list(self._chunks)), offset=self.offset)
