"""The decision engine's rules, one at a time (functions/domain/decision.py)."""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pytest
from decision_helpers import NOW, flat, make_path, make_target

from events.contracts import ScalingDecided
from functions.domain.calibration import ForecastCalibration
from functions.domain.decision import (
    CapacityFloor,
    CurrentCapacity,
    DecisionPolicy,
    TargetState,
    decide,
    path_exceedance,
    path_load_at,
)
from models.api import NoForecast

P90_ONLY = DecisionPolicy(quantiles=(0.9,))
# cap 1600 at 0.9 SLO utilisation: 1440 req/min per instance


def _decide(forecast, *, desired=6, in_service=None, recent=None, state=None, target=None, now=NOW, **kwargs):
    kwargs.setdefault("policy", P90_ONLY)
    return decide(
        forecast,
        current=CurrentCapacity(
            desired=desired, in_service=desired if in_service is None else in_service, recent_load=recent
        ),
        target=target or make_target(),
        state=state or TargetState(),
        now=now,
        **kwargs,
    )


def test_the_reason_says_which_load_needs_what_and_why():
    # GIVEN p90 load 11,000 now and 12,400 at 14:05; 6 instances
    p90 = flat(9000)
    p90[0], p90[1] = 11_000, 12_400
    decision = _decide(make_path(flat(8000), p90), desired=6, recent=9000)
    # THEN 9 instances (12,400 / 1,440 = 8.6) and a reason a person can read
    assert decision.desired == 9 and decision.action == "scale_out"
    assert decision.reason == (
        "p90 load 12,400 req/min at 14:05 needs 9 instances at 0.9 SLO utilisation; boot takes 300 s; scale out 6 → 9"
    )
    assert decision.quantile == 0.9 and decision.peak_load == 12_400
    assert decision.execute and not decision.reactive and decision.confidence == 0.9


def test_the_window_is_now_to_boot_plus_interval():
    # GIVEN a peak at 14:10, just past [14:00, 14:10)
    p50 = flat(3000)
    p50[2] = 20_000
    assert _decide(make_path(p50), desired=3).desired == 3
    # WHEN boot takes 10 minutes the window reaches it
    assert _decide(make_path(p50), desired=3, target=make_target(boot_seconds=600)).desired == 14


def test_a_peak_now_adds_nothing_but_blocks_scale_in():
    # GIVEN a peak at 14:00 (now): instances launched now would serve from 14:05, too late for it
    p50 = flat(3000)
    p50[0] = 12_000
    assert _decide(make_path(p50), desired=3).desired == 3
    # but it keeps 9 running instances from being removed
    stable = TargetState(plan_lower_since=NOW - timedelta(hours=1))
    assert _decide(make_path(p50), desired=9, state=stable).desired == 9


def test_bounds_always_hold():
    capped = _decide(make_path(flat(100_000)), desired=6)
    assert capped.desired == 20
    assert "needs 70 instances at 0.9 SLO utilisation; max_capacity 20 caps it" in capped.reason
    assert _decide(make_path(flat(0)), desired=2).desired == 2
    # a current capacity outside the bounds is brought back even against the step limit
    decision = _decide(make_path(flat(100_000)), desired=40, target=make_target(max_step_down=5))
    assert decision.desired == 20 and "bounds [2, 20]" in decision.reason


def test_step_limits_cap_each_decision():
    decision = _decide(make_path(flat(12_000)), desired=3, target=make_target(max_step_up=2))
    assert decision.desired == 5 and "step limit +2" in decision.reason
    state = TargetState(plan_lower_since=NOW - timedelta(hours=1))
    decision = _decide(make_path(flat(3000)), desired=15, state=state, target=make_target(max_step_down=4))
    assert decision.desired == 11 and decision.action == "scale_in"


