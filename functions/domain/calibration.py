"""How far the load strayed from the forecast lately: the error distribution the decider prices.

A forecaster's p90 and p99 are only as good as its interval method, and every target is mis-calibrated
in its own way. So the decision engine also keeps its own record: for each recent forecast, the ratio
of what the load turned out to be to what the forecast's median said, over the steps a decision
depends on (the first ``boot + decision interval``). Ratios are taken on loads shifted by a small
``offset`` (a tenth of one instance's load) so that a near-idle target does not produce huge ratios
from tiny absolute errors::

    r = (actual + offset) / (median + offset)       load at quantile q = r_q * (median + offset) - offset

Two corrections come out of that record:

- **bias**: the median ratio of the forecasts whose windows ended within the last ``bias_seconds``.
  When the load has left the forecast for a while (a level shift, an incident, a trend the models have
  not caught up with) the median is rescaled by it; otherwise it stays 1.
- **spread**: the empirical distribution of the ratios against the *bias-corrected* median over the
  last ``max_samples`` (about a week of decisions), used for the load quantiles and the odds of a
  violation in :mod:`functions.domain.decision`.

:class:`ForecastTracker` keeps that record; it is plain data so that the decider can store it between
invocations and the replay can run it in memory.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from models.api import ForecastPath

#: the bias is only applied when the evidence is clear: at least this many ratios ...
MIN_BIAS_SAMPLES = 6
#: ... and a median off by more than this fraction
BIAS_DEADBAND = 0.10
BIAS_LIMITS = (0.05, 20.0)


@dataclass(frozen=True)
class ForecastCalibration:
    """Sorted ratios ``(actual + offset) / (median + offset)`` of recent forecasts, and the current bias."""

    ratios: np.ndarray
    offset: float
    bias: float = 1.0

    def __post_init__(self) -> None:
        if self.offset < 0:
            raise ValueError("offset: must be >= 0")
        if not self.bias > 0:
            raise ValueError("bias: must be positive")
        if len(self.ratios) and not np.all(np.isfinite(self.ratios)):
            raise ValueError("ratios: must be finite")

    @classmethod
    def from_ratios(cls, ratios: np.ndarray, *, offset: float, bias: float = 1.0) -> ForecastCalibration:
        return cls(ratios=np.sort(np.asarray(ratios, dtype=float)), offset=offset, bias=bias)

    @property
    def samples(self) -> int:
        return len(self.ratios)

    def median(self, p50: np.ndarray) -> np.ndarray:
        """The forecast median corrected by the bias."""
        return np.clip((p50 + self.offset) * self.bias - self.offset, 0.0, None)

    def load_at(self, q: float, p50: np.ndarray) -> np.ndarray:
        """Load at quantile ``q`` for each step whose forecast median is ``p50``."""
        ratio = float(np.quantile(self.ratios, q))
        return np.clip(ratio * (self.median(p50) + self.offset) - self.offset, 0.0, None)

    def exceedance(self, threshold: float, p50: np.ndarray) -> np.ndarray:
        """Probability, per step, that the load exceeds ``threshold`` given the forecast median ``p50``."""
        limit = (threshold + self.offset) / (self.median(p50) + self.offset)
        below = np.searchsorted(self.ratios, limit, side="right")
        return 1.0 - below / len(self.ratios)


def _observed(stamps: np.ndarray, actual_ds: np.ndarray, actual_y: np.ndarray, step_ns: int) -> np.ndarray:
    """Observed load of the step nearest each forecast stamp (within half a step), NaN when unknown."""
    where = np.searchsorted(actual_ds, stamps - step_ns // 2)
    inside = where < len(actual_ds)
    hit = np.zeros(len(stamps), dtype=bool)
    hit[inside] = np.abs(actual_ds[where[inside]] - stamps[inside]) <= step_ns // 2
    values = np.full(len(stamps), np.nan)
    values[hit] = actual_y[where[hit]]
    return values


@dataclass
class _Pending:
    stamps: np.ndarray  # int64 ns
    p50: np.ndarray
    bias: float
    ends_ns: int


@dataclass
class ForecastTracker:
    """Record of recent forecasts against what happened (module docstring).

    ``record`` each forecast a decision used, ``observe`` the loads as they arrive, and ask
    ``calibration`` before the next decision.
    """

    offset: float
    window_steps: int
    step_seconds: int
    max_samples: int = 4096
    bias_seconds: int = 3600
    bias_deadband: float = BIAS_DEADBAND
    min_bias_samples: int = MIN_BIAS_SAMPLES
    _pending: list[_Pending] = field(default_factory=list, init=False)
    _spread: deque[np.ndarray] = field(default_factory=deque, init=False)
    _spread_count: int = field(default=0, init=False)
    _recent: deque[tuple[int, np.ndarray]] = field(default_factory=deque, init=False)

    def record(self, forecast: ForecastPath, *, now_ns: int, bias: float) -> None:
        stamps = forecast.ds.asi8
        keep = stamps > now_ns - self.step_seconds * 1_000_000_000
        stamps, p50 = stamps[keep][: self.window_steps], forecast.p50[keep][: self.window_steps]
        if len(stamps):
            self._pending.append(_Pending(stamps, p50, bias, int(stamps[-1])))

    def observe(self, actual_ds: np.ndarray, actual_y: np.ndarray, *, now_ns: int) -> None:
        """Score the recorded forecasts whose steps are all before ``now_ns`` (``actual_ds`` in int64 ns)."""
        half = self.step_seconds * 500_000_000
        ready = [p for p in self._pending if p.ends_ns + half < now_ns]
        if not ready:
            return
        self._pending = [p for p in self._pending if p.ends_ns + half >= now_ns]
        for item in ready:
            values = _observed(item.stamps, actual_ds, actual_y, self.step_seconds * 1_000_000_000)
            known = ~np.isnan(values)
            if not known.any():
                continue
            actual, p50 = values[known] + self.offset, item.p50[known]
            raw = actual / (p50 + self.offset)
            corrected = np.clip((p50 + self.offset) * item.bias - self.offset, 0.0, None) + self.offset
            self._add_spread(actual / corrected)
            self._recent.append((item.ends_ns, raw))

    def _add_spread(self, ratios: np.ndarray) -> None:
        self._spread.append(ratios)
        self._spread_count += len(ratios)
        while self._spread and self._spread_count - len(self._spread[0]) >= self.max_samples:
            self._spread_count -= len(self._spread.popleft())

    def bias(self, *, now_ns: int) -> float:
        """Median ratio of the forecasts that ended within ``bias_seconds`` (1 without clear evidence)."""
        horizon = now_ns - self.bias_seconds * 1_000_000_000
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()
        if not self._recent:
            return 1.0
        ratios = np.concatenate([r for _, r in self._recent])
        if len(ratios) < self.min_bias_samples:
            return 1.0
        median = float(np.median(ratios))
        if abs(median - 1.0) <= self.bias_deadband:
            return 1.0
        return float(np.clip(median, *BIAS_LIMITS))

    def calibration(self, *, now_ns: int) -> ForecastCalibration:
        ratios = np.concatenate(list(self._spread)) if self._spread else np.empty(0)
        return ForecastCalibration.from_ratios(ratios, offset=self.offset, bias=self.bias(now_ns=now_ns))
