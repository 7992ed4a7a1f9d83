"""SLO breach detection in the decider: the rule the replay simulates, fed every round, one event per episode.

Every round the decider sees each target's newest load and in-service capacity. Each fresh datapoint newer
than the last one fed becomes one period's utilisation (``load / (in-service x capacity per instance)``,
the learned capacity for ``learn`` targets) and is fed to :func:`functions.domain.reactive.slo_alarm_step`
(above ``slo_utilization`` in 2 of the last 3 periods; periods without data are not breaching, as the
replay's NaN steps). Periods the collector skipped count as missing. When the rule goes from OK to
breached, an :class:`~events.contracts.SloBreached` naming the target is published: the alarm responder
scales out on it (as the replay's responder does) and the notification topic receives it. The rule's
state is kept in the target's stored state, so no CloudWatch alarm exists per target.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta

from events.contracts import MAX_UTILIZATION, ForecastSummary, SloBreached
from functions.domain.capacity_model import capacity_of
from functions.domain.clock import IdSource
from functions.domain.reactive import SloAlarm, SloAlarmState, slo_alarm_step, utilization
from functions.domain.target import ScalingTarget
from functions.ports.records import StoredTargetState
from functions.services.common import stale_data_after


def slo_rule(target: ScalingTarget) -> SloAlarm:
    return SloAlarm(threshold=target.slo_utilization)


def feed_slo(
    target: ScalingTarget, summary: ForecastSummary, stored: StoredTargetState, *, aligned: datetime
) -> tuple[SloAlarmState, datetime | None, bool]:
    """The rule fed this round's datapoint: (its state, the newest datapoint fed, whether it breached now).

    ``target`` has a numeric capacity per instance (the learned one for ``learn`` targets). A missing, late
    or already-fed datapoint feeds nothing; periods between the last one fed and this one count as missing.
    """
    rule = slo_rule(target)
    state, fed_at = SloAlarmState(stored.slo_recent, stored.slo_breached), stored.slo_fed_at
    load, in_service = summary.recent_load, summary.in_service_capacity
    fresh = load is not None and aligned - summary.history_end <= stale_data_after(target)
    if not fresh or in_service is None or (fed_at is not None and summary.history_end <= fed_at):
        return state, fed_at, False
    assert load is not None
    step = timedelta(seconds=target.metric.period_seconds)
    if fed_at is not None:
        skipped = int((summary.history_end - fed_at) / step) - 1
        for _ in range(min(max(skipped, 0), rule.evaluation_periods)):
            state, _ = slo_alarm_step(rule, state, math.nan)
    level = utilization(load, in_service=in_service, capacity_per_instance=capacity_of(target))
    state, fired = slo_alarm_step(rule, state, min(level, MAX_UTILIZATION))
    return state, summary.history_end, fired


def breach_event(
    target: ScalingTarget, summary: ForecastSummary, state: SloAlarmState, *, ids: IdSource, now: datetime
) -> SloBreached:
    """The event of a breach that began with this round's datapoint."""
    rule = slo_rule(target)
    return SloBreached(
        breach_id=ids.new_id("breach"),
        target_id=target.target_id,
        detected_at=now,
        datapoint_at=summary.history_end,
        slo_utilization=target.slo_utilization,
        datapoints=state.datapoints(),
        evaluation_periods=rule.evaluation_periods,
        datapoints_to_alarm=rule.datapoints_to_alarm,
        in_service_capacity=summary.in_service_capacity or 0,
        desired_capacity=summary.desired_capacity or 0,
    )


def with_slo(stored: StoredTargetState, state: SloAlarmState, fed_at: datetime | None) -> StoredTargetState:
    """``stored`` carrying the rule's state."""
    return replace(stored, slo_recent=state.recent, slo_breached=state.alarm, slo_fed_at=fed_at)
