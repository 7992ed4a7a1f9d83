"""The decision engine: from a load forecast to a safe desired capacity, with a reason a person can read.

:func:`decide` is a pure function. Everything it needs comes in as arguments (the forecast, the
current capacity, the target's configuration, business-event floors, the target's scaling state,
``now``, the kill switch), and everything it concludes goes out in a :class:`Decision`, including the
new :class:`TargetState` the caller stores for next time. The decider Lambda and the replay call it
the same way.

How capacity is chosen
----------------------
Instances launched now serve from ``now + boot``, and the next decision comes ``decision interval``
later, so this decision answers for the load over the window ``[now, now + boot + interval)``. For a
load quantile ``q`` the need is ``max over the window of ceil(load_q / (cap * slo_utilization))``.
Capacity added now only serves the part from ``now + boot``: that part sets how much to add (and is
what is priced below); the whole window, and one more boot time, guards any scale-in.

``q`` is chosen per target and per decision to minimise the expected cost of the window::

    cost(q) = n_q * instance_hour_price * window_hours
              + violation_minute_penalty * sum over steps of P(load_step > n_q * cap * slo) * step_minutes

over the candidate quantiles :attr:`DecisionPolicy.quantiles` (p50 ... p99.9). ``P(load > x)`` comes from
the decider's own record when enough of it is known (a :class:`ForecastCalibration`: the empirical
distribution of actual / median ratios of recent forecasts, pooled and per time of day, with the
median rescaled by a recent bias; see :mod:`functions.domain.calibration`), otherwise from the
forecast's p50, p90 and p99, interpolated linearly in ``-log10(1 - q)`` and extrapolated past p99 with
the slope between p90 and p99. Quantiles that cross are lifted first (p90 at least p50, p99 at least p90),
so that no quantile reads below the median: extrapolated past a p99 under p90, a high quantile would
otherwise read as no load at all. A cheap instance and an expensive violation push ``q`` up; the
reverse pulls it down. The chosen ``q`` and the load it implies are in the reason.

Safety, in the order it is applied
----------------------------------
1. No usable forecast (missing, older than ``stale_after_seconds``, not covering the window, or
   its confidence below ``min_confidence``, see :class:`DecisionPolicy`): the reactive rule (target tracking on the newest observed load) decides;
   with a *stale* forecast it may only scale out, never in.
2. The newest observed load is a floor (``guard_recent_load``): a forecast below what is already
   happening never removes the capacity that load needs.
3. Business-event floors active anywhere in the window raise the need (so capacity is up a boot
   time before the event starts).
4. Scale-in only when the plan stays lower for the whole window plus one more boot time, and only
   after it has been lower continuously for ``scale_in_stabilization_seconds``.
5. At most ``max_step_up`` / ``max_step_down`` instances per decision.
6. ``[min_capacity, max_capacity]`` always, whatever came before.
7. The kill switch holds the current capacity; ``forecast_only`` records the decision without
   executing it (``Decision.execute`` is False). The mode travels with the decision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np

from events.contracts import Mode, ScalingDecided
from functions.domain.calibration import ForecastCalibration, ForecastTracker
from functions.domain.capacity_model import MAX_NEED, capacity_of, instances_for, instances_for_array
from functions.domain.reactive import TargetTracking, reactive_need
from functions.domain.target import ScalingTarget
from models.api import ForecastPath, NoForecast

Action = Literal["scale_out", "scale_in", "hold"]
MAX_REASON = 500
#: bounds of :func:`decide`'s ``margin`` (the SLO budget's, functions/domain/slo_budget.py)
MIN_MARGIN = 1.0
MAX_MARGIN = 4.0
_NS = 1_000_000_000


@dataclass(frozen=True)
class CurrentCapacity:
    """What the target runs now: ``desired`` (including booting instances), ``in_service``, newest load."""

    desired: int
    in_service: int
    recent_load: float | None = None

    def __post_init__(self) -> None:
        if self.desired < 0 or self.in_service < 0:
            raise ValueError("desired, in_service: must be >= 0")
        if self.recent_load is not None and not (self.recent_load >= 0):
            raise ValueError("recent_load: must be a non-negative number or None")


@dataclass(frozen=True)
class TargetState:
    """What the decider remembers about a target between decisions."""

    last_scale_out_at: datetime | None = None
    last_scale_in_at: datetime | None = None
    plan_lower_since: datetime | None = None


@dataclass(frozen=True)
class CapacityFloor:
    """A business event's minimum capacity over ``[start, end)``."""

    name: str
    start: datetime
    end: datetime
    capacity: int

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"end: floor {self.name!r} ends before it starts")
        if self.capacity < 0:
            raise ValueError(f"capacity: floor {self.name!r} is negative")


