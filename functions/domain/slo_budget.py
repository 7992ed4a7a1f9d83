"""The SLO budget: how much under-provisioning a target may have, what it has spent, and the margin that holds it.

A target's budget is the share of minutes in which its in-service capacity may be below the demand at
``slo_utilization`` (the replay's under-time, :mod:`functions.domain.replay.scores`), over a rolling
window (``ScalingTarget.slo_budget``). ``auto`` (the default) is what target tracking at the target's own
``target_utilization`` would have had on the target's own last window of load
(:func:`tracking_under_share`, the replay's fleet model), never below :data:`AUTO_BUDGET_FLOOR_PCT`: out
of the box forescale aims to be under-provisioned no longer than the policy it replaces.

The budget is held online by a margin (:func:`functions.domain.decision.decide`'s ``margin``): above 1 it
multiplies the load forecast mode prices, below 1 it multiplies the violation price the load quantile is
chosen with (``cost.violation_minute_penalty``), so that an underspent budget buys a lower quantile, never a
load below the forecast's. After every observed datapoint of a decision in forecast mode (load and
in-service capacity, the data the replay scores) the margin's logarithm moves as in adaptive conformal
inference (Gibbs and Candès, 2021)::

    level += gain * minutes * ((1 - b) if under-provisioned else -b)

with ``b`` the budget as a share, in these cases only: an under-provisioned minute tightens at once when
the window's spend is over the budget, or when it is part of a run longer than boot time plus the decision
interval (a level shift or a step the forecast band missed, not a blip no margin could have caught); a
minute within the SLO loosens by ``gain * b``, slowly, down to 1 while the window is within budget, and
below 1 (down to :data:`MIN_MARGIN`) only while the spend is under :data:`SPEND_AIM` of the budget; above
that share the price climbs back to 1 at the same pace. The budget is target tracking's own under-time, so
spending all of it would leave forescale as often short as the policy it replaces: below 1 it aims at half.
Measured on the tuning half (benchmarks/replay.py), a margin that scaled the *load* below 1 traded a 3 %
cheaper fleet for seven times the under-time (bitbrains_407: 1.35 % to 9.93 %), and a margin moving on
every under-provisioned minute of a bursty trace made it dearer for no fewer violations
(twitter_stream_2021: cost 1.42 to 1.58 against target tracking's 1.63, under-time 4.80 % to 4.96 %): a
burst no forecast foresaw is not bought back by a wider band afterwards.

Everything here is pure and takes time as numbers (ns since the epoch): the decider Lambda keeps a
:class:`BudgetState` per target in its stored state and the replay keeps one per trace, fed the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from functions.domain.capacity_model import capacity_of, instances_for, instances_for_array
from functions.domain.decision_records import MAX_MARGIN, MIN_MARGIN
from functions.domain.fleet import Fleet
from functions.domain.reactive import AlarmState, target_tracking_step
from functions.domain.target import ScalingTarget
from functions.domain.tracking import tracking_rule

#: ``auto`` never asks for less than this share of minutes (percent): target tracking is under-provisioned
#: for no minute on quiet traffic, and a budget of zero could only be held by an unbounded margin.
AUTO_BUDGET_FLOOR_PCT = 0.05
#: change of the margin's logarithm per under-provisioned minute (minus ``gain * b`` per minute within the SLO)
GAIN = 0.02
#: below 1, the margin lowers the violation price only while the window's spend is under this share of the budget
SPEND_AIM = 0.5
_NS = 1_000_000_000


@dataclass(frozen=True)
class BudgetState:
    """What the budget controller remembers about one target."""

    #: log of the margin
    level: float = 0.0
    #: minutes observed and minutes under-provisioned, each weighted by ``exp(-age / window)``
    minutes: float = 0.0
    under_minutes: float = 0.0
    #: newest datapoint observed (ns); older or repeated ones are ignored
    observed_ns: int | None = None
    #: minutes under-provisioned in a row up to the newest datapoint (a run longer than boot + decision
    #: interval is a level shift the forecast missed)
    under_run_minutes: float = 0.0
    #: target tracking's under-provisioned share on the target's own history (percent), and when computed (ns)
    reference_pct: float | None = None
    reference_ns: int | None = None

    @property
    def margin(self) -> float:
        return math.exp(self.level)

    @property
    def spend_pct(self) -> float | None:
        """Under-provisioned share of the (decayed) window's minutes, in percent; None before any minute."""
        if self.minutes <= 0:
            return None
        return 100.0 * self.under_minutes / self.minutes


def budget_pct(target: ScalingTarget, state: BudgetState) -> float | None:
    """The budget in percent of minutes: explicit, or ``auto`` once the reference is known; None when off."""
    setting = target.slo_budget.under_provisioning_pct
    if setting is None:
        return None
    if setting == "auto":
        if state.reference_pct is None:
            return None
        return max(AUTO_BUDGET_FLOOR_PCT, state.reference_pct)
    return float(setting)


def is_under(load: float, in_service: int, *, target: ScalingTarget) -> bool:
    """Whether ``in_service`` instances are below the demand of ``load`` at ``slo_utilization`` (the replay's rule)."""
    need = max(target.min_capacity, instances_for(load, capacity_of(target) * target.slo_utilization))
    return in_service < need