def test_scale_in_waits_for_the_stabilisation_window():
    # GIVEN a target that stabilises for 15 minutes and a plan that went lower (3 instances) with 9 running
    slow = make_target(scale_in_stabilization_seconds=900)
    first = _decide(make_path(flat(3000)), desired=9, target=slow)
    assert first.desired == 9 and first.action == "hold"
    assert "waits for stabilisation (0 of 15 min)" in first.reason
    assert first.state.plan_lower_since == NOW
    # WHEN the plan stays lower for 15 minutes
    later = NOW + timedelta(minutes=15)
    second = _decide(make_path(flat(3000), start=later), desired=9, state=first.state, now=later, target=slow)
    # THEN it scales in
    assert second.action == "scale_in" and second.desired == 3
    assert second.state.last_scale_in_at == later and second.state.plan_lower_since is None


def test_a_plan_that_rises_again_resets_the_stabilisation():
    lower = _decide(make_path(flat(3000)), desired=9)
    later = NOW + timedelta(minutes=5)
    back_up = _decide(make_path(flat(12_000), start=later), desired=9, state=lower.state, now=later)
    assert back_up.state.plan_lower_since is None


def test_scale_in_only_when_the_plan_stays_lower_for_the_boot_time():
    stable = TargetState(plan_lower_since=NOW - timedelta(hours=1))
    # GIVEN low load in the window but high load within one boot time after it (14:10)
    p50 = flat(3000)
    p50[2] = 12_000
    assert _decide(make_path(p50), desired=9, state=stable).desired == 9
    # WHEN the rise comes later than window + boot (14:15)
    p50 = flat(3000)
    p50[3] = 12_000
    assert _decide(make_path(p50), desired=9, state=stable).desired == 3


def test_a_stale_forecast_falls_back_to_reactive_and_never_scales_in():
    stale = make_path(flat(3000), issued_at=NOW - timedelta(minutes=20))
    stable = TargetState(plan_lower_since=NOW - timedelta(hours=1))
    decision = _decide(stale, desired=9, recent=1000, state=stable)
    assert decision.desired == 9 and decision.reactive and decision.confidence == 0.0
    assert "forecast stale (issued 20 min ago)" in decision.reason
    assert "never scales in on a stale forecast" in decision.reason
    # but it still scales out on the newest load: ceil(9000 / (1600 * 0.6)) = 10
    assert _decide(stale, desired=9, recent=9000).desired == 10


def test_a_forecast_that_does_not_reach_the_window_end_is_stale():
    short = make_path(flat(3000, steps=1))
    decision = _decide(short, desired=9, recent=1000, state=TargetState(plan_lower_since=NOW - timedelta(hours=1)))
    assert decision.reactive and decision.desired == 9
    assert "does not cover the coming window" in decision.reason


def test_no_forecast_defers_to_the_reactive_rule_which_may_scale_in():
    stable = TargetState(plan_lower_since=NOW - timedelta(hours=1))
    decision = _decide(NoForecast("web", "less than one day of history"), desired=9, recent=1900, state=stable)
    # ceil(1900 / 960) = 2
    assert decision.desired == 2 and decision.reactive
    assert decision.reason.startswith("no forecast (less than one day of history): reactive rule, load 1,900 req/min")
    assert _decide(None, desired=9, recent=None).desired == 9


def test_low_confidence_defers_to_the_reactive_rule():
    decision = _decide(make_path(flat(3000), confidence=0.1), desired=6, recent=9000)
    assert decision.reactive and decision.desired == 10
    assert "forecast confidence 0.10 below 0.2" in decision.reason


def test_kill_switch_holds_and_says_what_it_would_have_done():
    decision = _decide(make_path(flat(12_400)), desired=6, kill_switch=True)
    assert decision.desired == 6 and decision.action == "hold" and not decision.execute
    assert "kill switch on: hold 6 (would scale out 6 → 9)" in decision.reason


