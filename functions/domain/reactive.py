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
from dataclasses import dataclass

from functions.domain.capacity_model import instances_for

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
