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
  violation in :mod:`functions.domain.decision`; pooled, and per time of day (a miss that recurs at
  the same hour every day is priced at that hour).

The record also says how far to trust the forecast at all, the **confidence** the engine compares
with ``min_confidence``. Over the forecasts whose windows ended within the last ``confidence_seconds``
(6 h), each step's absolute error of the bias-corrected median is set against the absolute error that
seasonal naive (the load one day earlier) made on the same step::

    ratio = (forecast MAE + offset) / (seasonal naive MAE + offset)       confidence = clip(1 - ratio / 2, 0, 1)

Errors are compared in absolute terms, so idle steps are load like any other (a forecast of 0 for an
idle step has no error; no division by a load near 0), and the ``offset`` (a tenth of an instance's
load) keeps errors too small to change a decision from deciding the ratio: an idle series forecast as
idle scores 0.5. As good as seasonal naive is 0.5, perfect is 1, twice its error is 0; at the default
``min_confidence`` 0.2 the forecast is set aside when its recent error is above 1.6 times seasonal
naive's. The confidence follows every new load scored, not the refits; until ``min_confidence_steps``
steps are scored (a new record, or one day of history missing) there is none, and the forecast's own
confidence (its fit's backtest) stands in.

The same steps give the target's **recent forecast error** (:class:`RecentError`, what the decider's
``ForecastDegraded`` alert compares with its threshold): the forecast's own median (before the bias
correction, as the forecaster issued it) against the load, as a scaled percentage
``100 x MAE / (mean load + offset)``, and seasonal naive's on the same steps. Idle steps add their
absolute error and no load: no step is divided by its own load, so a load of 0 is never an infinite error.

:class:`ForecastTracker` keeps that record; it is plain data so that the decider can store it between
invocations and the replay can run it in memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.api import ForecastPath

#: the bias is only applied when the evidence is clear: at least this many ratios ...
MIN_BIAS_SAMPLES = 6
#: ... and a median off by more than this fraction
BIAS_DEADBAND = 0.10
BIAS_LIMITS = (0.05, 20.0)


_DAY_NS = 86_400 * 1_000_000_000


def confidence_from(error_ratio: float) -> float:
    """Confidence of a forecast whose recent error is ``error_ratio`` times seasonal naive's (module docstring)."""
    return float(np.clip(1.0 - error_ratio / 2.0, 0.0, 1.0))


@dataclass(frozen=True)
class RecentError:
    """Scaled error (percent) of the recent forecasts' median and of seasonal naive, over ``steps`` scored steps."""

    forecast_pct: float
    naive_pct: float
    steps: int


def sorted_quantile(values: np.ndarray, q: float) -> float:
    """``np.quantile(values, q)`` (linear) for an already sorted, non-empty array, without the overhead."""
    position = q * (len(values) - 1)
    low = int(position)
    if low >= len(values) - 1:
        return float(values[-1])
    fraction = position - low
    return float(values[low] + fraction * (values[low + 1] - values[low]))