def test_forecast_only_decides_but_does_not_execute():
    decision = _decide(make_path(flat(12_400)), desired=6, target=make_target(mode="forecast_only"))
    assert decision.desired == 9 and decision.mode == "forecast_only" and not decision.execute
    assert decision.reason.endswith("forecast_only: not executed")


def test_business_floors_raise_capacity_a_boot_time_ahead():
    floor = CapacityFloor("launch", NOW + timedelta(minutes=5), NOW + timedelta(hours=2), 15)
    decision = _decide(make_path(flat(3000)), desired=3, floors=[floor])
    assert decision.desired == 15 and "business floor 'launch' 15" in decision.reason
    later = CapacityFloor("later", NOW + timedelta(minutes=30), NOW + timedelta(hours=2), 15)
    decision = _decide(make_path(flat(3000)), desired=3, floors=[later])
    assert decision.desired == 3
    # the plan shows the floor from the window that reaches it
    by_time = {step.at: step.capacity for step in decision.plan}
    assert by_time[NOW + timedelta(minutes=25)] == 15 and by_time[NOW + timedelta(minutes=20)] == 3


def test_the_newest_load_is_a_floor_under_a_low_forecast():
    decision = _decide(make_path(flat(3000)), desired=3, recent=12_000)
    assert decision.desired == 9 and "newest load 12,000 req/min needs 9" in decision.reason


def test_the_plan_covers_the_forecast_within_bounds():
    p50 = np.linspace(1000, 40_000, 12)
    decision = _decide(make_path(p50), desired=3)
    assert len(decision.plan) == 12
    capacities = [step.capacity for step in decision.plan]
    assert all(2 <= c <= 20 for c in capacities)
    assert capacities == sorted(capacities)


def test_the_quantile_follows_the_prices():
    # GIVEN a wide forecast: p50 6,000, p90 9,000, p99 14,000
    path = make_path(flat(6000), flat(9000), flat(14_000))
    chosen = {}
    for penalty in (0.0, 0.05, 1.0, 1000.0):
        target = make_target(cost={"instance_hour_price": 0.10, "violation_minute_penalty": penalty})
        decision = _decide(path, desired=2, target=target, policy=DecisionPolicy())
        chosen[penalty] = (decision.quantile, decision.desired)
    # THEN a free violation buys the median, an expensive one the far tail, and capacity grows with it
    assert chosen[0.0] == (0.5, 5)
    assert chosen[1000.0][0] == 0.999
    quantiles = [chosen[p][0] for p in (0.0, 0.05, 1.0, 1000.0)]
    desired = [chosen[p][1] for p in (0.0, 0.05, 1.0, 1000.0)]
    assert quantiles == sorted(quantiles) and desired == sorted(desired)
    assert desired[0] < desired[-1]


def test_a_calibration_with_enough_samples_replaces_the_nominal_quantiles():
    # GIVEN the load has lately run at twice the median, every time
    calibration = ForecastCalibration.from_ratios(np.full(500, 2.0), offset=0.0)
    decision = _decide(make_path(flat(3000)), desired=2, calibration=calibration)
    assert decision.desired == 5  # 6,000 / 1,440
    # and a bias halves the median before the spread applies
    halved = ForecastCalibration.from_ratios(np.full(500, 2.0), offset=0.0, bias=0.5)
    assert _decide(make_path(flat(3000)), desired=2, calibration=halved).desired == 3
    # too few samples: the forecast's own quantiles are used
    few = ForecastCalibration.from_ratios(np.full(10, 2.0), offset=0.0)
    assert _decide(make_path(flat(3000)), desired=2, calibration=few).desired == 3


