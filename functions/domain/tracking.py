"""Target tracking around the decision: while forescale is reactive, and the record the decision learns from.

Without a usable forecast :func:`functions.domain.decision.decide` falls back on the reactive rule;
target tracking (:mod:`functions.domain.reactive`, fed every datapoint) then governs between decisions
(:func:`with_tracking`) and is the only one that scales in (:func:`never_scale_in`). The replay and the
decider Lambda call these the same way.
"""

from __future__ import annotations

import math
from dataclasses import replace

from functions.domain.calibration import ForecastTracker
from functions.domain.capacity_model import capacity_of
from functions.domain.decision_records import MAX_REASON, Decision, DecisionPolicy, TargetState
from functions.domain.reactive import TargetTracking
from functions.domain.target import ScalingTarget


def never_scale_in(decision: Decision, *, state: TargetState) -> Decision:
    """Without a usable forecast the decision's reactive rule may add capacity, never remove it (the state it
    would have stored for a scale-in is dropped for ``state``, the one stored before). Scale-in without a
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
    before it, ``decided`` the decision's capacity at a decision round (None between decisions) and
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
    """The forecast record the decision is calibrated from, sized for ``target`` (replay and decider alike)."""
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
