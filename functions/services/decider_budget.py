"""The decider's SLO budget, held between invocations in the target's stored state.

The SLO budget (:mod:`functions.domain.slo_budget`, ``ScalingTarget.slo_budget``) is held as the replay
holds it: every round, decision or not, the round's datapoint (its load and the in-service capacity),
if fresh and newer than the last one observed, is observed, and the controller's memory is kept in the
target's stored state; only minutes whose capacity was the forecast's move the margin (not before the
first decision, nor while the newest is reactive or the alarm responder has raised capacity since it).
With an ``auto`` budget, the first decision of each day (00:00 UTC) computes the reference, target
tracking's under-provisioned share on the last ``window_days`` of archived load. Each decision prices the
forecast with the budget's margin; the budget, its spend and the margin stay in the target's state (the
dashboard's target view shows them) and the fleet counts the targets that overspent.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from events.contracts import ForecastSummary
from functions.domain.slo_budget import BudgetState, budget_pct, observe, with_reference
from functions.domain.target import ScalingTarget
from functions.ports.archive import Archive
from functions.ports.records import StoredTargetState
from functions.services.common import epoch_ns, stale_data_after

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_NS = 86_400 * 1_000_000_000


def _time_of(ns: int | None) -> datetime | None:
    """Inverse of :func:`epoch_ns` for the microsecond times the store keeps (exact)."""
    return None if ns is None else _EPOCH + timedelta(microseconds=ns // 1000)


def budget_of(stored: StoredTargetState) -> BudgetState:
    """The SLO budget controller's memory as the stored target state keeps it."""
    return BudgetState(
        level=stored.budget_level,
        minutes=stored.budget_minutes,
        under_minutes=stored.budget_under_minutes,
        under_run_minutes=stored.budget_under_run_minutes,
        observed_ns=None if stored.budget_observed_at is None else epoch_ns(stored.budget_observed_at),
        reference_pct=stored.budget_reference_pct,
        reference_ns=None if stored.budget_reference_at is None else epoch_ns(stored.budget_reference_at),
    )


def with_budget(stored: StoredTargetState, budget: BudgetState) -> StoredTargetState:
    """``stored`` keeping ``budget`` (see :func:`budget_of`)."""
    return replace(
        stored,
        budget_level=budget.level,
        budget_minutes=budget.minutes,
        budget_under_minutes=budget.under_minutes,
        budget_under_run_minutes=budget.under_run_minutes,
        budget_observed_at=_time_of(budget.observed_ns),
        budget_reference_pct=budget.reference_pct,
        budget_reference_at=_time_of(budget.reference_ns),
    )


def window_load(history: Any, *, end: datetime, step_seconds: int, steps: int) -> Any:
    """The loads of the ``steps`` metric periods before ``end`` as an array (NaN where none is stored),
    from the first stored one on: what the replay's ``observation.load[-steps:]`` holds at ``end``."""
    import numpy as np

    step_ns = step_seconds * 1_000_000_000
    start_ns = epoch_ns(end) - steps * step_ns
    ds = history["ds"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    y = history["y"].to_numpy(dtype=float)
    index = (ds - start_ns) // step_ns
    inside = (index >= 0) & (index < steps)
    if not inside.any():
        return np.empty(0)
    load = np.full(steps, np.nan)
    load[index[inside]] = y[inside]
    # leading unknown steps change nothing in target tracking's share (functions/domain/slo_budget.py)
    return load[int(index[inside].min()) :]


def observe_round(
    target: ScalingTarget, summary: ForecastSummary, aligned: datetime, stored: StoredTargetState
) -> BudgetState:
    """The stored budget with this round's datapoint observed: only a fresh one (as target tracking is fed),
    with a known in-service capacity; :func:`observe` ignores one not newer than the last observed.

    The datapoint counts in the spend; it moves the margin only when its capacity was the forecast's
    (the replay's mode ``forecast``): the newest decision was in forecast mode and the alarm responder
    has not raised capacity since. Before the first decision, or while the reactive rule or the alarm
    governs, the margin (which prices forecasts only) keeps its level.
    """
    budget = budget_of(stored)
    if (
        summary.recent_load is None
        or summary.in_service_capacity is None
        or aligned - summary.history_end > stale_data_after(target)
    ):
        return budget
    return observe(
        budget,
        stamps_ns=(epoch_ns(summary.history_end),),
        loads=(summary.recent_load,),
        in_service=(summary.in_service_capacity,),
        target=target,
        priced=stored.decided_forecast_id is not None and stored.reactive_why is None and not stored.alarm_governs,
    )


def daily_reference(archive: Archive, target: ScalingTarget, aligned: datetime, budget: BudgetState) -> BudgetState:
    """With an ``auto`` budget, the reference on the last window of archived load, computed at the first
    decision of each day (00:00 UTC slots, the replay's refit schedule). Without any known load the day's
    attempt is still marked, so that the next try is the next day's, as in the replay."""
    settings = target.slo_budget
    if settings.under_provisioning_pct != "auto":
        return budget
    now_ns = epoch_ns(aligned)
    if budget.reference_ns is not None and budget.reference_ns // _DAY_NS >= now_ns // _DAY_NS:
        return budget
    step = target.metric.period_seconds
    steps = int(settings.window_days * 86_400 / step)
    history = archive.read_history(target.target_id, aligned - timedelta(seconds=steps * step), aligned)
    load = window_load(history, end=aligned, step_seconds=step, steps=steps)
    updated = with_reference(budget, load=load, target=target, now_ns=now_ns)
    return updated if updated.reference_ns == now_ns else replace(budget, reference_ns=now_ns)


def overspent(target: ScalingTarget, budget: BudgetState) -> bool:
    """Whether the target has spent more than its SLO budget over the window (counted for the fleet; the
    budget, spend and margin of each target are in its stored state)."""
    pct = budget_pct(target, budget)
    return pct is not None and budget.spend_pct is not None and budget.spend_pct > pct