def test_path_quantiles_interpolate_and_invert_consistently():
    p50, p90, p99 = np.array([100.0]), np.array([150.0]), np.array([250.0])
    assert path_load_at(0.5, p50, p90, p99)[0] == 100
    assert path_load_at(0.9, p50, p90, p99)[0] == pytest.approx(150)
    assert path_load_at(0.99, p50, p90, p99)[0] == pytest.approx(250)
    assert path_load_at(0.999, p50, p90, p99)[0] == pytest.approx(350)
    for q in (0.6, 0.9, 0.95, 0.99, 0.995):
        x = path_load_at(q, p50, p90, p99)[0]
        assert path_exceedance(x, p50, p90, p99)[0] == pytest.approx(1 - q)


def test_the_decision_becomes_a_valid_scaling_decided_event():
    decision = _decide(make_path(flat(12_400)), desired=6)
    until = decision.decided_at + timedelta(minutes=7)
    event = decision.to_event(decision_id="dec-000001", sequence=3, kind="asg", valid_until=until)
    assert isinstance(event, ScalingDecided) and event.valid_until == until
    assert event.desired_capacity == 9 and event.previous_desired == 6 and event.action == "scale_out"


def test_a_target_still_learning_its_capacity_is_refused():
    with pytest.raises(ValueError, match="capacity_per_instance"):
        _decide(make_path(flat(3000)), target=make_target(capacity_per_instance="learn"))


def test_instances_added_now_are_priced_for_the_stabilisation_window():
    # GIVEN a wide forecast and prices where covering the tail is worth it for one interval only
    path = make_path(flat(6000), flat(9000), flat(14_000))
    cost = {"instance_hour_price": 0.10, "violation_minute_penalty": 0.05}
    committed = DecisionPolicy(price_commitment=True)
    quick = _decide(path, desired=2, target=make_target(cost=cost, scale_in_stabilization_seconds=0), policy=committed)
    slow = _decide(
        path, desired=2, target=make_target(cost=cost, scale_in_stabilization_seconds=3600), policy=committed
    )
    # THEN a long commitment buys less capacity (a lower quantile)
    assert slow.desired < quick.desired and slow.quantile < quick.quantile
    # and without commitment pricing both choose alike
    flat_price = DecisionPolicy(price_commitment=False)
    assert (
        _decide(
            path, desired=2, target=make_target(cost=cost, scale_in_stabilization_seconds=3600), policy=flat_price
        ).desired
        == quick.desired
    )


@pytest.mark.parametrize("load", [1e30, 1e300, 3e18])
def test_an_enormous_forecast_never_scales_in(load):
    # GIVEN 20 instances of at most 40, a newest load of 300 and a forecast of `load` everywhere (above 2^63
    # instances' worth for the two first: int64 arithmetic used to wrap and scale in to 4)
    target = make_target(max_capacity=40, capacity_per_instance=100.0)
    stable = TargetState(plan_lower_since=NOW - timedelta(hours=1))
    decision = _decide(make_path(flat(load)), desired=20, recent=300, target=target, state=stable, policy=None)
    # THEN the need saturates at max_capacity: scale out as far as the step limit allows, never in
    assert decision.action == "scale_out" and decision.desired == 40
    assert "max_capacity 40 caps it" in decision.reason
    assert all(step.capacity == 40 for step in decision.plan)


def test_a_tiny_capacity_per_instance_saturates_at_max_capacity():
    # GIVEN one instance serves 1e-6 of a unit and the load is 1e15 units (1e21 instances, beyond int64);
    # no newest load to guard the decision, and a plan that has been lower for an hour
    target = make_target(max_capacity=40, capacity_per_instance=1e-6)
    stable = TargetState(plan_lower_since=NOW - timedelta(hours=1))
    decision = _decide(make_path(flat(1e15)), desired=20, target=target, state=stable, policy=None)
    # THEN the need is max_capacity
    assert decision.desired == 40 and decision.action == "scale_out"


def test_the_reactive_rule_saturates_too():
    # GIVEN no forecast and a newest load whose need overflows a float division (load / 1e-6 per instance)
    target = make_target(max_capacity=40, capacity_per_instance=1e-6)
    decision = _decide(None, desired=20, recent=1e305, target=target)
    # THEN the reactive need is max_capacity
    assert decision.desired == 40 and decision.reactive


