"""Capacity from load: how many instances a load needs, and learning what one instance serves.

``capacity_per_instance`` is the load one instance serves at 100 % utilisation. It is configured, or
learned from history with :func:`learn_capacity_per_instance`:

    load_t ≈ cap * busy_t,   busy_t = utilisation_t * in_service_t   (instance-equivalents at work)

a regression through the origin (no load means no work). It is fitted as scikit-learn's
``HuberRegressor`` (``fit_intercept=False``) fits it, with scipy (:mod:`functions.domain.huber`): squared loss for ordinary points and linear loss beyond
``epsilon`` robust standard deviations, so that incidents (a stuck process burning CPU with no
traffic, a cache flush sending traffic that costs nothing) do not drag the slope. Both series are
divided by the median load before fitting so that the regulariser and tolerance do not depend on the
unit (bytes or requests); the slope is scaled back afterwards.

In the pipeline (targets with ``capacity_per_instance: learn``): each collector round also reads the
fleet's average CPU utilisation (:func:`utilization_metric`: ``AWS/EC2 CPUUtilization`` of the Auto
Scaling group, ``AWS/ECS CPUUtilization`` of the service) and stores ``busy = utilisation x in-service``
for its newest complete period beside the load history (the series :func:`busy_series_id`); the daily
trainer fits the two over the last :data:`LEARN_DAYS` days and stores the estimate, which the decider
uses; until then the decider skips the target and says how many usable points there are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from functions.domain.target import MAX_CAPACITY_PER_INSTANCE, MIN_CAPACITY_PER_INSTANCE, LoadMetric, ScalingTarget

#: Guard against ``ceil(30.000000000004) == 31`` when a load sits exactly on an instance boundary.
_CEIL_TOLERANCE = 1e-9
#: Needs are counted up to this many instances, far above any ``max_capacity`` (at most 10,000): a larger,
#: infinite or overflowing need (a forecast of 1e30, a capacity of 1e-6 per instance) saturates here and is
#: then capped at ``max_capacity``, never wrapped around by integer arithmetic into a small number.
MAX_NEED = 1_000_000_000
MIN_SAMPLES = 30
#: how much history the trainer learns ``capacity_per_instance`` from
LEARN_DAYS = 14.0
#: never a target id (those allow ``A-Z a-z 0-9 _ . : / -``): the busy series sits beside the load
BUSY_SUFFIX = "~busy"


def busy_series_id(target_id: str) -> str:
    """Id under which a ``learn`` target's busy instance-equivalents are stored beside its load history."""
    return f"{target_id}{BUSY_SUFFIX}"


def utilization_metric(target: ScalingTarget) -> LoadMetric:
    """The fleet's average utilisation (percent) at the target's period: the target's own
    ``utilization_metric`` if it names one, else CPU utilisation as CloudWatch reports it."""
    if target.utilization_metric is not None:
        return target.utilization_metric
    if target.kind == "asg":
        namespace, dimensions = "AWS/EC2", {"AutoScalingGroupName": str(target.asg_name)}
    else:
        namespace = "AWS/ECS"
        dimensions = {"ClusterName": str(target.ecs_cluster), "ServiceName": str(target.ecs_service)}
    return LoadMetric(
        namespace=namespace,
        name="CPUUtilization",
        dimensions=dimensions,
        statistic="Average",
        period_seconds=target.metric.period_seconds,
        unit_label="%",
    )


def instances_for(load: float, load_per_instance: float) -> int:
    """Instances needed so that ``load`` stays at or below ``load_per_instance`` each: 0 for no (or unknown)
    load, at most :data:`MAX_NEED` (an infinite or overflowing need saturates)."""
    if not load_per_instance > 0:
        raise ValueError(f"load_per_instance: must be positive, got {load_per_instance!r}")
    if not load > 0:
        return 0
    ratio = load / load_per_instance
    if not ratio < MAX_NEED:
        return MAX_NEED
    return max(0, math.ceil(ratio - _CEIL_TOLERANCE))


