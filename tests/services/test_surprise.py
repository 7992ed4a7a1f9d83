"""A surprise between decisions: the round's fresh load needs more than the desired capacity, so the target is
due at once (``DecisionPolicy.surprise_decisions``), as the replay decides at the next step."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from service_support import NOON, target

from events.contracts import CollectedTarget, ForecastReady, MetricsCollected
from functions.domain.target import LoadMetric
from functions.ports.records import StoredForecast

STEP = 60
TARGET = target(
    "web",
    metric=LoadMetric(namespace="T/Load", name="Requests", dimensions={"Target": "web"}, period_seconds=STEP),
    boot_seconds=120,
    decision_interval_seconds=300,
    capacity_per_instance=100.0,
    slo_utilization=0.9,
    target_utilization=0.6,
)


def _round(clock, *, load: float, desired: int, age_minutes: int = 1) -> MetricsCollected:
    clock.current = NOON + timedelta(minutes=3, seconds=4)
    return MetricsCollected(
        round_id="r-3", collected_at=clock.current, step_seconds=STEP,
        targets=[CollectedTarget(
            target_id="web", last_timestamp=NOON + timedelta(minutes=3 - age_minutes), last_value=load,
            points_written=1, desired_capacity=desired, in_service_capacity=desired,
        )],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("load", "desired", "age_minutes", "surprised"),
    [
        (360.0, 4, 1, False),  # 4 instances serve 360 at 0.9: within what was priced
        (361.0, 4, 1, True),  # needs a fifth: decided now, not at 12:05
        (361.0, 4, 10, False),  # a late datapoint surprises nobody (stale data never moves capacity)
    ],
)
def test_a_round_whose_load_outgrew_the_capacity_is_forecast_and_decided_at_once(
    memory, clock, load, desired, age_minutes, surprised
):
    # GIVEN a forecast issued at 12:00 for a 5-minute decision interval, and the round of 12:03
    world = memory([TARGET])
    world.store.put_forecast(
        StoredForecast(
            target_id="web", forecast_id="f-noon", issued_at=NOON, model_version="m", confidence=0.4,
            history_end=NOON - timedelta(seconds=STEP), no_forecast_reason="too little history",
        )
    )  # fmt: skip
    forecaster = replace(world.components.forecaster, surprise_decisions=True)
    # WHEN the forecaster handles the round
    outcomes = forecaster.forecast_batch(_round(clock, load=load, desired=desired, age_minutes=age_minutes))
    (ready,) = world.bus.published(ForecastReady)
    (summary,) = ready.forecasts
    # THEN a surprise gets a new forecast (the decider decides on it), otherwise the round is between decisions
    assert (len(outcomes) == 1) is surprised
    assert (summary.forecast_id != "f-noon") is surprised
    # AND without surprise decisions the same surprise waits for the interval
    assert replace(forecaster, surprise_decisions=False).forecast_batch(_round(clock, load=load, desired=desired)) == []
