"""The decider holds each target's SLO budget online, as the replay does (functions/domain/slo_budget.py).

Every round (a decision round or one between decisions) the round's fresh datapoint, load and in-service
capacity, is observed once; the controller's memory is in the target's stored state. Each decision prices
the forecast with the budget's margin and says so in its reason; the budget, its spend and the margin go
to the dashboard's metrics.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytest
from service_support import NOON, target

from events.contracts import ForecastReady, ForecastSummary, SloBreached
from functions.domain.slo_budget import GAIN, tracking_under_share
from functions.domain.target import LoadMetric, ScalingTarget, SloBudget
from functions.ports.records import StoredForecast
from functions.services.common import SLO_BUDGET_OVERSPENT
from models.api import ForecastPath

STEP = 60
HORIZON = 30


def budget_target(pct: float | Literal["auto"] | None) -> ScalingTarget:
    return target(
        "web",
        metric=LoadMetric(namespace="T/Load", name="Requests", dimensions={"Target": "web"}, period_seconds=STEP),
        boot_seconds=120,
        decision_interval_seconds=300,
        capacity_per_instance=100.0,
        slo_budget=SloBudget(under_provisioning_pct=pct),
    )


def store_forecast(world: Any, now: datetime, forecast_id: str, level: float = 500.0) -> None:
    """A usable forecast issued at ``now``: a flat ``level`` (p90 +10 %, p99 +25 %)."""
    ds = pd.date_range(now.replace(tzinfo=None), periods=HORIZON, freq=f"{STEP}s")
    p50 = np.full(HORIZON, level)
    path = ForecastPath("web", now, ds, p50, 1.1 * p50, 1.25 * p50, 0.8, "scripted")
    world.store.put_forecast(
        StoredForecast.from_path(path, forecast_id=forecast_id, model_version="m", history_end=now)
    )


def play(
    world: Any,
    clock: Any,
    minute: int,
    *,
    load: float = 500.0,
    in_service: int = 2,
    history_end: datetime | None = None,
    forecast: bool = True,
) -> Any:
    """The round of ``NOON + minute``: a new forecast when due (every 5 minutes; without ``forecast`` one that
    says why there is none, so the decision is reactive), the summary, the decider."""
    now = NOON + timedelta(minutes=minute)
    clock.current = now + timedelta(seconds=5)
    issued = NOON + timedelta(minutes=minute - minute % 5)
    forecast_id = f"f-{minute - minute % 5:03d}"
    why = None if forecast else "too little history"
    if minute % 5 == 0 and forecast:
        store_forecast(world, now, forecast_id)
    elif minute % 5 == 0:
        world.store.put_forecast(
            StoredForecast(
                target_id="web", forecast_id=forecast_id, issued_at=now, model_version="m", confidence=0.0,
                history_end=now - timedelta(seconds=STEP), no_forecast_reason=why,
            )
        )  # fmt: skip
    summary = ForecastSummary(
        target_id="web", forecast_id=forecast_id, issued_at=issued,
        history_end=history_end or now - timedelta(seconds=STEP), step_seconds=STEP, horizon_steps=HORIZON,
        model_version="m", confidence=0.8 if forecast else 0.0, no_forecast_reason=why,
        desired_capacity=in_service, in_service_capacity=in_service, recent_load=load,
    )  # fmt: skip
    (outcome,) = world.components.decider.decide_batch(ForecastReady(round_id=f"r-{minute}", forecasts=[summary]))
    return outcome


def test_under_provisioned_rounds_raise_the_stored_margin_and_the_next_decision_names_the_budget(memory, clock, sink):
    # GIVEN a target with an explicit budget of 1 % of minutes, two instances serving a load that needs six
    world = memory([budget_target(1.0)])
    # WHEN ten rounds (two decision rounds, eight between) each see an under-provisioned minute
    outcomes = [play(world, clock, minute) for minute in range(10)]
    # THEN the decision of 12:05 priced with the margin of five such minutes (the datapoint of 11:59, before
    # forescale's first decision, counts in the spend but does not move the margin, as in the replay)
    assert re.search(rf"margin .{np.exp(5 * GAIN * 0.99):.2f};", outcomes[5].reason), outcomes[5].reason
    # AND each later minute raised the margin's logarithm by GAIN x (1 - 1 %), and the state holds it
    state = world.store.get_target_state("web")
    assert state.budget_minutes == pytest.approx(10.0, rel=1e-3)  # older minutes decay over the 7-day window
    assert state.budget_under_minutes == state.budget_minutes
    assert abs(state.budget_level - 9 * GAIN * 0.99) < 1e-9
    assert state.budget_observed_at == NOON + timedelta(minutes=8)
    # AND the next decision (12:10) prices with that margin and says why
    decided = play(world, clock, 10)
    margin = np.exp(10 * GAIN * 0.99)
    assert re.search(rf"SLO budget 1.00 %, 100.00 % spent over 7 d: margin .{margin:.2f};", decided.reason), (
        decided.reason
    )
    # AND the budget, its spend and the margin stay in the target's state (the dashboard's target view), while
    # the fleet metric counts the target as overspent, without naming it
    assert state.budget_under_minutes == state.budget_minutes > 0
    overspent = [value for name, value, _, tid in sink.records if name == SLO_BUDGET_OVERSPENT and tid is None]
    assert overspent and overspent[-1] == 1.0
    assert all(tid is None for *_, tid in sink.records)


def test_a_repeated_or_stale_datapoint_is_not_observed_twice(memory, clock):
    # GIVEN a target with a budget, whose datapoint of 11:59 was observed at the decision round of 12:00
    world = memory([budget_target(1.0)])
    play(world, clock, 0)
    first = world.store.get_target_state("web")
    assert first.budget_minutes == 1.0
    # WHEN the next round carries the same datapoint again, and the one after a datapoint 10 minutes old
    play(world, clock, 1, history_end=NOON - timedelta(minutes=1))
    play(world, clock, 2, history_end=NOON + timedelta(minutes=2) - timedelta(minutes=10))
    # THEN neither was observed: the budget's memory is as it was
    state = world.store.get_target_state("web")
    assert (state.budget_minutes, state.budget_level, state.budget_observed_at) == (
        first.budget_minutes,
        first.budget_level,
        NOON - timedelta(minutes=1),
    )
    # AND a fresh datapoint after them is
    play(world, clock, 3)
    assert world.store.get_target_state("web").budget_observed_at == NOON + timedelta(minutes=2)


def test_without_a_budget_the_margin_stays_one(memory, clock, sink):
    # GIVEN a target whose budget is explicitly off, under-provisioned every minute
    world = memory([budget_target(None)])
    outcomes = [play(world, clock, minute) for minute in range(11)]
    # THEN the margin never moves and no decision speaks of a budget or emits its metrics
    assert world.store.get_target_state("web").budget_level == 0.0
    assert not any("SLO budget" in outcome.reason for outcome in outcomes)
    assert all(value == 0 for name, value, *_ in sink.records if name == SLO_BUDGET_OVERSPENT)


def test_the_auto_budget_is_target_trackings_share_on_the_archived_window_computed_once_a_day(memory, clock):
    # GIVEN an auto budget and two days of archived load with a step up that target tracking meets late
    world = memory([budget_target("auto")])
    ds = pd.date_range((NOON - timedelta(days=2)).replace(tzinfo=None), periods=2 * 1440 - 1, freq=f"{STEP}s")
    y = np.where((ds.hour >= 9) & (ds.hour < 10), 900.0, 300.0)
    world.archive.write_history("web", pd.DataFrame({"ds": ds, "y": y}), part_id="seed")
    # WHEN the decider decides at 12:00 and again at 12:05
    play(world, clock, 0, load=300.0, in_service=6)
    first = world.store.get_target_state("web")
    play(world, clock, 5, load=300.0, in_service=6)
    # THEN the reference is target tracking's share on that history (one step of the grid each, the gap unknown)
    grid = np.full(2 * 1440, np.nan)
    grid[: len(y)] = y
    expected = tracking_under_share(grid, target=budget_target("auto"), step_seconds=STEP)
    assert expected is not None and expected > 0
    assert first.budget_reference_pct == expected and first.budget_reference_at == NOON
    # AND it was not computed again the same day
    assert world.store.get_target_state("web").budget_reference_at == NOON
    # AND the first decision of the next day computes it afresh
    later = datetime(2026, 3, 11, 0, 0, tzinfo=UTC)
    play(world, clock, int((later - NOON).total_seconds() // 60), load=300.0, in_service=6)
    assert world.store.get_target_state("web").budget_reference_at == later


def test_minutes_the_forecast_did_not_govern_count_in_the_spend_but_do_not_move_the_margin(memory, clock):
    # GIVEN a target with a budget and no usable forecast: every decision is reactive (target tracking's minutes)
    world = memory([budget_target(1.0)])
    # WHEN ten under-provisioned rounds pass
    outcomes = [play(world, clock, minute, forecast=False) for minute in range(10)]
    # THEN they are spent, but the margin (which prices forecasts only) has not moved
    state = world.store.get_target_state("web")
    assert outcomes[5].reason and state.budget_under_minutes == pytest.approx(10.0, rel=1e-3)
    assert state.budget_level == 0.0


def test_after_the_alarm_responder_scales_out_the_minutes_until_the_next_decision_do_not_move_the_margin(memory, clock):
    # GIVEN a target with a budget, decided on a forecast at 12:00, whose SLO alarm fires after the round of 12:02
    world = memory([budget_target(1.0)])
    world.capacity.add_asg("web-asg", desired=2, min_capacity=1, max_capacity=60)
    for minute in range(3):
        play(world, clock, minute)
    responder = world.components.alarm_responder
    breach = SloBreached(
        breach_id="breach-1", target_id="web", detected_at=NOON, datapoint_at=NOON, slo_utilization=0.9,
        datapoints=[2.5, 2.5], evaluation_periods=3, datapoints_to_alarm=2, in_service_capacity=2,
        desired_capacity=2,
    )  # fmt: skip
    assert responder.respond(breach).status != "ignored"
    assert world.store.get_target_state("web").alarm_governs
    # WHEN under-provisioned rounds go on through the decision of 12:05 to 12:09
    for minute in range(3, 10):
        play(world, clock, minute)
    # THEN the datapoints of 12:02-12:04 (the alarm's capacity) did not move the margin: those of 12:00, 12:01
    # and 12:05-12:08 did (the decision of 12:05 took the forecast back)
    state = world.store.get_target_state("web")
    assert not state.alarm_governs
    assert abs(state.budget_level - 6 * GAIN * 0.99) < 1e-9