def observe(
    state: BudgetState,
    *,
    stamps_ns: Sequence[int] | np.ndarray,
    loads: Sequence[float] | np.ndarray,
    in_service: Sequence[int] | np.ndarray,
    target: ScalingTarget,
    priced: bool = True,
) -> BudgetState:
    """Feed datapoints (time, load, in-service capacity) newer than the last one observed, in time order.

    Unknown loads (NaN) are skipped. Every datapoint counts in the spend; the margin moves only while a
    budget is known (:func:`budget_pct`) and the capacity was the forecast's (``priced``: the newest decision
    was in forecast mode). Minutes the reactive rule governed are target tracking's, which the margin does
    not touch: letting them move it would only make the next forecast decisions dearer.
    """
    window_ns = target.slo_budget.window_days * 86_400 * _NS
    step_minutes = target.metric.period_seconds / 60.0
    budget = budget_pct(target, state)
    share = None if budget is None else budget / 100.0
    level, minutes, under_minutes, last = state.level, state.minutes, state.under_minutes, state.observed_ns
    run = state.under_run_minutes
    shift_minutes = (target.boot_seconds + target.decision_interval_seconds) / 60.0
    low, high = math.log(MIN_MARGIN), math.log(MAX_MARGIN)
    for moment, load, serving in zip(stamps_ns, loads, in_service, strict=True):
        stamp = int(moment)
        if (last is not None and stamp <= last) or not math.isfinite(float(load)):
            continue
        decay = 1.0 if last is None else math.exp(-(stamp - last) / window_ns)
        under = is_under(float(load), int(serving), target=target)
        minutes = minutes * decay + step_minutes
        under_minutes = under_minutes * decay + (step_minutes if under else 0.0)
        run = run + step_minutes if under else 0.0
        last = stamp
        if share is None or not priced:
            continue
        overspent = under_minutes > share * minutes
        if under and (overspent or run > shift_minutes):
            level += GAIN * step_minutes * (1.0 - share)
        elif not under and not overspent:
            level = _loosened(level, GAIN * step_minutes * share, aim_met=under_minutes < SPEND_AIM * share * minutes)
        level = min(high, max(low, level))
    return replace(
        state, level=level, minutes=minutes, under_minutes=under_minutes, observed_ns=last, under_run_minutes=run
    )


def _loosened(level: float, step: float, *, aim_met: bool) -> float:
    """A minute within the SLO and the budget: down to 1 (level 0), below it while the spend is under the aim,
    and back towards 1 while it is over."""
    if level > 0:
        return max(0.0, level - step)
    return level - step if aim_met else min(0.0, level + step)


def tracking_under_share(load: np.ndarray, *, target: ScalingTarget, step_seconds: int) -> float | None:
    """Target tracking's under-provisioned share of ``load``'s known steps, in percent (None: no known step).

    Target tracking (:func:`target_tracking_step`, fed every datapoint) runs on the replay's fleet
    (:class:`Fleet`: launches serve after ``boot_seconds``), starting at what the first known load needs.
    """
    known = ~np.isnan(load)
    if not known.any():
        return None
    rule = tracking_rule(target, step_seconds)
    boot_steps = math.ceil(target.boot_seconds / step_seconds)
    first = float(load[known][0])
    desired = target.clamp(instances_for(first, rule.capacity_per_instance * rule.target_utilization))
    fleet = Fleet(boot_steps, desired)
    need = instances_for_array(load, capacity_of(target) * target.slo_utilization)
    alarms = AlarmState()
    in_service = desired
    under = 0
    for step in range(len(load)):
        if step:
            desired, alarms = target_tracking_step(
                rule, alarms, load=float(load[step - 1]), in_service=in_service, desired=desired
            )
        fleet.set_desired(step, desired)
        in_service = fleet.in_service(step)
        if known[step] and in_service < max(target.min_capacity, int(need[step])):
            under += 1
    return 100.0 * under / int(known.sum())


def with_reference(state: BudgetState, *, load: np.ndarray, target: ScalingTarget, now_ns: int) -> BudgetState:
    """``state`` with target tracking's share on ``load`` (the target's last window) as the ``auto`` reference."""
    reference = tracking_under_share(load, target=target, step_seconds=target.metric.period_seconds)
    if reference is None:
        return state
    return replace(state, reference_pct=reference, reference_ns=now_ns)


def budget_clause(target: ScalingTarget, state: BudgetState) -> str | None:
    """The reason's words on the budget: the margin applied and why (None when no budget is known yet)."""
    budget = budget_pct(target, state)
    if budget is None:
        return None
    spend = state.spend_pct
    spent = "nothing spent yet" if spend is None else f"{spend:.2f} % spent"
    source = " (auto)" if target.slo_budget.under_provisioning_pct == "auto" else ""
    window = target.slo_budget.window_days
    applied = f"margin x{state.margin:.2f}" if state.margin >= 1 else f"violation price x{state.margin:.2f}"
    return f"SLO budget {budget:.2f} %{source}, {spent} over {window:g} d: {applied}"
