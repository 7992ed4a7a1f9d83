"""Target tracking in the decider: fed every round, applied while the newest decision is reactive.

Target tracking (``DecisionPolicy.reactive_tracking``): the forecaster then sends, every collection round,
a summary of each target that is not due, pointing at the forecast already decided on (a round between
decisions). Every round the round's datapoint, if fresh and newer than the last one fed, is fed to target
tracking (:func:`functions.domain.reactive.target_tracking_step`; its counters, the newest datapoint fed,
the forecast decided on and whether the newest decision was reactive are in the target's stored state);
a missing or late datapoint feeds nothing, so stale data never moves capacity. While the newest decision
is reactive, target tracking's capacity applies (:func:`functions.domain.decision.with_tracking`, as the
replay applies it): between decisions it is recorded as a reactive decision, with the next sequence, when
it changes the capacity (:mod:`functions.services.decider`); at a decision
round the larger of it and the decision's. Scale-in without a forecast is then target tracking's: fresh
datapoints below 90 % of its set-point for 15 minutes.
"""

from __future__ import annotations

from datetime import datetime

from events.contracts import ForecastSummary
from functions.domain.decision import (
    MAX_REASON,
    Decision,
    DecisionPolicy,
    TargetState,
    action_between,
    format_load,
    tracking_rule,
)
from functions.domain.reactive import AlarmState, target_tracking_step
from functions.domain.target import ScalingTarget
from functions.ports.records import StoredTargetState
from functions.services.common import stale_data_after


def feed_tracking(
    target: ScalingTarget,
    summary: ForecastSummary,
    stored: StoredTargetState,
    *,
    policy: DecisionPolicy,
    aligned: datetime,
    desired: int,
) -> tuple[int, AlarmState, datetime | None]:
    """Target tracking fed this round's datapoint: (its capacity, its counters, the newest datapoint fed).

    Only a fresh datapoint newer than the last one fed counts; a missing or late one leaves the counters
    where they were (AWS's "missing data: maintain state"), so stale data never moves capacity.
    """
    alarms, fed_at = AlarmState(stored.tracking_above, stored.tracking_below), stored.tracking_fed_at
    fresh = summary.recent_load is not None and aligned - summary.history_end <= stale_data_after(target)
    if not policy.reactive_tracking or not fresh or (fed_at is not None and summary.history_end <= fed_at):
        return desired, alarms, fed_at
    assert summary.recent_load is not None
    tracked, alarms = target_tracking_step(
        tracking_rule(target, target.metric.period_seconds),
        alarms,
        load=summary.recent_load,
        in_service=summary.in_service_capacity or 0,
        desired=desired,
    )
    return tracked, alarms, summary.history_end


def tracking_clause(target: ScalingTarget, alarms: AlarmState, load: float | None, capacity: int) -> str:
    """Why target tracking moved capacity: its breaching datapoints and the load's need."""
    rule = tracking_rule(target, target.metric.period_seconds)
    if alarms.above:
        why = f"{alarms.above} datapoints above {rule.target_utilization:g} utilisation"
    else:
        why = f"{alarms.below} datapoints below {rule.scale_in_ratio * rule.target_utilization:g} utilisation"
    shown = "" if load is None else f", load {format_load(load, target.metric.unit_label)}"
    return f"target tracking: {why}{shown} needs {capacity}"


def between_decision(
    target: ScalingTarget,
    summary: ForecastSummary,
    stored: StoredTargetState,
    state: TargetState,
    *,
    aligned: datetime,
    desired_now: int,
    final: int,
    clause: str,
) -> Decision:
    """Target tracking's decision between forecasts (``clause``: why it moves)."""
    reactive = stored.reactive_why is not None
    mode = f"reactive ({stored.reactive_why})" if reactive else "tracking floor in forecast mode"
    clauses = [clause, f"between decisions, {mode}"]
    if target.mode == "forecast_only":
        clauses.append("forecast_only: not executed")
    return Decision(
        target_id=target.target_id,
        decided_at=aligned,
        mode=target.mode,
        execute=target.mode != "forecast_only",
        action=action_between(desired_now, final),
        previous_desired=desired_now,
        in_service=summary.in_service_capacity or 0,
        desired=final,
        min_capacity=target.min_capacity,
        max_capacity=target.max_capacity,
        confidence=0.0,
        reactive=reactive,
        reason="; ".join(clauses)[:MAX_REASON],
        reactive_why=stored.reactive_why,
        state=state,
    )
