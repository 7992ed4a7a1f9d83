"""The SLO budget controller: spend counted as the replay scores it, the margin tightening at once and
loosening slowly, the auto budget from target tracking on the target's own history."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from functions.domain.decision import MAX_MARGIN, MIN_MARGIN, CurrentCapacity, TargetState, decide
from functions.domain.replay import Scenario, run_replay
from functions.domain.slo_budget import (
    AUTO_BUDGET_FLOOR_PCT,
    GAIN,
    BudgetState,
    budget_clause,
    budget_pct,
    observe,
    tracking_under_share,
    with_reference,
)
from functions.domain.trace import Trace
from tests.decision.decision_helpers import NOW, flat, make_path, make_target

MINUTE_NS = 60 * 1_000_000_000
STEP_NS = 5 * MINUTE_NS  # make_target's metric is at 5 minutes


def _feed(state, target, loads, in_service, start_ns=0):
    stamps = [start_ns + i * STEP_NS for i in range(len(loads))]
    return observe(state, stamps_ns=stamps, loads=loads, in_service=in_service, target=target)


def test_under_provisioned_step_is_counted_as_the_replay_counts_it():
    # GIVEN 1600 per instance at 0.9 SLO utilisation: 4 instances serve up to 5760
    target = make_target(slo_budget={"under_provisioning_pct": 1.0})
    # WHEN one step at 5760 (served) and one at 5761 (not) are observed
    state = _feed(BudgetState(), target, [5760.0, 5761.0], [4, 4])
    # THEN one of the two steps is under-provisioned (decay over one step is negligible)
    assert state.under_minutes == pytest.approx(5.0, rel=1e-3)
    assert state.spend_pct == pytest.approx(50.0, rel=1e-3)


def test_an_under_provisioned_step_tightens_at_once_when_overspent_and_good_steps_loosen_slowly():
    target = make_target(slo_budget={"under_provisioning_pct": 1.0})
    # GIVEN a long record within budget (no minute under): the violation price falls to its floor
    calm = _feed(BudgetState(), target, [100.0] * 2000, [4] * 2000)
    assert calm.margin == pytest.approx(MIN_MARGIN)
    # WHEN 30 steps of 5 minutes are under-provisioned one by one (each alone: no level shift), 1.5 % of the record
    state = calm
    for i in range(30):
        state = _feed(state, target, [1e6, 100.0], [4, 4], start_ns=(2000 + 2 * i) * STEP_NS)
    # THEN the margin rose past 1 once the window was overspent (past 1 %), by gain * 5 min * (1 - budget) per step
    assert 0 < state.level < math.log(MAX_MARGIN)
    overspent = BudgetState(level=0.2, minutes=1000.0, under_minutes=20.0, observed_ns=0)
    tightened = _feed(overspent, target, [1e6], [4], start_ns=STEP_NS)
    assert tightened.level - overspent.level == pytest.approx(GAIN * 5 * 0.99)
    # AND within budget (0.1 % spent of 1 %), a good step gives back only gain * minutes * budget
    within = BudgetState(level=0.5, minutes=10_000.0, under_minutes=10.0, observed_ns=0)
    one_more = _feed(within, target, [100.0], [4], start_ns=STEP_NS)
    assert within.level - one_more.level == pytest.approx(GAIN * 5 * 0.01)


def test_a_blip_within_budget_leaves_the_margin_but_a_level_shift_tightens_it():
    target = make_target(slo_budget={"under_provisioning_pct": 5.0})  # boot 300 s + interval 300 s: 10 minutes
    calm = _feed(BudgetState(), target, [100.0] * 2000, [4] * 2000)
    # WHEN one 5-minute step is short (a blip), within a 5 % budget
    blip = _feed(calm, target, [1e6], [4], start_ns=2000 * STEP_NS)
    # THEN the margin does not move
    assert blip.level == calm.level
    # WHEN the load stays above the capacity for three steps in a row (15 minutes > boot + interval)
    shift = _feed(calm, target, [1e6] * 3, [4] * 3, start_ns=2000 * STEP_NS)
    # THEN the third step tightens at once
    assert shift.level == pytest.approx(calm.level + GAIN * 5 * 0.95)
    assert shift.under_run_minutes == 15.0


def test_below_one_the_margin_aims_at_half_the_budget():
    target = make_target(slo_budget={"under_provisioning_pct": 1.0})
    # GIVEN a price lowered below 1 and a window that has spent 0.3 % of a 1 % budget (under half)
    low = BudgetState(level=-0.5, minutes=10_000.0, under_minutes=30.0, observed_ns=0)
    # WHEN a good step follows THEN the price falls further, by gain * minutes * budget
    assert low.level - _feed(low, target, [100.0], [4], start_ns=STEP_NS).level == pytest.approx(GAIN * 5 * 0.01)
    # GIVEN 0.7 % spent (over half, within budget) WHEN a good step follows THEN the price climbs back towards 1
    spent = BudgetState(level=-0.5, minutes=10_000.0, under_minutes=70.0, observed_ns=0)
    assert _feed(spent, target, [100.0], [4], start_ns=STEP_NS).level - spent.level == pytest.approx(GAIN * 5 * 0.01)
    # AND it stops at 1 (level 0): never above it while the window is within budget
    near = BudgetState(level=-1e-6, minutes=10_000.0, under_minutes=70.0, observed_ns=0)
    assert _feed(near, target, [100.0] * 5, [4] * 5, start_ns=STEP_NS).level == 0.0


def test_a_margin_below_one_lowers_the_violation_price_not_the_load():
    target = make_target(slo_budget={"under_provisioning_pct": 5.0})
    path = make_path(flat(4000.0), flat(5200.0), flat(6400.0))
    current = CurrentCapacity(desired=2, in_service=2, recent_load=None)
    full = decide(path, current=current, target=target, state=TargetState(), now=NOW, margin=1.0)
    cheap = decide(
        path, current=current, target=target, state=TargetState(), now=NOW, margin=MIN_MARGIN, margin_clause="x"
    )
    # THEN a lower quantile is priced and fewer instances asked for, but never fewer than the forecast's median
    # needs at 1600 per instance and 0.9 SLO utilisation (the load itself is not scaled down)
    assert cheap.quantile is not None and full.quantile is not None
    assert cheap.quantile < full.quantile
    assert math.ceil(4000.0 / (1600 * 0.9)) <= cheap.desired < full.desired
    # AND the reason says what was applied
    calm = BudgetState(level=math.log(MIN_MARGIN), minutes=1000.0, under_minutes=0.0, reference_pct=None)
    assert "violation price x0.25" in (budget_clause(target, calm) or "")


def test_no_loosening_while_the_window_is_overspent():
    target = make_target(slo_budget={"under_provisioning_pct": 1.0})
    # GIVEN half the steps under-provisioned: 50 % spent against a 1 % budget
    state = _feed(BudgetState(), target, [1e6, 100.0] * 20, [4, 4] * 20)
    # WHEN good steps follow
    later = _feed(state, target, [100.0] * 10, [4] * 10, start_ns=40 * STEP_NS)
    # THEN the margin holds where the overspend put it
    assert later.level == pytest.approx(state.level)
    assert state.level > 0


def test_the_margin_stays_within_its_bounds():
    target = make_target(slo_budget={"under_provisioning_pct": 0.1})
    state = _feed(BudgetState(), target, [1e9] * 500, [1] * 500)
    assert state.margin == pytest.approx(MAX_MARGIN)


def test_old_repeated_and_unknown_datapoints_are_not_observed_again():
    target = make_target(slo_budget={"under_provisioning_pct": 1.0})
    state = _feed(BudgetState(), target, [1e6, 1e6], [4, 4])
    # WHEN the same two datapoints, and an unknown load, come again
    again = _feed(state, target, [1e6, 1e6], [4, 4])
    unknown = observe(state, stamps_ns=[9 * STEP_NS], loads=[math.nan], in_service=[4], target=target)
    # THEN nothing changes
    assert again == state
    assert unknown == state


def test_without_a_budget_spend_is_counted_and_the_margin_stays_one():
    target = make_target(slo_budget={"under_provisioning_pct": None})
    state = _feed(BudgetState(), target, [1e6] * 10, [4] * 10)
    assert state.margin == 1.0
    assert state.spend_pct == pytest.approx(100.0)
    assert budget_pct(target, state) is None


def test_auto_budget_waits_for_the_reference_and_has_a_floor():
    target = make_target()  # auto is the default
    assert target.slo_budget.under_provisioning_pct == "auto"
    fresh = BudgetState()
    assert budget_pct(target, fresh) is None
    # GIVEN a history on which target tracking is never under-provisioned (flat load)
    calm = with_reference(fresh, load=np.full(500, 1000.0), target=target, now_ns=0)
    # THEN the budget is the documented floor
    assert calm.reference_pct == 0.0
    assert budget_pct(target, calm) == AUTO_BUDGET_FLOOR_PCT


def test_target_tracking_reference_counts_the_steps_its_boot_delay_leaves_short():
    target = make_target(min_capacity=1)
    # GIVEN a load that steps from 1 to 8 instances' worth and stays there
    load = np.concatenate([np.full(50, 1000.0), np.full(50, 8 * 1600 * 0.9)])
    share = tracking_under_share(load, target=target, step_seconds=300)
    # THEN target tracking is short on the step itself (it sees it only at the next step, when its one-step
    # alarm fires) and during the one-step boot of what it launches: 2 of 100 steps
    assert share == pytest.approx(2.0)


def test_target_tracking_reference_is_the_replays_target_tracking():
    # GIVEN a real-looking noisy load with surges, replayed with target tracking alone
    rng = np.random.default_rng(7)
    steps = 2000
    base = 4000 + 2500 * np.sin(np.arange(steps) * 2 * np.pi / 288)
    surges = np.where(rng.random(steps) < 0.02, rng.uniform(2000, 9000, steps), 0.0)
    load = np.round(base + surges + rng.normal(0, 300, steps), 1).clip(0)
    trace = Trace(name="surges", ds=pd.date_range("2024-05-06", periods=steps, freq="5min"), y=load, step_seconds=300)
    scenario = Scenario(capacity_per_instance=1600.0, warmup_days=0, min_instances=1, max_instances=20)
    replayed = run_replay(trace, scenario, policies=("reactive",)).runs["reactive"].scores.under_time_pct
    target = scenario.resolve(trace).target("surges")
    # THEN the budget's reference is the replay's under-time of target tracking, to the step
    assert replayed > 0.5
    assert tracking_under_share(load, target=target, step_seconds=300) == pytest.approx(replayed)


def test_the_budget_is_validated_naming_the_field():
    with pytest.raises(ValidationError, match="under_provisioning_pct"):
        make_target(slo_budget={"under_provisioning_pct": 0})
    with pytest.raises(ValidationError, match="window_days"):
        make_target(slo_budget={"window_days": 0.5})
    with pytest.raises(ValidationError, match="under_provisioning_pct"):
        make_target(slo_budget={"under_provisioning_pct": "lots"})


def test_decide_prices_the_forecast_times_the_margin_and_says_why():
    target = make_target(slo_budget={"under_provisioning_pct": 1.0})
    current = CurrentCapacity(desired=4, in_service=4, recent_load=3000.0)
    path = make_path(flat(5000.0))
    plain = decide(path, current=current, target=target, state=TargetState(), now=NOW)
    state = BudgetState(level=math.log(2.0), reference_pct=None)
    wider = decide(
        path,
        current=current,
        target=target,
        state=TargetState(),
        now=NOW,
        margin=state.margin,
        margin_clause=budget_clause(target, state),
    )
    # THEN twice the load needs about twice the instances, and the reason names the budget and margin
    assert plain.desired == 4  # 5000 / (1600 * 0.9) -> 4
    assert wider.desired == 7  # 10000 / 1440 -> 7
    assert "SLO budget 1.00 %" in wider.reason and "margin x2.00" in wider.reason


def test_decide_refuses_a_margin_outside_its_bounds():
    target = make_target()
    current = CurrentCapacity(desired=4, in_service=4, recent_load=3000.0)
    with pytest.raises(ValueError, match="margin"):
        decide(None, current=current, target=target, state=TargetState(), now=NOW, margin=MAX_MARGIN * 2)
    with pytest.raises(ValueError, match="margin"):  # the violation price is never cut below a quarter
        decide(None, current=current, target=target, state=TargetState(), now=NOW, margin=MIN_MARGIN / 2)


def test_minutes_the_reactive_rule_governed_count_in_the_spend_but_leave_the_margin():
    target = make_target(slo_budget={"under_provisioning_pct": 1.0})
    # WHEN under-provisioned datapoints come while the newest decision was reactive
    state = observe(
        BudgetState(), stamps_ns=[0, STEP_NS], loads=[1e6, 1e6], in_service=[4, 4], target=target, priced=False
    )
    # THEN they are spent, and the margin (which only forecast mode applies) does not move
    assert state.spend_pct == pytest.approx(100.0)
    assert state.level == 0.0
