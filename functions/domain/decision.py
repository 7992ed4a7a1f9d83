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

:func:`decide` runs one named step per rule, in that order (``forecast_need`` or ``_reactive_need``,
``_floor_need``, ``_stabilised``, ``_step_limited``, ``_bounded``, ``_kill_switch``); each returns what
it concludes and its clauses of the reason, and the reason is their clauses in the same order. The
forecast's need is in :mod:`functions.domain.forecast_need`, its pricing in :mod:`functions.domain.pricing`,
the records in :mod:`functions.domain.decision_records` and target tracking's part in
:mod:`functions.domain.tracking` (the public names all importable from here too).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from functions.domain.calibration import ForecastCalibration
from functions.domain.capacity_model import capacity_of, instances_for
from functions.domain.decision_records import (
    MAX_MARGIN,
    MAX_REASON,
    MIN_MARGIN,
    NS,
    Action,
    CapacityFloor,
    CurrentCapacity,
    Decision,
    DecisionContext,
    DecisionPolicy,
    Need,
    PlanStep,
    TargetState,
    as_utc,
    floor_for,
    format_load,
    instances_text,
    to_ns,
)
from functions.domain.forecast_need import PricedNeed, forecast_need
from functions.domain.pricing import path_exceedance, path_load_at
from functions.domain.reactive import reactive_need
from functions.domain.target import ScalingTarget
from functions.domain.tracking import never_scale_in, tracker_for, tracking_rule, with_tracking
from models.api import ForecastPath, NoForecast

__all__ = [
    "MAX_MARGIN",
    "MAX_REASON",
    "MIN_MARGIN",
    "Action",
    "CapacityFloor",
    "CurrentCapacity",
    "Decision",
    "DecisionPolicy",
    "PlanStep",
    "TargetState",
    "action_between",
    "confidence_of",
    "decide",
    "format_load",
    "is_surprise",
    "never_scale_in",
    "path_exceedance",
    "path_load_at",
    "tracker_for",
    "tracking_rule",
    "with_tracking",
]


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
    age = (now_ns - to_ns(forecast.issued_at)) / NS
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


def _why_reactive(problem: str | None, *, stale: bool, recent: float | None) -> str:
    """The kind of reason a decision was reactive (the replay report's per-mode table)."""
    if recent is None:
        return "no_recent_load"
    if stale:
        return "stale"
    if problem is not None and problem.startswith("no forecast"):
        return "no_forecast"
    return "low_confidence"


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


# --------------------------------------------------------------------------- the steps


@dataclass(frozen=True)
class _Capacity:
    """A step's desired capacity, and the reason's words when the step changed it."""

    desired: int
    clauses: tuple[str, ...] = ()


def _reactive_need(problem: str, *, stale: bool, current: CurrentCapacity, ctx: DecisionContext) -> Need:
    """Rule 1: without a usable forecast, target tracking's need for the newest load (hold without one)."""
    target, recent = ctx.target, current.recent_load
    if recent is None:
        need = current.desired
        clauses = [f"{problem} and no recent load: hold"]
    else:
        need = target.clamp(
            reactive_need(recent, capacity_per_instance=ctx.cap, target_utilization=target.target_utilization)
        )
        clauses = [
            f"{problem}: reactive rule, load {format_load(recent, ctx.unit)} needs {instances_text(need)} "
            f"at {target.target_utilization:g} target utilisation"
        ]
    if stale:
        clauses.append("never scales in on a stale forecast")
    return Need(need, need, tuple(clauses))


def _floor_need(need: Need, floors: Sequence[CapacityFloor], ctx: DecisionContext) -> Need:
    """Rule 3: business-event floors active anywhere in the window raise the need (within the bounds)."""
    target = ctx.target
    floor, name = floor_for(floors, ctx.now_ns, ctx.window_end_ns)
    clauses = (f"business floor {name!r} {floor}",) if floor > max(need.out, need.keep) else ()
    out = target.clamp(max(need.out, floor))
    return Need(out, target.clamp(max(need.keep, out)), clauses)


def _stabilised(
    need: Need, *, desired: int, state: TargetState, may_scale_in: bool, ctx: DecisionContext
) -> tuple[_Capacity, datetime | None]:
    """Rule 4: scale out at once; scale in only after the plan has been lower for the stabilisation window.

    Returns the proposal and since when the plan has been lower (None: it is not).
    """
    if need.out > desired:
        return _Capacity(need.out), None
    if need.keep >= desired:
        return _Capacity(desired), None
    lower_since = state.plan_lower_since or ctx.now
    waited = (ctx.now - as_utc(lower_since)).total_seconds()
    stabilisation = ctx.target.scale_in_stabilization_seconds
    if not may_scale_in:
        return _Capacity(desired), lower_since
    if waited >= stabilisation:
        return _Capacity(need.keep), lower_since
    clause = f"scale-in to {need.keep} waits for stabilisation ({waited / 60:.0f} of {stabilisation / 60:.0f} min)"
    return _Capacity(desired, (clause,)), lower_since


