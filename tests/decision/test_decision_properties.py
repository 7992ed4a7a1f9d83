"""Invariants of decide() over random forecasts, capacities, targets and switches (hypothesis)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from decision_helpers import NOW, make_path, make_target
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.domain.capacity_model import instances_for
from functions.domain.decision import CapacityFloor, CurrentCapacity, TargetState, decide


def _scaled(draw, scale: float, steps: int, low: float, high: float) -> np.ndarray:
    """``steps`` values of ``scale`` times factors in ``[low, high]``; sometimes all equal (a flat path)."""
    if draw(st.booleans()):
        return np.full(steps, scale * draw(st.floats(low, high)))
    return scale * np.array(draw(st.lists(st.floats(low, high), min_size=steps, max_size=steps)))


@st.composite
def scenarios(draw):
    low = draw(st.integers(min_value=0, max_value=30))
    high = draw(st.integers(min_value=max(low, 1), max_value=80))
    # capacity per instance from 1e-6 to 1e6 and loads up to 1e15: needs from nothing to far beyond int64
    capacity = 10.0 ** draw(st.floats(-6, 6))
    target = make_target(
        min_capacity=low,
        max_capacity=high,
        capacity_per_instance=capacity,
        max_step_up=draw(st.integers(min_value=1, max_value=20)),
        max_step_down=draw(st.integers(min_value=1, max_value=20)),
        boot_seconds=draw(st.sampled_from([0, 60, 300, 900])),
        scale_in_stabilization_seconds=draw(st.sampled_from([0, 300, 900])),
        mode=draw(st.sampled_from(["forecast_only", "floor", "direct"])),
        cost={"violation_minute_penalty": draw(st.sampled_from([0.0, 0.11, 100.0]))},
    )
    steps = 16
    scale = 10.0 ** draw(st.floats(-3, 15))
    p50 = _scaled(draw, scale, steps, 0.0, 1.0)
    # upper quantiles above the median, crossing below it, or on it (flat)
    shape = draw(st.sampled_from(["ordered", "crossed", "flat"]))
    if shape == "ordered":
        p90 = p50 * _scaled(draw, 1.0, steps, 1.0, 3.0)
        p99 = p90 * _scaled(draw, 1.0, steps, 1.0, 3.0)
    elif shape == "crossed":
        p90 = p50 * _scaled(draw, 1.0, steps, 0.0, 1.0)
        p99 = p90 * _scaled(draw, 1.0, steps, 0.0, 1.0)
    else:
        p90 = p99 = p50
    age = draw(st.sampled_from([0, 0, 10, 30]))  # minutes: 30 is stale
    forecast = make_path(p50, p90, p99, issued_at=NOW - timedelta(minutes=age), confidence=draw(st.floats(0, 1)))
    desired = draw(st.integers(min_value=low, max_value=high))
    current = CurrentCapacity(
        desired=desired,
        in_service=draw(st.integers(min_value=0, max_value=desired)),
        recent_load=draw(st.none() | st.floats(0, 1.5).map(lambda f: f * scale)),
    )
    # minutes since the plan became lower; negative: the clock went back since it was stored
    lower_since = draw(st.none() | st.integers(min_value=-30, max_value=120))
    state = TargetState(plan_lower_since=None if lower_since is None else NOW - timedelta(minutes=lower_since))
    floors = []
    if draw(st.booleans()):
        start = NOW + timedelta(minutes=draw(st.integers(-60, 120)))
        floors.append(CapacityFloor("event", start, start + timedelta(hours=1), draw(st.integers(0, 200))))
    return target, forecast, current, state, floors, age > 15, draw(st.sampled_from([False, False, False, True]))


def window_need(target, forecast) -> int:
    """Instances the forecast's median needs at its highest step of ``[now, now + boot + interval)``: the
    least any quantile the engine may use asks for (every candidate quantile is at or above the median)."""
    stamps = forecast.ds.asi8
    now_ns = int(NOW.timestamp()) * 1_000_000_000
    horizon = (target.boot_seconds + target.decision_interval_seconds) * 1_000_000_000
    inside = (stamps >= now_ns) & (stamps < now_ns + horizon)
    per_instance = float(target.capacity_per_instance) * target.slo_utilization
    return max((instances_for(float(load), per_instance) for load in forecast.p50[inside]), default=0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_decisions_respect_bounds_step_limits_and_switches(case):
    target, forecast, current, state, floors, stale, kill = case
    decision = decide(forecast, current=current, target=target, state=state, now=NOW, floors=floors, kill_switch=kill)
    # bounds, always
    assert target.min_capacity <= decision.desired <= target.max_capacity
    # step limits (the current capacity is within bounds here)
    assert decision.desired - current.desired <= target.max_step_up
    assert current.desired - decision.desired <= target.max_step_down
    # the kill switch changes nothing; forecast_only never executes
    if kill:
        assert decision.desired == current.desired and decision.action == "hold" and not decision.execute
    if target.mode == "forecast_only":
        assert not decision.execute
    # a stale forecast never scales in
    if stale:
        assert decision.desired >= current.desired and decision.reactive
    # the action says what happened, the plan stays within bounds, the reason fits the event
    expected = (
        "scale_out"
        if decision.desired > current.desired
        else "scale_in"
        if decision.desired < current.desired
        else "hold"
    )
    assert decision.action == expected
    assert all(target.min_capacity <= step.capacity <= target.max_capacity for step in decision.plan)
    assert 0 < len(decision.reason) <= 500
    # never a scale-in while the forecast (any quantile: the median is the least) or the newest load needs
    # more than runs now, however large the need (beyond int64 included)
    if not decision.reactive and window_need(target, forecast) > current.desired:
        assert decision.action != "scale_in", decision.reason
    if current.recent_load is not None:
        guard = instances_for(current.recent_load, float(target.capacity_per_instance) * target.slo_utilization)
        if guard > current.desired:
            assert decision.action != "scale_in", decision.reason
    # a clock that went back since the plan became lower never lets a scale-in through sooner
    if state.plan_lower_since is not None and state.plan_lower_since > NOW:
        assert decision.action != "scale_in", decision.reason


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.integers(min_value=1, max_value=60))
def test_a_clock_that_goes_backwards_never_breaks_bounds_or_scales_in_early(case, back_minutes):
    # GIVEN a decision at NOW, then the next one with the clock moved back, from the state the first left
    target, forecast, current, state, floors, _stale, _kill = case
    first = decide(forecast, current=current, target=target, state=state, now=NOW, floors=floors)
    earlier = NOW - timedelta(minutes=back_minutes)
    after = CurrentCapacity(desired=first.desired, in_service=current.in_service, recent_load=current.recent_load)
    second = decide(forecast, current=after, target=target, state=first.state, now=earlier, floors=floors)
    # THEN bounds and step limits hold, and no scale-in happens before the plan was lower for the stabilisation
    # time as the clock now reads it (a plan lower "since" a moment that is still to come has not waited at all)
    assert target.min_capacity <= second.desired <= target.max_capacity
    assert second.desired - first.desired <= target.max_step_up
    assert first.desired - second.desired <= target.max_step_down
    if second.action == "scale_in":
        since = first.state.plan_lower_since
        assert since is None or (earlier - since).total_seconds() >= target.scale_in_stabilization_seconds