def instances_for_array(load: np.ndarray, load_per_instance: float) -> np.ndarray:
    """Vectorised :func:`instances_for`, saturating at :data:`MAX_NEED` likewise; NaN (unknown load) gives -1."""
    if not load_per_instance > 0:
        raise ValueError(f"load_per_instance: must be positive, got {load_per_instance!r}")
    load = np.asarray(load, dtype=float)
    out = np.full(np.shape(load), -1, dtype=np.int64)
    known = ~np.isnan(load)
    with np.errstate(over="ignore"):
        ratio = np.minimum(load[known] / load_per_instance, float(MAX_NEED))
    out[known] = np.maximum(0.0, np.ceil(ratio - _CEIL_TOLERANCE)).astype(np.int64)
    return out


@dataclass(frozen=True)
class CapacityEstimate:
    """A learned ``capacity_per_instance`` and how much to trust it."""

    capacity_per_instance: float
    samples: int
    r2: float
    outliers: int
    method: str = "huber-through-origin"


def learn_capacity_per_instance(
    load: np.ndarray,
    utilization: np.ndarray,
    in_service: np.ndarray,
    *,
    utilization_unit: str = "fraction",
    epsilon: float = 1.35,
) -> CapacityEstimate:
    """Fit ``load ≈ cap * utilisation * in_service`` robustly through the origin (module docstring).

    ``utilization`` is the fleet's average utilisation, as a fraction (0 to 1) or in percent
    (``utilization_unit="percent"``, as CloudWatch's CPUUtilization reports it). Points with unknown
    or non-positive values are left out; fewer than 30 usable points is an error.
    """
    from functions.domain.huber import huber_through_origin

    if utilization_unit not in {"fraction", "percent"}:
        raise ValueError("utilization_unit: must be 'fraction' or 'percent'")
    load = np.asarray(load, dtype=float)
    util = np.asarray(utilization, dtype=float)
    count = np.asarray(in_service, dtype=float)
    if not (load.shape == util.shape == count.shape):
        raise ValueError(f"load: {load.shape}, utilization: {util.shape} and in_service: {count.shape} differ")
    if utilization_unit == "percent":
        util = util / 100.0
    busy = util * count
    usable = np.isfinite(load) & np.isfinite(busy) & (load > 0) & (busy > 0)
    samples = int(usable.sum())
    if samples < MIN_SAMPLES:
        raise ValueError(f"history: {samples} usable points (load > 0, utilisation > 0); at least {MIN_SAMPLES}")
    x, y = busy[usable], load[usable]
    scale = float(np.median(y))
    model = huber_through_origin(x, y / scale, epsilon=epsilon, max_iter=500)
    slope = model.slope * scale
    if not slope > 0:
        raise ValueError("history: load does not grow with utilisation; capacity_per_instance cannot be learned")
    if not MIN_CAPACITY_PER_INSTANCE <= slope <= MAX_CAPACITY_PER_INSTANCE:
        raise ValueError(
            f"capacity_per_instance: learned {slope:.3g}, outside the bounds a configuration accepts (at least "
            f"{MIN_CAPACITY_PER_INSTANCE:g}, at most {MAX_CAPACITY_PER_INSTANCE:g}): check the load metric's unit"
        )
    residual = y - slope * x
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((residual**2).sum()) / total if total > 0 else 1.0
    return CapacityEstimate(capacity_per_instance=slope, samples=samples, r2=r2, outliers=int(model.outliers.sum()))


def resolve_capacity(target: ScalingTarget, estimate: CapacityEstimate | None = None) -> ScalingTarget:
    """``target`` with a numeric ``capacity_per_instance``: the configured one, or the learned estimate."""
    if target.capacity_per_instance != "learn":
        return target
    if estimate is None:
        raise ValueError(f"capacity_per_instance: target {target.target_id} says 'learn' and nothing is learned yet")
    return target.model_copy(update={"capacity_per_instance": estimate.capacity_per_instance})


def capacity_of(target: ScalingTarget) -> float:
    """The numeric ``capacity_per_instance`` of a resolved target (error when still ``learn``)."""
    value = target.capacity_per_instance
    if isinstance(value, str):
        raise ValueError(f"capacity_per_instance: target {target.target_id} is not resolved ('learn')")
    return float(value)
