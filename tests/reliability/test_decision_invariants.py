"""Decision invariants over whole sequences of decisions, and the decider on bad data (hypothesis).

A target is decided every interval for eight intervals, each time with a new forecast, the capacity
left by the previous decision (as the executor applies it) and the state the previous decision
returned. Whatever the forecasts:

- capacity stays within ``[min_capacity, max_capacity]``;
- no decision moves more than ``max_step_up`` / ``max_step_down``;
- no scale-in happens inside the stabilisation window: a scale-in at ``t`` needs the plan to have been
  below the capacity at every decision of ``[t - stabilisation, t]`` (judged by an oracle: the same
  decision without stabilisation would have scaled in) continuously since at least ``t - stabilisation``.

And the decider service, given any kind of bad data for a target (stale, missing or corrupt forecast;
missing or late metric), never scales it in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from events.contracts import ForecastReady
from forescale_tools.local_router import memory_world
from functions.adapters.dynamodb import target_pk
from functions.domain.clock import FixedClock
from functions.domain.decision import CurrentCapacity, TargetState, decide
from functions.domain.target import LoadMetric, ScalingTarget
from models.api import ForecastPath
from tests.support.figures import property_run
from tests.support.world import flat_forecast, summary

START = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
STEP = 300
TICKS = 8


def make_target(**overrides: Any) -> ScalingTarget:
    config: dict[str, Any] = {
        "target_id": "web",
        "kind": "asg",
        "asg_name": "web-asg",
        "metric": LoadMetric(namespace="T", name="Requests", period_seconds=STEP),
        "capacity_per_instance": 100.0,
        "boot_seconds": 300,
        "decision_interval_seconds": STEP,
        "mode": "direct",
    }
    config.update(overrides)
    return ScalingTarget.model_validate(config)


def path(at: datetime, level: float, spread: float, steps: int = 36) -> ForecastPath:
    p50 = np.full(steps, level)
    return ForecastPath(
        unique_id="web",
        issued_at=at,
        ds=pd.date_range(at.replace(tzinfo=None), periods=steps, freq=f"{STEP}s"),
        p50=p50,
        p90=p50 + spread,
        p99=p50 + 2 * spread,
        confidence=0.9,
        model="property",
    )


@st.composite
def sequences(draw: Any) -> tuple[ScalingTarget, int, list[tuple[float, float, float | None]]]:
    low = draw(st.integers(1, 10))
    target = make_target(
        min_capacity=low,
        max_capacity=low + draw(st.integers(0, 40)),
        max_step_up=draw(st.integers(1, 15)),
        max_step_down=draw(st.integers(1, 15)),
        scale_in_stabilization_seconds=draw(st.sampled_from([0, 300, 600, 900, 1800])),
    )
    start = draw(st.integers(target.min_capacity, target.max_capacity))
    ticks = draw(
        st.lists(
            st.tuples(st.floats(0, 6000), st.floats(0, 1500), st.none() | st.floats(0, 6000)),
            min_size=TICKS,
            max_size=TICKS,
        )
    )
    return target, start, ticks


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(sequences())
def test_sequences_of_decisions_keep_bounds_steps_and_the_stabilisation_window(figures, case):
    target, desired, ticks = case
    with property_run(figures, "decide: bounds, step limits and stabilisation over sequences"):
        state = TargetState()
        lower_since: datetime | None = None  # oracle: since when the plan has been lower, continuously
        for index, (level, spread, recent) in enumerate(ticks):
            now = START + timedelta(seconds=index * STEP)
            forecast = path(now, level, spread)
            current = CurrentCapacity(desired=desired, in_service=desired, recent_load=recent)
            decision = decide(forecast, current=current, target=target, state=state, now=now)
            eager = decide(
                forecast,
                current=current,
                target=target.model_copy(update={"scale_in_stabilization_seconds": 0}),
                state=TargetState(),
                now=now,
            )
            lower_since = (lower_since or now) if eager.action == "scale_in" else None
            # bounds, always; step limits
            assert target.min_capacity <= decision.desired <= target.max_capacity, decision.reason
            assert -target.max_step_down <= decision.desired - desired <= target.max_step_up, decision.reason
            # no scale-in inside the stabilisation window
            if decision.action == "scale_in":
                assert lower_since is not None, ("scale-in while the plan is not lower", decision.reason)
                waited = (now - lower_since).total_seconds()
                assert waited >= target.scale_in_stabilization_seconds, (waited, decision.reason)
            desired, state = decision.desired, decision.state
            event(f"{decision.action}{' (waiting)' if 'waits for stabilisation' in decision.reason else ''}")


BAD_DATA = ("stale forecast", "missing forecast", "corrupt forecast", "missing metric", "late metric")
NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    kind=st.sampled_from(BAD_DATA),
    desired=st.integers(2, 40),
    forecast_load=st.floats(0, 5000),
    recent=st.floats(0, 5000),
    age_minutes=st.integers(16, 600),
    lateness_minutes=st.integers(16, 600),
)
def test_the_decider_never_scales_in_on_bad_data(
    figures, kind, desired, forecast_load, recent, age_minutes, lateness_minutes
):
    with property_run(figures, "decider: never scales in on bad data"):
        # GIVEN a target at ``desired`` and one kind of bad data
        target = make_target(min_capacity=1, max_capacity=60, scale_in_stabilization_seconds=0, max_step_down=60)
        world = memory_world([target], clock=FixedClock(NOON))
        issued = NOON - timedelta(minutes=age_minutes) if kind == "stale forecast" else NOON
        stored = flat_forecast("web", forecast_load, issued=issued)
        if kind != "missing forecast":
            world.store.put_forecast(stored)
        item = summary(stored, recent=recent, desired=desired, history_end=NOON - timedelta(seconds=STEP))
        if kind == "missing forecast":
            world.store.items.put(
                world.store.names.state, {"pk": target_pk("web"), "sk": "FORECAST#LATEST", "gone": True}
            )
        elif kind == "corrupt forecast":
            raw = world.store.items.get(world.store.names.state, target_pk("web"), "FORECAST#LATEST")
            world.store.items.put(world.store.names.state, {**raw, "p90": b"\x00" * 13})
        elif kind == "missing metric":
            item = replace_summary(item, recent_load=None, history_end=NOON - timedelta(minutes=lateness_minutes))
        elif kind == "late metric":
            item = replace_summary(item, history_end=NOON - timedelta(minutes=lateness_minutes))
        # WHEN the decider decides
        (outcome,) = world.components.decider.decide_batch(ForecastReady(round_id="r", forecasts=[item]))
        # THEN it never scales in
        assert outcome.action != "scale_in", (kind, outcome.reason)
        assert outcome.desired is None or outcome.desired >= desired, (kind, outcome.reason)


def replace_summary(item: Any, **changes: Any) -> Any:
    return item.model_copy(update=changes)