@dataclass(frozen=True)
class DecisionPolicy:
    """Knobs of the decision engine that are not part of a target's configuration."""

    #: below this confidence the forecast is set aside for the reactive rule. The confidence is the decider's
    #: own record's (functions/domain/calibration.py): ``1 - ratio / 2``, ``ratio`` the absolute error of the
    #: forecasts of the last ``confidence_seconds`` over seasonal naive's (the load a day earlier) on the same
    #: steps, so 0.5 is as good as seasonal naive and 0.2 is 1.6 times its error; updated with every load
    #: scored. Until ``min_confidence_steps`` steps are scored, the forecast's own (its fit's backtest) stands in.
    min_confidence: float = 0.2
    confidence_seconds: int = 21_600
    min_confidence_steps: int = 24
    stale_after_seconds: int = 900
    quantiles: tuple[float, ...] = (0.5, 0.75, 0.9, 0.95, 0.975, 0.99, 0.995, 0.999)
    guard_recent_load: bool = True
    min_calibration_samples: int = 200
    #: how much of its own record the decider keeps (see functions/domain/calibration.py)
    calibration_days: float = 7.0
    bias_seconds: int = 3600
    bias_deadband: float = 0.10
    #: ratios are taken on loads shifted by this fraction of one instance's capacity
    calibration_offset: float = 0.1
    local_calibration: bool = True
    price_from_boot: bool = True
    #: price an instance added now for the stabilisation window too (the replay trade-off benchmark:
    #: with the 5-minute stabilisation it is the cheaper setting that still meets the under-time target)
    price_commitment: bool = True
    #: while the newest decision is reactive, target tracking (functions/domain/reactive.py) is fed every
    #: datapoint between decisions and its capacity applies (:func:`with_tracking`; replay and decider alike,
    #: the forecaster then summarises every target every round)
    reactive_tracking: bool = False
    #: in forecast mode too, target tracking's scale-outs are a floor (Crane EHPA's max of prediction and
    #: current need); needs ``reactive_tracking`` for the counters to be kept
    tracking_floor: bool = False
    #: a datapoint that needs more than the desired capacity at ``slo_utilization`` (:func:`is_surprise`)
    #: makes a decision due at once, between the regular ones (forecaster and replay alike)
    surprise_decisions: bool = False

    def __post_init__(self) -> None:
        if not self.quantiles or any(not 0.5 <= q < 1 for q in self.quantiles):
            raise ValueError("quantiles: each must lie in [0.5, 1)")
        if self.stale_after_seconds <= 0:
            raise ValueError("stale_after_seconds: must be positive")


@dataclass(frozen=True)
class PlanStep:
    at: datetime
    capacity: int


@dataclass(frozen=True)
class Decision:
    """The outcome of one decision for one target (a value object; nothing here has been executed)."""

    target_id: str
    decided_at: datetime
    mode: Mode
    execute: bool
    action: Action
    previous_desired: int
    in_service: int
    desired: int
    min_capacity: int
    max_capacity: int
    confidence: float
    reactive: bool
    reason: str
    #: why a reactive decision was reactive: "no_forecast", "stale", "low_confidence" or "no_recent_load"
    reactive_why: str | None = None
    quantile: float | None = None
    peak_load: float | None = None
    peak_at: datetime | None = None
    plan: tuple[PlanStep, ...] = ()
    state: TargetState = field(default_factory=TargetState)
    #: the SLO budget's margin on the priced load (functions/domain/slo_budget.py); 1 when reactive (not applied)
    margin: float = 1.0

    def to_event(
        self, *, decision_id: str, sequence: int, kind: Literal["asg", "ecs"], valid_until: datetime
    ) -> ScalingDecided:
        """The ``ScalingDecided`` event the decider publishes for this decision (refused after ``valid_until``)."""
        return ScalingDecided(
            decision_id=decision_id,
            target_id=self.target_id,
            kind=kind,
            mode=self.mode,
            decided_at=self.decided_at,
            valid_until=valid_until,
            sequence=sequence,
            previous_desired=self.previous_desired,
            desired_capacity=self.desired,
            min_capacity=self.min_capacity,
            max_capacity=self.max_capacity,
            action=self.action,
            confidence=self.confidence,
            reactive=self.reactive,
            reason=self.reason,
        )


