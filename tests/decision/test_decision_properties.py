"""Invariants of decide() over random forecasts, capacities, targets and switches (hypothesis)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from decision_helpers import NOW, make_path, make_target
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.domain.decision import CapacityFloor, CurrentCapacity, TargetState, decide


@st.composite
def scenarios(draw):
    low = draw(st.integers(min_value=0, max_value=30))
    high = draw(st.integers(min_value=max(low, 1), max_value=80))
    target = make_target(
        min_capacity=low,
        max_capacity=high,
        max_step_up=draw(st.integers(min_value=1, max_value=20)),
        max_step_down=draw(st.integers(min_value=1, max_value=20)),
        boot_seconds=draw(st.sampled_from([0, 60, 300, 900])),
        scale_in_stabilization_seconds=draw(st.sampled_from([0, 300, 900])),
        mode=draw(st.sampled_from(["forecast_only", "floor", "direct"])),
    )
    steps = 16
    p50 = np.array(draw(st.lists(st.floats(0, 200_000), min_size=steps, max_size=steps)))
    spread = np.array(draw(st.lists(st.floats(0, 50_000), min_size=steps, max_size=steps)))
    age = draw(st.sampled_from([0, 10, 30]))  # minutes: 30 is stale
    forecast = make_path(
        p50,
        p50 + spread,
        p50 + 2 * spread,
        issued_at=NOW - timedelta(minutes=age),
        confidence=draw(st.floats(0, 1)),
    )
    desired = draw(st.integers(min_value=low, max_value=high))
    current = CurrentCapacity(
        desired=desired,
        in_service=draw(st.integers(min_value=0, max_value=desired)),
        recent_load=draw(st.none() | st.floats(0, 200_000)),
    )
    lower_since = draw(st.none() | st.integers(min_value=0, max_value=120))
    state = TargetState(plan_lower_since=None if lower_since is None else NOW - timedelta(minutes=lower_since))
    floors = []
    if draw(st.booleans()):
        start = NOW + timedelta(minutes=draw(st.integers(-60, 120)))
        floors.append(CapacityFloor("event", start, start + timedelta(hours=1), draw(st.integers(0, 200))))
    return target, forecast, current, state, floors, age > 15, draw(st.booleans())


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