@pytest.mark.parametrize(("p90", "p99"), [(1500, 300), (2900, 100), (600, 0)])
def test_crossing_quantiles_never_scale_in_below_the_median(p90, p99):
    # GIVEN a median of 3,000 (34 instances) with upper quantiles that cross below it, and violations priced
    # at nothing (so the cheapest quantile wins): extrapolated past p99 they read as no load at all
    target = make_target(max_capacity=40, capacity_per_instance=100.0, cost={"violation_minute_penalty": 0.0})
    stable = TargetState(plan_lower_since=NOW - timedelta(hours=1))
    decision = _decide(
        make_path(flat(3000), flat(p90), flat(p99)), desired=20, target=target, state=stable, policy=None
    )
    # THEN no quantile reads below the median: scale out to what the median needs, never in
    assert decision.action == "scale_out" and decision.desired == 34, decision.reason


def test_a_need_left_unmet_by_the_cost_optimal_choice_says_why_with_the_figures():
    # GIVEN one instance and a forecast whose upper tail (p99.9) needs a second one for a moment
    target = make_target(min_capacity=1, capacity_per_instance=100.0, scale_in_stabilization_seconds=900)
    path = make_path(flat(60), flat(77.5), flat(95))
    # WHEN forescale decides
    decision = decide(
        path,
        current=CurrentCapacity(desired=1, in_service=1, recent_load=50.0),
        target=target,
        state=TargetState(),
        now=NOW,
    )
    # THEN it holds 1 although the named quantile needs 2, and the reason says why: the second instance,
    # committed for the stabilisation window, costs more than the violation minutes it would save
    assert decision.action == "hold" and decision.desired == 1
    assert "needs 2 instances" in decision.reason
    match = re.search(
        r"one more instance \(2 in all\) costs ([\d.e-]+) for 5 min \+ 15 min committed; "
        r"expected violation cost saved ([\d.e-]+) \(([\d.e-]+) min at 0.11/min\): not worth it",
        decision.reason,
    )
    assert match, decision.reason
    cost, saved, minutes = (float(g) for g in match.groups())
    assert cost == pytest.approx(0.10 * 20 / 60, rel=1e-2)
    assert saved == pytest.approx(0.11 * minutes, rel=0.05) and saved < cost


def test_the_records_confidence_decides_trust_and_the_forecasts_own_is_the_fallback():
    untrusted_fit = make_path(flat(3000), confidence=0.0)
    # GIVEN a forecast whose fit scored it 0, and a record that measured it against seasonal naive lately
    measured = ForecastCalibration.from_ratios(np.ones(3), offset=0.0, confidence=0.6, error_ratio=0.8)
    decision = _decide(untrusted_fit, desired=6, recent=3000, calibration=measured)
    # THEN the record's confidence decides: the forecast is used, and the decision carries 0.6
    assert not decision.reactive and decision.confidence == 0.6
    # GIVEN a record too short to measure: the forecast's own confidence decides
    unmeasured = ForecastCalibration.from_ratios(np.ones(3), offset=0.0)
    assert _decide(untrusted_fit, desired=6, recent=3000, calibration=unmeasured).reactive
    # GIVEN a fit that trusts itself, and a record that measured it 1.8x worse than seasonal naive
    worse = ForecastCalibration.from_ratios(np.ones(3), offset=0.0, confidence=0.1, error_ratio=1.8)
    decision = _decide(make_path(flat(3000), confidence=0.9), desired=6, recent=9000, calibration=worse)
    # THEN the reactive rule decides, the reason says why, and the decision carries the measured 0.1
    assert decision.reactive and decision.desired == 10 and decision.confidence == 0.1
    assert "forecast confidence 0.10 below 0.2 (recent error 1.8x seasonal naive's)" in decision.reason
