"""Pricing a decision window: the load at a quantile, the chance it is exceeded, and the cost-optimal quantile.

The decision (:func:`functions.domain.decision.decide`) answers for the load over a window of forecast
steps. For a candidate quantile ``q`` the window needs ``n_q`` instances; what that costs is::

    cost(q) = n_q * instance_hour_price * window_hours
              + violation_minute_penalty * sum over steps of P(load_step > n_q * cap * slo) * step_minutes

``P(load > x)`` and the load at ``q`` come from the decider's own record when it has enough of it
(:class:`ForecastCalibration`), otherwise from the forecast's p50, p90 and p99 (:func:`path_load_at`,
:func:`path_exceedance`). :func:`cost_optimal_quantile` picks ``q``; :func:`why_not_more` puts the
trade-off into words when the choice keeps capacity below a need the reason has named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from functions.domain.calibration import ForecastCalibration
from functions.domain.capacity_model import instances_for_array
from functions.domain.decision_records import DecisionPolicy
from functions.domain.target import ScalingTarget


def _z(q: float) -> float:
    return -math.log10(1.0 - q)


_Z50, _Z90, _Z99 = _z(0.5), _z(0.9), _z(0.99)


def path_load_at(q: float, p50: np.ndarray, p90: np.ndarray, p99: np.ndarray) -> np.ndarray:
    """Load at quantile ``q`` from the forecast's p50/p90/p99, linear in ``-log10(1 - q)`` (extrapolated past p99)."""
    if q <= 0.5:
        return p50
    z = _z(q)
    if z <= _Z90:
        w = (z - _Z50) / (_Z90 - _Z50)
        return (1 - w) * p50 + w * p90
    w = (z - _Z90) / (_Z99 - _Z90)
    return np.clip((1 - w) * p90 + w * p99, 0.0, None)


def path_exceedance(x: float, p50: np.ndarray, p90: np.ndarray, p99: np.ndarray) -> np.ndarray:
    """``P(load > x)`` per step, inverting :func:`path_load_at` (the same interpolation)."""
    out = np.empty(len(p50))
    for i, (a, b, c) in enumerate(zip(p50, p90, p99, strict=True)):
        if x < a:
            out[i] = 1.0 - 0.5 * (x / a if a > 0 else 0.0)
            continue
        tiny = 1e-9 * max(1.0, abs(c))
        if x < b and b - a > tiny:
            z = _Z50 + (x - a) / (b - a) * (_Z90 - _Z50)
        elif x < b:
            z = _Z90
        elif c - b > tiny:
            z = _Z90 + (x - b) / (c - b) * (_Z99 - _Z90)
        else:
            out[i] = 0.0
            continue
        out[i] = 10.0 ** (-z)
    return out


@dataclass(frozen=True)
class LoadWindow:
    """The forecast over a window of steps (p50/p90/p99 and their times), read through the record when usable."""

    p50: np.ndarray
    p90: np.ndarray
    p99: np.ndarray
    stamps: np.ndarray  # int64 ns, tz-naive UTC
    calibration: ForecastCalibration | None

    def load_at(self, q: float) -> np.ndarray:
        if self.calibration is not None:
            return self.calibration.load_at(q, self.p50, self.stamps)
        return path_load_at(q, self.p50, self.p90, self.p99)

    def exceedance(self, x: float) -> np.ndarray:
        if self.calibration is not None:
            return self.calibration.exceedance(x, self.p50, self.stamps)
        return path_exceedance(x, self.p50, self.p90, self.p99)


_LARGEST = float(np.finfo(float).max)


def finite_loads(loads: np.ndarray) -> np.ndarray:
    """Forecast loads with overflow (inf) and broken arithmetic (NaN, e.g. inf - inf) read as the largest load:
    an absurd forecast saturates the need at ``max_capacity``; it never reads as no load."""
    return np.nan_to_num(loads, nan=_LARGEST, posinf=_LARGEST, neginf=0.0)


def cost_optimal_quantile(
    window: LoadWindow,
    *,
    per_instance: float,
    target: ScalingTarget,
    step_seconds: int,
    policy: DecisionPolicy,
    current: int | None = None,
    violation_price: float | None = None,
) -> tuple[float, int, float]:
    """``(q, instances, expected cost)`` with the least expected cost (ties go to the higher q).

    Given the ``current`` capacity (and with ``price_commitment``), an instance added now is priced for
    the stabilisation window as well: once launched it cannot be removed before the plan has stayed
    lower that long. Without it, the plain cost of the window (what scale-in and the plan use).
    ``violation_price`` replaces the target's ``violation_minute_penalty`` (the SLO budget's, when underspent).
    """
    price = target.cost.instance_hour_price
    penalty = target.cost.violation_minute_penalty if violation_price is None else violation_price
    hours = len(window.p50) * step_seconds / 3600.0
    committed = policy.price_commitment and current is not None
    committed_hours = target.scale_in_stabilization_seconds / 3600.0 if committed else 0.0
    minutes = step_seconds / 60.0
    best: tuple[float, int, float] | None = None
    for q in policy.quantiles:
        load = finite_loads(window.load_at(q))
        need = target.clamp(int(instances_for_array(load, per_instance).max()))
        violation_minutes = float(window.exceedance(need * per_instance).sum()) * minutes
        cost = (
            need * price * hours + max(0, need - (current or 0)) * price * committed_hours + penalty * violation_minutes
        )
        if best is None or cost <= best[2] + 1e-12:
            best = (q, need, cost)
    assert best is not None
    return best


def why_not_more(
    window: LoadWindow,
    have: int,
    want: int,
    *,
    per_instance: float,
    target: ScalingTarget,
    step_seconds: int,
    policy: DecisionPolicy,
    violation_price: float | None = None,
) -> str:
    """Why the cost-optimal choice keeps ``have`` below the need ``want`` just named: what the extra
    instances cost (the window, and the stabilisation they are then committed for) against the expected
    violation cost they save, both as :func:`cost_optimal_quantile` prices them."""
    price = target.cost.instance_hour_price
    extra = want - have
    window_minutes = len(window.p50) * step_seconds / 60.0
    committed_minutes = target.scale_in_stabilization_seconds / 60.0 if policy.price_commitment else 0.0
    instance_cost = extra * price * (window_minutes + committed_minutes) / 60.0
    minutes = step_seconds / 60.0
    avoided = max(
        0.0,
        float(window.exceedance(have * per_instance).sum() - window.exceedance(want * per_instance).sum()) * minutes,
    )
    penalty = target.cost.violation_minute_penalty if violation_price is None else violation_price
    saved = penalty * avoided
    what = "one more instance" if extra == 1 else f"{extra:,} more instances"
    spans = f"{window_minutes:.0f} min" + (f" + {committed_minutes:.0f} min committed" if committed_minutes else "")
    verdict = "not worth it" if saved <= instance_cost else "a lower priced quantile costs less in all"
    return (
        f"{what} ({want:,} in all) {'costs' if extra == 1 else 'cost'} {instance_cost:.3g} for {spans}; "
        f"expected violation cost saved "
        f"{saved:.3g} ({avoided:.2g} min at {penalty:.3g}/min): {verdict}"
    )