@dataclass(frozen=True)
class ForecastCalibration:
    """Ratios ``(actual + offset) / (median + offset)`` of recent forecasts, and the current bias.

    ``ratios`` are sorted (the pooled distribution). ``local_ns`` / ``local_ratios`` are optional
    parallel arrays (time of day in ns since 00:00 UTC, ratio) of the same samples: at each step the
    distribution used is the worse of the pooled one and the one of the samples within
    ``local_tolerance_seconds`` of that time of day, so a miss that comes back every day at the same
    hour (a nightly batch, a morning peak the models smooth out) is priced where it happens.

    ``confidence`` and ``error_ratio`` (recent forecast MAE over seasonal naive's, offset added to both)
    are the record's measure of trust, None until enough steps are scored (module docstring).
    """

    ratios: np.ndarray
    offset: float
    bias: float = 1.0
    local_ns: np.ndarray | None = None
    local_ratios: np.ndarray | None = None
    local_tolerance_seconds: int = 900
    min_local_samples: int = 20
    confidence: float | None = None
    error_ratio: float | None = None

    def __post_init__(self) -> None:
        if self.offset < 0:
            raise ValueError("offset: must be >= 0")
        if self.confidence is not None and not 0.0 <= self.confidence <= 1.0:
            raise ValueError("confidence: must lie in [0, 1] or be None")
        if self.error_ratio is not None and not self.error_ratio >= 0:
            raise ValueError("error_ratio: must be >= 0 or None")
        if not self.bias > 0:
            raise ValueError("bias: must be positive")
        if len(self.ratios) and not np.all(np.isfinite(self.ratios)):
            raise ValueError("ratios: must be finite")
        if (self.local_ns is None) != (self.local_ratios is None) or (
            self.local_ns is not None and self.local_ratios is not None and len(self.local_ns) != len(self.local_ratios)
        ):
            raise ValueError("local_ns: give local_ns and local_ratios together, of equal length")
        if self.local_ns is not None and self.local_ratios is not None:
            order = np.argsort(self.local_ns, kind="stable")
            object.__setattr__(self, "local_ns", np.asarray(self.local_ns)[order])
            object.__setattr__(self, "local_ratios", np.asarray(self.local_ratios)[order])
        object.__setattr__(self, "_local_cache", {})

    @classmethod
    def from_ratios(
        cls,
        ratios: np.ndarray,
        *,
        offset: float,
        bias: float = 1.0,
        stamps_ns: np.ndarray | None = None,
        confidence: float | None = None,
        error_ratio: float | None = None,
    ) -> ForecastCalibration:
        """From unsorted ratios; with ``stamps_ns`` (when each ratio was observed) the local view is kept too."""
        values = np.asarray(ratios, dtype=float)
        local_ns = None if stamps_ns is None else np.asarray(stamps_ns, dtype=np.int64) % _DAY_NS
        return cls(
            ratios=np.sort(values),
            offset=offset,
            bias=bias,
            local_ns=local_ns,
            local_ratios=None if stamps_ns is None else values,
            confidence=confidence,
            error_ratio=error_ratio,
        )

    @property
    def samples(self) -> int:
        return len(self.ratios)

    def median(self, p50: np.ndarray) -> np.ndarray:
        """The forecast median corrected by the bias."""
        return np.clip((p50 + self.offset) * self.bias - self.offset, 0.0, None)

    def _local(self, stamps_ns: np.ndarray | None) -> list[np.ndarray | None]:
        """Sorted local samples for each step (None where too few are known)."""
        if stamps_ns is None or self.local_ns is None or self.local_ratios is None:
            return [None] * (0 if stamps_ns is None else len(stamps_ns))
        cache: dict[int, np.ndarray | None] = self._local_cache  # type: ignore[attr-defined]
        tolerance = self.local_tolerance_seconds * 1_000_000_000
        out: list[np.ndarray | None] = []
        for stamp in (np.asarray(stamps_ns, dtype=np.int64) % _DAY_NS).tolist():
            if stamp not in cache:
                low, high = stamp - tolerance, stamp + tolerance
                parts = [self._between(low, high)]
                if low < 0:
                    parts.append(self._between(low + _DAY_NS, _DAY_NS))
                if high >= _DAY_NS:
                    parts.append(self._between(0, high - _DAY_NS))
                near = np.concatenate(parts)
                cache[stamp] = np.sort(near) if len(near) >= self.min_local_samples else None
            out.append(cache[stamp])
        return out

    def _between(self, low: int, high: int) -> np.ndarray:
        assert self.local_ns is not None and self.local_ratios is not None
        first = int(np.searchsorted(self.local_ns, max(low, 0), side="left"))
        last = int(np.searchsorted(self.local_ns, min(high, _DAY_NS - 1), side="right"))
        return self.local_ratios[first:last]

    def ratio_at(self, q: float, stamps_ns: np.ndarray | None = None, size: int = 1) -> np.ndarray:
        """Ratio at quantile ``q`` per step: pooled, raised where the local one is higher."""
        pooled = sorted_quantile(self.ratios, q)
        out = np.full(size if stamps_ns is None else len(stamps_ns), pooled)
        for i, local in enumerate(self._local(stamps_ns)):
            if local is not None:
                out[i] = max(pooled, sorted_quantile(local, q))
        return out

    def load_at(self, q: float, p50: np.ndarray, stamps_ns: np.ndarray | None = None) -> np.ndarray:
        """Load at quantile ``q`` for each step whose forecast median is ``p50``."""
        ratio = self.ratio_at(q, stamps_ns, size=len(p50))
        return np.clip(ratio * (self.median(p50) + self.offset) - self.offset, 0.0, None)

    def exceedance(self, threshold: float, p50: np.ndarray, stamps_ns: np.ndarray | None = None) -> np.ndarray:
        """Probability, per step, that the load exceeds ``threshold`` given the forecast median ``p50``."""
        limit = (threshold + self.offset) / (self.median(p50) + self.offset)
        below = np.searchsorted(self.ratios, limit, side="right")
        out = 1.0 - below / len(self.ratios)
        for i, local in enumerate(self._local(stamps_ns)):
            if local is not None:
                out[i] = max(out[i], 1.0 - np.searchsorted(local, limit[i], side="right") / len(local))
        return out


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
    #: keep the time of day of each ratio (see :class:`ForecastCalibration`)
    local: bool = True
    #: the confidence weighs the forecasts that ended this recently, against seasonal naive of this season
    confidence_seconds: int = 21_600
    min_confidence_steps: int = 24
    season_seconds: int = 86_400
    _pending: list[_Pending] = field(default_factory=list, init=False)
    _ring_ratios: np.ndarray = field(init=False, repr=False)
    _ring_stamps: np.ndarray = field(init=False, repr=False)
    _filled: int = field(default=0, init=False)
    _next: int = field(default=0, init=False)
    _recent: deque[tuple[int, np.ndarray]] = field(default_factory=deque, init=False)
    #: per scored forecast: (window end ns, sum |forecast error|, sum |seasonal naive error|, steps, and for the
    #: recent error: sum of loads, sum |error of the median as issued|; None in records stored before them)
    _scores: deque[tuple[int, float, float, int, float | None, float | None]] = field(default_factory=deque, init=False)

    def __post_init__(self) -> None:
        if self.max_samples < 1 or self.window_steps < 1 or self.step_seconds < 1:
            raise ValueError("max_samples, window_steps, step_seconds: must be positive")
        if self.confidence_seconds < 1 or self.min_confidence_steps < 1 or self.season_seconds < 1:
            raise ValueError("confidence_seconds, min_confidence_steps, season_seconds: must be positive")
        self._ring_ratios = np.empty(self.max_samples)
        self._ring_stamps = np.empty(self.max_samples, dtype=np.int64)

    def record(self, forecast: ForecastPath, *, now_ns: int, bias: float) -> None:
        stamps = forecast.ds.asi8
        keep = stamps > now_ns - self.step_seconds * 1_000_000_000
        stamps, p50 = stamps[keep][: self.window_steps], forecast.p50[keep][: self.window_steps]
        if len(stamps):
            self._pending.append(_Pending(stamps, p50, bias, int(stamps[-1])))

    def observe(
        self,
        actual_ds: np.ndarray,
        actual_y: np.ndarray,
        *,
        now_ns: int,
        announced: Sequence[tuple[int, int]] = (),
    ) -> None:
        """Score the recorded forecasts whose steps are all before ``now_ns`` (``actual_ds`` in int64 ns).

        For the confidence, give the loads from one season before the oldest pending forecast
        (:meth:`history_start_ns`); steps whose seasonal naive load is not given are left out of it, and
        so are steps inside ``announced`` windows (``[start, end)`` ns of business events): there the
        forecast carries the uplift a user announced, which is the user's estimate, not the model's.
        """
        half = self.step_seconds * 500_000_000
        ready = [p for p in self._pending if p.ends_ns + half < now_ns]
        if not ready:
            return
        self._pending = [p for p in self._pending if p.ends_ns + half >= now_ns]
        step_ns = self.step_seconds * 1_000_000_000
        for item in ready:
            values = _observed(item.stamps, actual_ds, actual_y, step_ns)
            known = ~np.isnan(values)
            if not known.any():
                continue
            actual, p50 = values[known] + self.offset, item.p50[known]
            raw = actual / (p50 + self.offset)
            corrected = np.clip((p50 + self.offset) * item.bias - self.offset, 0.0, None) + self.offset
            self._add_spread(item.stamps[known], actual / corrected)
            self._recent.append((item.ends_ns, raw))
            naive = _observed(item.stamps - self.season_seconds * 1_000_000_000, actual_ds, actual_y, step_ns)
            both = known & ~np.isnan(naive)
            for start, end in announced:
                both &= (item.stamps < start) | (item.stamps >= end)
            if both.any():
                truth = values[both]
                median = np.clip((item.p50[both] + self.offset) * item.bias - self.offset, 0.0, None)
                self._scores.append(
                    (
                        item.ends_ns,
                        float(np.abs(truth - median).sum()),
                        float(np.abs(truth - naive[both]).sum()),
                        int(both.sum()),
                        float(truth.sum()),
                        float(np.abs(truth - item.p50[both]).sum()),
                    )
                )
        horizon = now_ns - self.confidence_seconds * 1_000_000_000
        while self._scores and self._scores[0][0] < horizon:
            self._scores.popleft()

    def _add_spread(self, stamps: np.ndarray, ratios: np.ndarray) -> None:
        """Keep the newest ``max_samples`` ratios (a ring: the oldest are overwritten)."""
        if len(stamps) != len(ratios):
            raise ValueError(f"stamps, ratios: {len(stamps)} stamps for {len(ratios)} ratios")
        count = min(len(ratios), self.max_samples)
        if count == 0:
            return
        slots = (self._next + np.arange(count)) % self.max_samples
        self._ring_ratios[slots] = ratios[len(ratios) - count :]
        self._ring_stamps[slots] = stamps[len(stamps) - count :]
        self._next = (self._next + count) % self.max_samples
        self._filled = min(self._filled + count, self.max_samples)

    def oldest_pending_ns(self) -> int | None:
        """The first step of the oldest forecast still waiting for its loads (what ``observe`` needs)."""
        return min((int(p.stamps[0]) for p in self._pending if len(p.stamps)), default=None)

    def history_start_ns(self) -> int | None:
        """Where the loads ``observe`` needs begin: one season before the oldest pending step (None: nothing pending)."""
        oldest = self.oldest_pending_ns()
        if oldest is None:
            return None
        return oldest - self.season_seconds * 1_000_000_000 - self.step_seconds * 500_000_000

    def confidence(self, *, now_ns: int) -> tuple[float, float] | None:
        """``(confidence, error ratio)`` of the forecasts that ended within ``confidence_seconds`` (module docstring)."""
        recent, steps = self._recent_scores(now_ns)
        if steps < self.min_confidence_steps:
            return None
        floor = self.offset if self.offset > 0 else 1e-9
        ratio = (sum(s[1] for s in recent) / steps + floor) / (sum(s[2] for s in recent) / steps + floor)
        return confidence_from(ratio), ratio

    def _recent_scores(
        self, now_ns: int, *, with_load: bool = False
    ) -> tuple[list[tuple[int, float, float, int, float | None, float | None]], int]:
        """The score rows of the forecasts that ended within ``confidence_seconds`` (only those that carry the
        load and the issued median's error, ``with_load``), and the steps they score."""
        horizon = now_ns - self.confidence_seconds * 1_000_000_000
        recent = [
            score
            for score in self._scores
            if score[0] >= horizon and (not with_load or (score[4] is not None and score[5] is not None))
        ]
        return recent, sum(score[3] for score in recent)

    def recent_error(self, *, now_ns: int) -> RecentError | None:
        """The scaled error of the steps :meth:`confidence` weighs (module docstring); None below
        ``min_confidence_steps`` of them."""
        recent, steps = self._recent_scores(now_ns, with_load=True)
        if steps < self.min_confidence_steps:
            return None
        scale = sum(s[4] or 0.0 for s in recent) / steps + self.offset
        if not scale > 0:
            return None
        return RecentError(
            forecast_pct=100.0 * sum(s[5] or 0.0 for s in recent) / steps / scale,
            naive_pct=100.0 * sum(s[2] for s in recent) / steps / scale,
            steps=steps,
        )

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
        ratios = self._ring_ratios[: self._filled]
        stamps = self._ring_stamps[: self._filled] if self.local and self._filled else None
        measured = self.confidence(now_ns=now_ns)
        return ForecastCalibration.from_ratios(
            ratios.copy(),
            offset=self.offset,
            bias=self.bias(now_ns=now_ns),
            stamps_ns=stamps,
            confidence=None if measured is None else measured[0],
            error_ratio=None if measured is None else measured[1],
        )

    # ------------------------------------------------------------------ storage between invocations

    def to_state(self) -> dict[str, Any]:
        """Plain JSON-ready data (lists and numbers): what the decider stores between invocations."""
        order = np.roll(np.arange(self._filled), -self._next if self._filled == self.max_samples else 0)
        return {
            "settings": {
                "offset": self.offset,
                "window_steps": self.window_steps,
                "step_seconds": self.step_seconds,
                "max_samples": self.max_samples,
                "bias_seconds": self.bias_seconds,
                "bias_deadband": self.bias_deadband,
                "min_bias_samples": self.min_bias_samples,
                "local": self.local,
                "confidence_seconds": self.confidence_seconds,
                "min_confidence_steps": self.min_confidence_steps,
                "season_seconds": self.season_seconds,
            },
            "pending": [[p.stamps.tolist(), p.p50.tolist(), p.bias, p.ends_ns] for p in self._pending],
            "ratios": self._ring_ratios[order].tolist(),
            "stamps": self._ring_stamps[order].tolist(),
            "recent": [[ends, ratios.tolist()] for ends, ratios in self._recent],
            "scores": [list(score) if score[4] is not None else list(score[:4]) for score in self._scores],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ForecastTracker:
        """The tracker :meth:`to_state` described; raises ``ValueError`` naming a malformed part."""
        try:
            tracker = cls(**state["settings"])
            for stamps, p50, bias, ends in state["pending"]:
                tracker._pending.append(
                    _Pending(np.asarray(stamps, dtype=np.int64), np.asarray(p50, dtype=float), float(bias), int(ends))
                )
            tracker._add_spread(np.asarray(state["stamps"], dtype=np.int64), np.asarray(state["ratios"], dtype=float))
            for ends, ratios in state["recent"]:
                tracker._recent.append((int(ends), np.asarray(ratios, dtype=float)))
            for ends, forecast_error, naive_error, steps, *issued in state.get("scores", []):
                load, issued_error = (float(issued[0]), float(issued[1])) if issued else (None, None)
                tracker._scores.append(
                    (int(ends), float(forecast_error), float(naive_error), int(steps), load, issued_error)
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"tracker state: malformed ({exc})") from exc
        return tracker
