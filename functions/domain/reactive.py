"""The reactive rule: target tracking with AWS semantics, as the replay's reference and as forescale's fallback.

AWS target tracking keeps a metric (here utilisation = load / (in-service instances * capacity per
instance)) near a set-point. Its alarms fire after the metric has been above the set-point for 3
minutes (scale out) or below 90 % of it for 15 minutes (scale in); the new capacity is the one that
brings the metric back to the set-point, ``ceil(load / (cap * target))``. Instances still booting do
not count: they take no load and report no utilisation. A step of unknown load leaves the alarms
where they were (AWS's "missing data: maintain state").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from functions.domain.capacity_model import instances_for
from functions.domain.target import ScalingTarget

SCALE_OUT_AFTER_SECONDS = 180
SCALE_IN_AFTER_SECONDS = 900
SCALE_IN_RATIO = 0.9


def reactive_need(load: float, *, capacity_per_instance: float, target_utilization: float) -> int:
    """Instances that bring utilisation back to the set-point for ``load``."""
    return instances_for(load, capacity_per_instance * target_utilization)


@dataclass(frozen=True)
class TargetTracking:
    """One target-tracking policy: set-point, bounds, and the alarm periods in seconds."""

    capacity_per_instance: float
    target_utilization: float
    min_capacity: int
    max_capacity: int
    step_seconds: int
    scale_out_after_seconds: int = SCALE_OUT_AFTER_SECONDS
    scale_in_after_seconds: int = SCALE_IN_AFTER_SECONDS
    scale_in_ratio: float = SCALE_IN_RATIO

    def __post_init__(self) -> None:
        if self.capacity_per_instance <= 0:
            raise ValueError("capacity_per_instance: must be positive")
        if not 0 < self.target_utilization < 1:
            raise ValueError("target_utilization: must lie in (0, 1)")
        if self.step_seconds <= 0:
            raise ValueError("step_seconds: must be positive")

    @property
    def scale_out_steps(self) -> int:
        """Consecutive breaching datapoints for the scale-out alarm (at least one)."""
        return max(1, math.ceil(self.scale_out_after_seconds / self.step_seconds))

    @property
    def scale_in_steps(self) -> int:
        return max(1, math.ceil(self.scale_in_after_seconds / self.step_seconds))


@dataclass(frozen=True)
class AlarmState:
    """Consecutive datapoints above the set-point and below ``scale_in_ratio`` * set-point."""

    above: int = 0
    below: int = 0


def utilization(load: float, *, in_service: int, capacity_per_instance: float) -> float:
    """Average utilisation of the in-service instances (infinite when load meets no instance)."""
    if in_service <= 0:
        return math.inf if load > 0 else 0.0
    return load / (in_service * capacity_per_instance)


def target_tracking_step(
    policy: TargetTracking, alarms: AlarmState, *, load: float, in_service: int, desired: int
) -> tuple[int, AlarmState]:
    """Feed one datapoint (the newest observed step) and return the new desired capacity and alarms."""
    if math.isnan(load):
        return desired, alarms
    level = utilization(load, in_service=in_service, capacity_per_instance=policy.capacity_per_instance)
    if level > policy.target_utilization:
        alarms = AlarmState(above=alarms.above + 1, below=0)
    elif level < policy.scale_in_ratio * policy.target_utilization:
        alarms = AlarmState(above=0, below=alarms.below + 1)
    else:
        alarms = AlarmState()
    need = reactive_need(
        load, capacity_per_instance=policy.capacity_per_instance, target_utilization=policy.target_utilization
    )
    need = max(policy.min_capacity, min(policy.max_capacity, need))
    if alarms.above >= policy.scale_out_steps and need > desired:
        return need, alarms
    if alarms.below >= policy.scale_in_steps and need < desired:
        return need, alarms
    return max(policy.min_capacity, min(policy.max_capacity, desired)), alarms


# --------------------------------------------------------------------------- the SLO alarm and its responder

#: The SLO breach rule the decider evaluates every round for every target (functions/services/decider_slo.py):
#: utilisation above ``slo_utilization`` in 2 of the last 3 periods of the target's metric; missing data is
#: not breaching.
SLO_ALARM_EVALUATION_PERIODS = 3
SLO_ALARM_DATAPOINTS_TO_ALARM = 2


@dataclass(frozen=True)
class SloAlarm:
    """CloudWatch's M-of-N alarm on utilisation (one period = one step of the target's metric)."""

    threshold: float
    evaluation_periods: int = SLO_ALARM_EVALUATION_PERIODS
    datapoints_to_alarm: int = SLO_ALARM_DATAPOINTS_TO_ALARM

    def __post_init__(self) -> None:
        if not 1 <= self.datapoints_to_alarm <= self.evaluation_periods:
            raise ValueError("datapoints_to_alarm: must lie in [1, evaluation_periods]")


@dataclass(frozen=True)
class SloAlarmState:
    """The last ``evaluation_periods`` utilisation datapoints (NaN = missing) and whether the alarm is in ALARM."""

    recent: tuple[float, ...] = ()
    alarm: bool = False

    def datapoints(self) -> list[float]:
        """What CloudWatch puts in the state change's ``recentDatapoints``: the finite evaluated values."""
        return [value for value in self.recent if math.isfinite(value)]


def slo_alarm_step(alarm: SloAlarm, state: SloAlarmState, level: float) -> tuple[SloAlarmState, bool]:
    """Feed one period's utilisation; return the new state and whether it went to ALARM with this period
    (the only moment CloudWatch sends the state-change event the responder acts on)."""
    recent = (*state.recent, level)[-alarm.evaluation_periods :]
    breaching = sum(1 for value in recent if not math.isnan(value) and value > alarm.threshold)
    in_alarm = breaching >= alarm.datapoints_to_alarm
    return SloAlarmState(recent, in_alarm), in_alarm and not state.alarm


def alarm_scale_out(target: ScalingTarget, *, desired: int, in_service: int, datapoints: Sequence[float]) -> int:
    """The alarm responder's capacity: what brings the highest recent utilisation (the threshold when AWS
    sent none) back to the set-point, at least one more than ``desired``, within the step limit and bounds."""
    level = max(datapoints) if datapoints else target.slo_utilization
    need = math.ceil(level * max(1, in_service) / target.target_utilization - 1e-9)
    proposal = min(max(need, desired + 1), desired + target.max_step_up)
    return target.clamp(proposal)