def _step_limited(proposal: int, *, desired: int, target: ScalingTarget) -> _Capacity:
    """Rule 5: at most ``max_step_up`` / ``max_step_down`` instances per decision."""
    limited = max(min(proposal, desired + target.max_step_up), desired - target.max_step_down)
    return _Capacity(limited, (f"step limit {limited - desired:+d}",) if limited != proposal else ())


def _bounded(proposal: int, target: ScalingTarget) -> _Capacity:
    """Rule 6: ``[min_capacity, max_capacity]`` whatever came before."""
    bounded = target.clamp(proposal)
    return _Capacity(
        bounded, (f"bounds [{target.min_capacity}, {target.max_capacity}]",) if bounded != proposal else ()
    )


def _kill_switch(proposal: int, *, on: bool, desired: int, target: ScalingTarget) -> _Capacity:
    """Rule 7: the kill switch holds the current capacity and says what the decision would have done."""
    if not on:
        return _Capacity(proposal)
    would = action_between(desired, proposal).replace("_", " ")
    clause = f"kill switch on: hold {desired} (would {would} {desired} → {proposal})"
    return _Capacity(target.clamp(desired), (clause,))


def _next_state(
    state: TargetState, action: Action, *, now: datetime, lower_since: datetime | None, keep: int, desired: int
) -> TargetState:
    """What the decider remembers for next time: when it scaled, and since when the plan has been lower."""
    if action == "scale_out":
        return replace(state, last_scale_out_at=now, plan_lower_since=None)
    if action == "scale_in":
        return replace(state, last_scale_in_at=now, plan_lower_since=lower_since if keep < desired else None)
    return replace(state, plan_lower_since=lower_since)


def _outcome_clauses(action: Action, *, before: int, after: int, kill_switch: bool, target: ScalingTarget) -> list[str]:
    """The reason's last words: what is done (the kill switch has said so already), and whether it is executed."""
    clauses: list[str] = []
    if not kill_switch:
        verb = {"scale_out": "scale out", "scale_in": "scale in", "hold": "hold"}[action]
        clauses.append(f"{verb} {before} → {after}" if action != "hold" else f"hold {after}")
    if target.mode == "forecast_only":
        clauses.append("forecast_only: not executed")
    return clauses


def _reason(clauses: Sequence[str]) -> str:
    """The steps' clauses in order, cut to :data:`MAX_REASON` characters (the event's limit)."""
    reason = "; ".join(clauses)
    return reason[: MAX_REASON - 1] + "…" if len(reason) > MAX_REASON else reason


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
    ctx = DecisionContext.of(target, policy, now, margin)
    problem, stale = _forecast_problem(
        forecast,
        now_ns=ctx.now_ns,
        window_end_ns=ctx.window_end_ns,
        step_ns=ctx.step_ns,
        policy=policy,
        calibration=calibration,
    )
    priced: PricedNeed | None = None
    if problem is None:
        assert isinstance(forecast, ForecastPath)
        priced = forecast_need(
            forecast,
            current=current,
            calibration=calibration,
            floors=floors,
            margin=margin,
            margin_clause=margin_clause,
            ctx=ctx,
        )
        need = priced.need
    else:
        need = _reactive_need(problem, stale=stale, current=current, ctx=ctx)
    floored = _floor_need(need, floors, ctx)
    before = current.desired
    proposal, lower_since = _stabilised(floored, desired=before, state=state, may_scale_in=not stale, ctx=ctx)
    limited = _step_limited(proposal.desired, desired=before, target=target)
    bounded = _bounded(limited.desired, target)
    final = _kill_switch(bounded.desired, on=kill_switch, desired=before, target=target)
    if kill_switch:  # nothing changes, so what the plan has been doing is not news either
        lower_since = state.plan_lower_since
    action = action_between(before, final.desired)
    clauses = [*need.clauses, *floored.clauses, *proposal.clauses, *limited.clauses, *bounded.clauses, *final.clauses]
    clauses += _outcome_clauses(action, before=before, after=final.desired, kill_switch=kill_switch, target=target)
    reactive = priced is None
    return Decision(
        target_id=target.target_id,
        decided_at=ctx.now,
        mode=target.mode,
        execute=target.mode != "forecast_only" and not kill_switch,
        action=action,
        previous_desired=before,
        in_service=current.in_service,
        desired=final.desired,
        min_capacity=target.min_capacity,
        max_capacity=target.max_capacity,
        confidence=confidence_of(forecast, calibration) if isinstance(forecast, ForecastPath) and not stale else 0.0,
        reactive=reactive,
        reason=_reason(clauses),
        reactive_why=_why_reactive(problem, stale=stale, recent=current.recent_load) if reactive else None,
        quantile=None if priced is None else priced.quantile,
        peak_load=None if priced is None else priced.peak_load,
        peak_at=None if priced is None else priced.peak_at,
        plan=() if priced is None else priced.plan,
        state=_next_state(
            state, action, now=ctx.now, lower_since=lower_since, keep=floored.keep, desired=final.desired
        ),
        margin=1.0 if reactive else margin,
    )