# --------------------------------------------------------------------------- load distributions


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
class _Window:
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


# --------------------------------------------------------------------------- helpers


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _ns(moment: datetime) -> int:
    aware = _aware(moment)
    return int(aware.timestamp()) * _NS + aware.microsecond * 1000


def _from_ns(value: int) -> datetime:
    return datetime.fromtimestamp(value // _NS, tz=UTC) + timedelta(microseconds=(value % _NS) // 1000)


def format_load(value: float, unit: str = "") -> str:
    """``12,400 req/min`` for large loads, three significant digits for small and absurd ones (``1e+30``)."""
    text = f"{value:,.0f}" if 100 <= value < 1e15 else f"{value:.3g}"
    return f"{text} {unit}" if unit else text


_LARGEST = float(np.finfo(float).max)


def _finite_loads(loads: np.ndarray) -> np.ndarray:
    """Forecast loads with overflow (inf) and broken arithmetic (NaN, e.g. inf - inf) read as the largest load:
    an absurd forecast saturates the need at ``max_capacity``; it never reads as no load."""
    return np.nan_to_num(loads, nan=_LARGEST, posinf=_LARGEST, neginf=0.0)


def _quantile_label(q: float) -> str:
    return f"p{round(q * 100, 1):g}"


def _floor_for(floors: Sequence[CapacityFloor], start_ns: int, end_ns: int) -> tuple[int, str | None]:
    best, name = 0, None
    for floor in floors:
        if _ns(floor.start) < end_ns and _ns(floor.end) > start_ns and floor.capacity > best:
            best, name = floor.capacity, floor.name
    return best, name


def _forecast_problem(
    forecast: ForecastPath | NoForecast | None,
    *,
    now_ns: int,
    window_end_ns: int,
    step_ns: int,
    policy: DecisionPolicy,
    calibration: ForecastCalibration | None = None,
) -> tuple[str | None, bool]:
    """``(why the forecast is unusable or None, whether it is stale)``."""
    if forecast is None:
        return "no forecast", False
    if isinstance(forecast, NoForecast):
        return f"no forecast ({forecast.reason})", False
    age = (now_ns - _ns(forecast.issued_at)) / _NS
    if age > policy.stale_after_seconds:
        return f"forecast stale (issued {age / 60:.0f} min ago)", True
    stamps = forecast.ds.asi8
    if len(stamps) == 0 or stamps[-1] + step_ns < window_end_ns or stamps[0] >= now_ns + step_ns:
        return "forecast stale (does not cover the coming window)", True
    trust = confidence_of(forecast, calibration)
    if trust < policy.min_confidence:
        why = f"forecast confidence {trust:.2f} below {policy.min_confidence:g}"
        if calibration is not None and calibration.confidence is not None and calibration.error_ratio is not None:
            why += f" (recent error {calibration.error_ratio:.2g}x seasonal naive's)"
        return why, False
    return None, False


def confidence_of(forecast: ForecastPath, calibration: ForecastCalibration | None) -> float:
    """The confidence compared with ``min_confidence``: the record's when it has one, else the forecast's own."""
    if calibration is not None and calibration.confidence is not None:
        return calibration.confidence
    return forecast.confidence


def _cost_optimal_quantile(
    window: _Window,
    *,
    per_instance: float,
    target: ScalingTarget,
    step_seconds: int,
    policy: DecisionPolicy,
    current: int | None = None,
) -> tuple[float, int, float]:
    """``(q, instances, expected cost)`` with the least expected cost (ties go to the higher q).

    Given the ``current`` capacity (and with ``price_commitment``), an instance added now is priced for
    the stabilisation window as well: once launched it cannot be removed before the plan has stayed
    lower that long. Without it, the plain cost of the window (what scale-in and the plan use).
    """
    price = target.cost.instance_hour_price
    hours = len(window.p50) * step_seconds / 3600.0
    committed = policy.price_commitment and current is not None
    committed_hours = target.scale_in_stabilization_seconds / 3600.0 if committed else 0.0
    minutes = step_seconds / 60.0
    best: tuple[float, int, float] | None = None
    for q in policy.quantiles:
        load = _finite_loads(window.load_at(q))
        need = target.clamp(int(instances_for_array(load, per_instance).max()))
        violation_minutes = float(window.exceedance(need * per_instance).sum()) * minutes
        cost = (
            need * price * hours
            + max(0, need - (current or 0)) * price * committed_hours
            + target.cost.violation_minute_penalty * violation_minutes
        )
        if best is None or cost <= best[2] + 1e-12:
            best = (q, need, cost)
    assert best is not None
    return best


def _why_not_more(
    window: _Window,
    have: int,
    want: int,
    *,
    per_instance: float,
    target: ScalingTarget,
    step_seconds: int,
    policy: DecisionPolicy,
) -> str:
    """Why the cost-optimal choice keeps ``have`` below the need ``want`` just named: what the extra
    instances cost (the window, and the stabilisation they are then committed for) against the expected
    violation cost they save, both as :func:`_cost_optimal_quantile` prices them."""
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
    saved = target.cost.violation_minute_penalty * avoided
    what = "one more instance" if extra == 1 else f"{extra:,} more instances"
    spans = f"{window_minutes:.0f} min" + (f" + {committed_minutes:.0f} min committed" if committed_minutes else "")
    verdict = "not worth it" if saved <= instance_cost else "a lower priced quantile costs less in all"
    return (
        f"{what} ({want:,} in all) {'costs' if extra == 1 else 'cost'} {instance_cost:.3g} for {spans}; "
        f"expected violation cost saved "
        f"{saved:.3g} ({avoided:.2g} min at {target.cost.violation_minute_penalty:g}/min): {verdict}"
    )


# --------------------------------------------------------------------------- the decision


def decide(
    forecast: ForecastPath | NoForecast | None,
    *,
    current: CurrentCapacity,
    target: ScalingTarget,
    state: TargetState,
    now: datetime,
    floors: Sequence[CapacityFloor] = (),
    calibration: ForecastCalibration | None = None,
    kill_switch: bool = False,
    policy: DecisionPolicy | None = None,
    margin: float = 1.0,
    margin_clause: str | None = None,
) -> Decision:
    """Decide the desired capacity of ``target`` at ``now`` (see the module docstring for the rules).

    ``margin`` multiplies the load forecast mode prices (the SLO budget's, :mod:`functions.domain.slo_budget`;
    ``margin_clause`` says why in the reason); the reactive rule and the newest-load guard do without it.
    """
    policy = policy or DecisionPolicy()
    if not (MIN_MARGIN <= margin <= MAX_MARGIN):
        raise ValueError(f"margin: {margin!r} outside [{MIN_MARGIN}, {MAX_MARGIN}]")
    cap = capacity_of(target)
    actual_per_instance = cap * target.slo_utilization
    per_instance = actual_per_instance / margin
    step = target.metric.period_seconds
    unit = target.metric.unit_label
    now = _aware(now)
    now_ns = _ns(now)
    window_end_ns = now_ns + (target.boot_seconds + target.decision_interval_seconds) * _NS
    scale_in_end_ns = window_end_ns + target.boot_seconds * _NS
    floor, floor_name = _floor_for(floors, now_ns, window_end_ns)
    step_ns = step * _NS
    problem, stale = _forecast_problem(
        forecast, now_ns=now_ns, window_end_ns=window_end_ns, step_ns=step_ns, policy=policy, calibration=calibration
    )

    clauses: list[str] = []
    quantile: float | None = None
    peak_load: float | None = None
    peak_at: datetime | None = None
    plan: tuple[PlanStep, ...] = ()
    confidence = confidence_of(forecast, calibration) if isinstance(forecast, ForecastPath) and not stale else 0.0
    reactive = problem is not None
    may_scale_in = not stale
    recent = current.recent_load
    if reactive:
        if recent is None:
            need_out = need_in = current.desired
            clauses.append(f"{problem} and no recent load: hold")
        else:
            need_out = need_in = target.clamp(
                reactive_need(recent, capacity_per_instance=cap, target_utilization=target.target_utilization)
            )
            clauses.append(
                f"{problem}: reactive rule, load {format_load(recent, unit)} needs {_instances(need_out)} "
                f"at {target.target_utilization:g} target utilisation"
            )
        if stale:
            clauses.append("never scales in on a stale forecast")
    else:
        assert isinstance(forecast, ForecastPath)
        usable_calibration = (
            calibration if calibration is not None and calibration.samples >= policy.min_calibration_samples else None
        )
        stamps = forecast.ds.asi8
        p50 = forecast.p50
        p90 = np.maximum(p50, forecast.p90)
        p99 = np.maximum(p90, forecast.p99)
        # the step that holds ``now`` and every later one (a forecast on a grid offset from ``now`` is fine)
        ahead = stamps > now_ns - step_ns
        in_window = ahead & (stamps < window_end_ns)
        # Launches serve from now + boot: only the steps from then on are priced to choose q and the
        # capacity to add; the steps before only guard scale-in (need_in below covers them).
        priced = in_window & (stamps + step_ns > now_ns + target.boot_seconds * _NS)
        if not policy.price_from_boot or not priced.any():
            priced = in_window
        window = _Window(
            p50=p50[priced],
            p90=p90[priced],
            p99=p99[priced],
            stamps=stamps[priced],
            calibration=usable_calibration,
        )
        # q for the plan and scale-in: the plain cost; q for adding capacity: with its commitment priced
        # (never above the plain one, so stabilisation can only make scale-in rarer, never likelier)
        plain_q, plain_need, _ = _cost_optimal_quantile(
            window, per_instance=per_instance, target=target, step_seconds=step, policy=policy
        )
        out_q, need_out, _ = _cost_optimal_quantile(
            window, per_instance=per_instance, target=target, step_seconds=step, policy=policy, current=current.desired
        )
        adding = need_out > current.desired
        quantile = out_q if adding else plain_q
        # The plan over the whole forecast: need at each step for the window that starts there.
        horizon = _Window(
            p50=p50[ahead],
            p90=p90[ahead],
            p99=p99[ahead],
            stamps=stamps[ahead],
            calibration=usable_calibration,
        )
        loads = _finite_loads(horizon.load_at(plain_q))
        per_step = instances_for_array(loads, per_instance)
        if quantile != plain_q:
            loads = _finite_loads(horizon.load_at(quantile))
        window_loads = np.where(priced[ahead], loads, -1.0)
        top = int(np.argmax(window_loads))
        peak_load, peak_at = float(loads[top]), _from_ns(int(horizon.stamps[top]))
        width = max(1, math.ceil((target.boot_seconds + target.decision_interval_seconds) / step))
        rolling = per_step.copy()
        for shift in range(1, width):
            rolling[:-shift] = np.maximum(rolling[:-shift], per_step[shift:])
        plan = tuple(
            PlanStep(
                at=_from_ns(int(stamp)),
                capacity=target.clamp(
                    max(int(n), _floor_for(floors, int(stamp), int(stamp) + (width * step) * _NS)[0])
                ),
            )
            for stamp, n in zip(horizon.stamps, rolling, strict=True)
        )
        in_scale_in = horizon.stamps < scale_in_end_ns
        need_in = max(need_out, plain_need, target.clamp(int(per_step[in_scale_in].max())))
        if not adding:
            need_out = min(plain_need, current.desired)
        zone = ZoneInfo(target.timezone)
        raw_need = instances_for(peak_load, per_instance)
        clauses.append(
            f"{_quantile_label(quantile)} load {format_load(peak_load, unit)} at "
            f"{peak_at.astimezone(zone):%H:%M} needs {_instances(raw_need)} at {target.slo_utilization:g} SLO utilisation"
        )
        if raw_need > target.max_capacity:
            clauses.append(f"max_capacity {target.max_capacity} caps it")
        if margin != 1.0 and margin_clause:
            clauses.append(margin_clause)
        if policy.guard_recent_load and recent is not None:
            guard = target.clamp(instances_for(recent, actual_per_instance))
            if guard > need_out:
                clauses.append(f"newest load {format_load(recent, unit)} needs {guard}")
                need_out = guard
            need_in = max(need_in, guard)
        if not adding and plain_need > need_out:
            clauses.append(
                _why_not_more(
                    window,
                    need_out,
                    plain_need,
                    per_instance=per_instance,
                    target=target,
                    step_seconds=step,
                    policy=policy,
                )
            )
        clauses.append(f"boot takes {target.boot_seconds} s")

    if floor > max(need_out, need_in):
        clauses.append(f"business floor {floor_name!r} {floor}")
    need_out = target.clamp(max(need_out, floor))
    need_in = target.clamp(max(need_in, need_out))

    desired_now = current.desired
    new_state = state
    lower_since = state.plan_lower_since
    if need_out > desired_now:
        proposal = need_out
        lower_since = None
    elif need_in < desired_now:
        lower_since = lower_since or now
        waited = (now - _aware(lower_since)).total_seconds()
        if not may_scale_in:
            proposal = desired_now
        elif waited >= target.scale_in_stabilization_seconds:
            proposal = need_in
        else:
            proposal = desired_now
            clauses.append(
                f"scale-in to {need_in} waits for stabilisation "
                f"({waited / 60:.0f} of {target.scale_in_stabilization_seconds / 60:.0f} min)"
            )
    else:
        proposal = desired_now
        lower_since = None

    limited = min(proposal, desired_now + target.max_step_up)
    limited = max(limited, desired_now - target.max_step_down)
    if limited != proposal:
        clauses.append(f"step limit {limited - desired_now:+d}")
    bounded = target.clamp(limited)
    if bounded != limited:
        clauses.append(f"bounds [{target.min_capacity}, {target.max_capacity}]")

    if kill_switch:
        would = action_between(desired_now, bounded)
        clauses.append(
            f"kill switch on: hold {desired_now} (would {would.replace('_', ' ')} {desired_now} → {bounded})"
        )
        bounded = target.clamp(desired_now)
        lower_since = state.plan_lower_since
    action = action_between(desired_now, bounded)
    if action == "scale_out":
        new_state = replace(state, last_scale_out_at=now, plan_lower_since=None)
    elif action == "scale_in":
        new_state = replace(state, last_scale_in_at=now, plan_lower_since=lower_since if need_in < bounded else None)
    else:
        new_state = replace(state, plan_lower_since=lower_since)
    if not kill_switch:
        verb = {"scale_out": "scale out", "scale_in": "scale in", "hold": "hold"}[action]
        clauses.append(f"{verb} {desired_now} → {bounded}" if action != "hold" else f"hold {bounded}")
    execute = target.mode != "forecast_only" and not kill_switch
    if target.mode == "forecast_only":
        clauses.append("forecast_only: not executed")
    reason = "; ".join(clauses)
    if len(reason) > MAX_REASON:
        reason = reason[: MAX_REASON - 1] + "…"
    return Decision(
        target_id=target.target_id,
        decided_at=now,
        mode=target.mode,
        execute=execute,
        action=action,
        previous_desired=desired_now,
        in_service=current.in_service,
        desired=bounded,
        min_capacity=target.min_capacity,
        max_capacity=target.max_capacity,
        confidence=confidence,
        reactive=reactive,
        reason=reason,
        reactive_why=_why_reactive(problem, stale=stale, recent=recent) if reactive else None,
        quantile=quantile,
        peak_load=peak_load,
        peak_at=peak_at,
        plan=plan,
        state=new_state,
        margin=1.0 if reactive else margin,
    )


def never_scale_in(decision: Decision, *, state: TargetState) -> Decision:
    """Without a usable forecast :func:`decide`'s reactive rule may add capacity, never remove it (the state
    it would have stored for a scale-in is dropped for ``state``, the one stored before). Scale-in without a
    forecast is target tracking's alone (:func:`with_tracking`): sustained-low fresh datapoints."""
    if decision.action != "scale_in":
        return decision
    return replace(
        decision,
        action="hold",
        desired=decision.previous_desired,
        reason=f"{decision.reason}; no usable forecast: never scales in, hold {decision.previous_desired}"[:MAX_REASON],
        state=state,
    )


def tracking_rule(target: ScalingTarget, step_seconds: int) -> TargetTracking:
    """Target tracking on ``target``'s metric at ``step_seconds`` (what forescale runs while reactive, replay and
    decider alike)."""
    return TargetTracking(
        capacity_per_instance=float(capacity_of(target)),
        target_utilization=target.target_utilization,
        min_capacity=target.min_capacity,
        max_capacity=target.max_capacity,
        step_seconds=step_seconds,
    )


def with_tracking(policy: DecisionPolicy, *, reactive: bool, current: int, tracked: int, decided: int | None) -> int:
    """The capacity once target tracking is applied (replay and decider alike).

    ``tracked`` is target tracking's capacity after the newest datapoint, ``current`` the desired capacity
    before it, ``decided`` :func:`decide`'s capacity at a decision round (None between decisions) and
    ``reactive`` whether the newest decision was reactive. While reactive, target tracking's capacity
    applies (at a decision round, the larger of it and the decision's): scale-outs after its breaching
    periods, scale-ins only after its sustained-low periods. With ``tracking_floor`` its capacity is
    a floor in forecast mode too.
    """
    value = current if decided is None else decided
    if not policy.reactive_tracking:
        return value
    if reactive:
        return tracked if decided is None else max(decided, tracked)
    if policy.tracking_floor:
        return max(value, tracked)
    return value


def tracker_for(target: ScalingTarget, policy: DecisionPolicy | None = None) -> ForecastTracker:
    """The forecast record :func:`decide` is calibrated from, sized for ``target`` (replay and decider alike)."""
    policy = policy or DecisionPolicy()
    step = target.metric.period_seconds
    window_steps = math.ceil((target.boot_seconds + target.decision_interval_seconds) / step)
    decisions_per_day = 86_400 / target.decision_interval_seconds
    return ForecastTracker(
        offset=policy.calibration_offset * capacity_of(target),
        window_steps=window_steps,
        step_seconds=step,
        max_samples=max(1, int(policy.calibration_days * decisions_per_day * window_steps)),
        bias_seconds=policy.bias_seconds,
        bias_deadband=policy.bias_deadband,
        local=policy.local_calibration,
        confidence_seconds=policy.confidence_seconds,
        min_confidence_steps=policy.min_confidence_steps,
    )


def _why_reactive(problem: str | None, *, stale: bool, recent: float | None) -> str:
    """The kind of reason a decision was reactive (the replay report's per-mode table)."""
    if recent is None:
        return "no_recent_load"
    if stale:
        return "stale"
    if problem is not None and problem.startswith("no forecast"):
        return "no_forecast"
    return "low_confidence"


def _instances(count: int) -> str:
    if count >= MAX_NEED:
        return f"at least {MAX_NEED:,} instances"
    return f"{count} instance" if count == 1 else f"{count} instances"


def action_between(before: int, after: int) -> Action:
    """The action that takes desired capacity from ``before`` to ``after``."""
    if after > before:
        return "scale_out"
    if after < before:
        return "scale_in"
    return "hold"


def is_surprise(target: ScalingTarget, *, load: float | None, desired: int) -> bool:
    """Whether the newest ``load`` needs more instances than ``desired`` at ``slo_utilization``: the load has left
    what the last decision priced, so a decision should not wait for the next interval."""
    if load is None or not math.isfinite(load):
        return False
    return instances_for(load, capacity_of(target) * target.slo_utilization) > desired
