"""The decision engine's values: what :func:`functions.domain.decision.decide` takes, what its steps share
and return, and what it concludes; with the units they are read in (time as ns since the epoch, loads and
counts as the reason's words).

Here so that the decision's steps, the forecast's need (:mod:`functions.domain.forecast_need`), its pricing
(:mod:`functions.domain.pricing`) and target tracking's part (:mod:`functions.domain.tracking`) share them
without importing one another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from events.contracts import Mode, ScalingDecided
from functions.domain.capacity_model import MAX_NEED, capacity_of
from functions.domain.target import ScalingTarget

Action = Literal["scale_out", "scale_in", "hold"]
MAX_REASON = 500
#: bounds of :func:`functions.domain.decision.decide`'s ``margin`` (the SLO budget's: functions/domain/slo_budget.py):
#: above 1 it multiplies the priced load, below 1 the violation price
MIN_MARGIN = 0.25
MAX_MARGIN = 4.0
NS = 1_000_000_000


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
    #: datapoint between decisions and its capacity applies (:func:`functions.domain.tracking.with_tracking`;
    #: replay and decider alike). On twitter_stream_2021 (tuning half, 30 days) it brought forescale's
    #: under-time in its reactive minutes from 3.31 % to 2.94 %, below target tracking's 3.11 % on the same
    #: minutes, overall 4.77 % / 1.431 -> 4.76 % / 1.436
    reactive_tracking: bool = True
    #: in forecast mode too, target tracking's scale-outs are a floor (Crane EHPA's max of prediction and
    #: current need); needs ``reactive_tracking`` for the counters to be kept
    tracking_floor: bool = False
    #: a datapoint that needs more than the desired capacity at ``slo_utilization``
    #: (:func:`functions.domain.decision.is_surprise`) makes a decision due at once, between the regular ones
    #: (forecaster and replay alike). Tuning half's 1-minute traces, 30 days: twitter_stream_2021 4.77 % /
    #: 1.431 -> 4.43 % / 1.456 with 323 extra decisions (7 %); aiops_6d1114ae 0.05 % / 1.202 -> 0.05 % / 1.204
    #: with 6
    surprise_decisions: bool = True

    def __post_init__(self) -> None:
        if not self.quantiles or any(not 0.5 <= q < 1 for q in self.quantiles):
            raise ValueError("quantiles: each must lie in [0.5, 1)")
        if self.stale_after_seconds <= 0:
            raise ValueError("stale_after_seconds: must be positive")


@dataclass(frozen=True)
class PlanStep:
    """The capacity the plan holds from ``at``: the need of the decision window that starts there."""

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
    #: the SLO budget's margin (functions/domain/slo_budget.py): above 1 on the priced load, below 1 on the
    #: violation price; 1 when reactive (not applied)
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


@dataclass(frozen=True)
class DecisionContext:
    """What every step of one decision shares: the target, the policy, ``now`` and the window it answers for."""

    target: ScalingTarget
    policy: DecisionPolicy
    now: datetime
    now_ns: int
    step: int
    step_ns: int
    window_end_ns: int
    scale_in_end_ns: int
    cap: float
    #: load one instance serves at ``slo_utilization``; ``per_instance`` is it over the SLO budget's margin (above 1)
    actual_per_instance: float
    per_instance: float
    unit: str
    #: the price of a violation minute the quantile is chosen with: the target's, times the margin below 1
    violation_price: float

    @classmethod
    def of(cls, target: ScalingTarget, policy: DecisionPolicy, now: datetime, margin: float) -> DecisionContext:
        """The window is ``[now, now + boot + decision interval)``; scale-in looks one more boot time past it."""
        cap = capacity_of(target)
        actual_per_instance = cap * target.slo_utilization
        step = target.metric.period_seconds
        now_ns = to_ns(now)
        window_end_ns = now_ns + (target.boot_seconds + target.decision_interval_seconds) * NS
        return cls(
            target=target,
            policy=policy,
            now=as_utc(now),
            now_ns=now_ns,
            step=step,
            step_ns=step * NS,
            window_end_ns=window_end_ns,
            scale_in_end_ns=window_end_ns + target.boot_seconds * NS,
            cap=cap,
            actual_per_instance=actual_per_instance,
            per_instance=actual_per_instance / max(1.0, margin),
            unit=target.metric.unit_label,
            violation_price=target.cost.violation_minute_penalty * min(1.0, margin),
        )


@dataclass(frozen=True)
class Need:
    """A step's need: scale out to ``out``; scale in no lower than ``keep``; the reason's words for it."""

    out: int
    keep: int
    clauses: tuple[str, ...] = ()


# --------------------------------------------------------------------------- units


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC (a naive one read as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def to_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch (the forecast's stamps), exact to the microsecond."""
    aware = as_utc(moment)
    return int(aware.timestamp()) * NS + aware.microsecond * 1000


def from_ns(value: int) -> datetime:
    """The UTC moment of ``value`` nanoseconds since the epoch."""
    return datetime.fromtimestamp(value // NS, tz=UTC) + timedelta(microseconds=(value % NS) // 1000)


def format_load(value: float, unit: str = "") -> str:
    """``12,400 req/min`` for large loads, three significant digits for small and absurd ones (``1e+30``)."""
    text = f"{value:,.0f}" if 100 <= value < 1e15 else f"{value:.3g}"
    return f"{text} {unit}" if unit else text


def quantile_label(q: float) -> str:
    """``p99.5`` for 0.995."""
    return f"p{round(q * 100, 1):g}"


def instances_text(count: int) -> str:
    """``1 instance``, ``12 instances``; a need past :data:`MAX_NEED` as "at least"."""
    if count >= MAX_NEED:
        return f"at least {MAX_NEED:,} instances"
    return f"{count} instance" if count == 1 else f"{count} instances"


def floor_for(floors: Sequence[CapacityFloor], start_ns: int, end_ns: int) -> tuple[int, str | None]:
    """The highest business floor active anywhere in ``[start_ns, end_ns)``, and its name (0, None: none)."""
    best, name = 0, None
    for floor in floors:
        if to_ns(floor.start) < end_ns and to_ns(floor.end) > start_ns and floor.capacity > best:
            best, name = floor.capacity, floor.name
    return best, name
