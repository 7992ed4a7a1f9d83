"""Rule 1 in forecast mode: the need the forecast prices, the plan, and the newest load as a floor (rule 2).

The window's load is read at the cost-optimal quantile (:mod:`functions.domain.pricing`): the steps from
``now + boot`` on set how much to add; every step up to one more boot time past the window guards
scale-in. See :mod:`functions.domain.decision` for the rules around it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

import numpy as np

from functions.domain.calibration import ForecastCalibration
from functions.domain.capacity_model import instances_for, instances_for_array
from functions.domain.decision_records import (
    NS,
    CapacityFloor,
    CurrentCapacity,
    DecisionContext,
    Need,
    PlanStep,
    floor_for,
    format_load,
    from_ns,
    instances_text,
    quantile_label,
)
from functions.domain.pricing import LoadWindow, cost_optimal_quantile, finite_loads, why_not_more
from models.api import ForecastPath


@dataclass(frozen=True)
class PricedNeed:
    """The forecast's need and what the decision reports of its pricing."""

    need: Need
    quantile: float
    peak_load: float
    peak_at: datetime
    plan: tuple[PlanStep, ...]


def _windows(
    forecast: ForecastPath, calibration: ForecastCalibration | None, ctx: DecisionContext
) -> tuple[LoadWindow, LoadWindow, np.ndarray]:
    """The priced window, the horizon (every step from ``now`` on) and which horizon steps are priced."""
    policy, target = ctx.policy, ctx.target
    usable_calibration = (
        calibration if calibration is not None and calibration.samples >= policy.min_calibration_samples else None
    )
    stamps = forecast.ds.asi8
    p50 = forecast.p50
    p90 = np.maximum(p50, forecast.p90)
    p99 = np.maximum(p90, forecast.p99)
    # the step that holds ``now`` and every later one (a forecast on a grid offset from ``now`` is fine)
    ahead = stamps > ctx.now_ns - ctx.step_ns
    in_window = ahead & (stamps < ctx.window_end_ns)
    # Launches serve from now + boot: only the steps from then on are priced to choose q and the
    # capacity to add; the steps before only guard scale-in (the need's ``keep`` covers them).
    priced = in_window & (stamps + ctx.step_ns > ctx.now_ns + target.boot_seconds * NS)
    if not policy.price_from_boot or not priced.any():
        priced = in_window
    window = LoadWindow(p50[priced], p90[priced], p99[priced], stamps[priced], usable_calibration)
    horizon = LoadWindow(p50[ahead], p90[ahead], p99[ahead], stamps[ahead], usable_calibration)
    return window, horizon, priced[ahead]


def _plan(
    stamps: np.ndarray, per_step: np.ndarray, floors: Sequence[CapacityFloor], ctx: DecisionContext
) -> tuple[PlanStep, ...]:
    """The plan over the whole forecast: the need at each step for the window that starts there."""
    target, step = ctx.target, ctx.step
    width = max(1, math.ceil((target.boot_seconds + target.decision_interval_seconds) / step))
    rolling = per_step.copy()
    for shift in range(1, width):
        rolling[:-shift] = np.maximum(rolling[:-shift], per_step[shift:])
    return tuple(
        PlanStep(
            at=from_ns(int(stamp)),
            capacity=target.clamp(max(int(n), floor_for(floors, int(stamp), int(stamp) + (width * step) * NS)[0])),
        )
        for stamp, n in zip(stamps, rolling, strict=True)
    )


def _recent_load_floor(need: Need, recent: float | None, ctx: DecisionContext) -> Need:
    """Rule 2: the newest observed load is a floor (``guard_recent_load``), without the SLO budget's margin."""
    if not ctx.policy.guard_recent_load or recent is None:
        return need
    guard = ctx.target.clamp(instances_for(recent, ctx.actual_per_instance))
    if guard > need.out:
        return Need(guard, max(need.keep, guard), (f"newest load {format_load(recent, ctx.unit)} needs {guard}",))
    return Need(need.out, max(need.keep, guard))


def _peak_clauses(quantile: float, peak_load: float, peak_at: datetime, ctx: DecisionContext) -> list[str]:
    """The reason's first words in forecast mode: the priced quantile's peak and what it needs."""
    target = ctx.target
    raw_need = instances_for(peak_load, ctx.per_instance)
    clauses = [
        f"{quantile_label(quantile)} load {format_load(peak_load, ctx.unit)} at "
        f"{peak_at.astimezone(ZoneInfo(target.timezone)):%H:%M} needs {instances_text(raw_need)} "
        f"at {target.slo_utilization:g} SLO utilisation"
    ]
    if raw_need > target.max_capacity:
        clauses.append(f"max_capacity {target.max_capacity} caps it")
    return clauses


def forecast_need(
    forecast: ForecastPath,
    *,
    current: CurrentCapacity,
    calibration: ForecastCalibration | None,
    floors: Sequence[CapacityFloor],
    margin: float,
    margin_clause: str | None,
    ctx: DecisionContext,
) -> PricedNeed:
    """The need at the cost-optimal quantile (see the module docstring), then the newest-load floor (rule 2)."""
    target, policy = ctx.target, ctx.policy
    window, horizon, priced = _windows(forecast, calibration, ctx)
    # q for the plan and scale-in: the plain cost; q for adding capacity: with its commitment priced
    # (never above the plain one, so stabilisation can only make scale-in rarer, never likelier)
    priced_at = partial(
        cost_optimal_quantile,
        window,
        per_instance=ctx.per_instance,
        target=target,
        step_seconds=ctx.step,
        policy=policy,
        violation_price=ctx.violation_price,
    )
    plain_q, plain_need, _ = priced_at()
    out_q, need_out, _ = priced_at(current=current.desired)
    adding = need_out > current.desired
    quantile = out_q if adding else plain_q
    loads = finite_loads(horizon.load_at(plain_q))
    per_step = instances_for_array(loads, ctx.per_instance)
    if quantile != plain_q:
        loads = finite_loads(horizon.load_at(quantile))
    top = int(np.argmax(np.where(priced, loads, -1.0)))
    peak_load, peak_at = float(loads[top]), from_ns(int(horizon.stamps[top]))
    in_scale_in = horizon.stamps < ctx.scale_in_end_ns
    need_in = max(need_out, plain_need, target.clamp(int(per_step[in_scale_in].max())))
    if not adding:
        need_out = min(plain_need, current.desired)
    clauses = _peak_clauses(quantile, peak_load, peak_at, ctx)
    if margin != 1.0 and margin_clause:
        clauses.append(margin_clause)
    guarded = _recent_load_floor(Need(need_out, need_in), current.recent_load, ctx)
    clauses += guarded.clauses
    if not adding and plain_need > guarded.out:
        clauses.append(
            why_not_more(
                window,
                guarded.out,
                plain_need,
                per_instance=ctx.per_instance,
                target=target,
                step_seconds=ctx.step,
                policy=policy,
                violation_price=ctx.violation_price,
            )
        )
    clauses.append(f"boot takes {target.boot_seconds} s")
    need = Need(guarded.out, guarded.keep, tuple(clauses))
    return PricedNeed(need, quantile, peak_load, peak_at, _plan(horizon.stamps, per_step, floors, ctx))
