"""The decider alerts on a target whose forecasts went bad: one ``ForecastDegraded`` naming it per episode.

No alarm exists per target: at each decision the decider compares the target's recent forecast error (its
forecast record's :meth:`~functions.domain.calibration.ForecastTracker.recent_error`) with the deployment's
``forecast_error_threshold_percent``; the episode begins above it and ends below 80 % of it, its flag kept
in the target's stored state, and the fleet metric ``ForecastsDegraded`` counts the targets degraded.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from service_support import NOON, flat_history, target

from events.base import parse_envelope
from events.contracts import ForecastDegraded, ForecastReady, ForecastSummary
from functions.adapters import tracker_codec
from functions.domain.calibration import ForecastTracker
from functions.domain.clock import FixedClock, SequentialIds
from functions.ports.records import StoredForecast
from functions.services.common import FORECASTS_DEGRADED, RecordingSink, epoch_ns
from functions.settings import Settings
from functions.wiring import Components

STEP = 300
TARGET = target("web", capacity_per_instance=100.0)  # 5-minute periods and decisions, offset 10


def run_rounds(world, clock, loads: list[float], forecasts: list[float] | list[tuple[float, ...]]):
    """One decision every 5 minutes from noon: ``loads[i]`` is stored as the load of the step before round
    ``i`` (the seed history holds round 0's), the round's forecast is flat at ``forecasts[i]`` (or its 6 steps).
    Returns per round (events published, stored flag, the recent error the stored record gives after it)."""
    rounds = []
    for step, (load, value) in enumerate(zip(loads, forecasts, strict=True)):
        now = NOON + timedelta(seconds=STEP * step)
        clock.current = now + timedelta(seconds=5)
        if step:
            world.archive.write_history(
                "web", pd.DataFrame({"ds": [(now - timedelta(seconds=STEP)).replace(tzinfo=None)], "y": [load]}),
                part_id=f"r{step:05d}",
            )  # fmt: skip
        stamps = tuple(now + timedelta(seconds=STEP * k) for k in range(6))
        p50 = value if isinstance(value, tuple) else (value,) * 6
        world.store.put_forecast(
            StoredForecast(
                target_id="web", forecast_id=f"f-{step}", issued_at=now, model_version="m", confidence=0.8,
                ds=stamps, p50=p50, p90=tuple(v * 1.2 for v in p50), p99=tuple(v * 1.5 for v in p50),
                history_end=now,
            )
        )  # fmt: skip
        summary = ForecastSummary(
            target_id="web", forecast_id=f"f-{step}", issued_at=now, history_end=now - timedelta(seconds=STEP),
            step_seconds=STEP, horizon_steps=6, model_version="m", confidence=0.8,
            desired_capacity=10, in_service_capacity=10, recent_load=load,
        )  # fmt: skip
        before = len(world.bus.envelopes)
        world.components.decider.decide_batch(ForecastReady(round_id=f"r-{step}", forecasts=[summary]))
        events = [
            parse_envelope(ForecastDegraded, e)
            for e in world.bus.envelopes[before:]
            if e["detail-type"] == ForecastDegraded.DETAIL_TYPE
        ]
        record = ForecastTracker.from_state(tracker_codec.decode(world.tracker_records.get("web").body))
        error = record.recent_error(now_ns=epoch_ns(now))
        rounds.append((events, world.store.get_target_state("web").forecast_degraded, error))
    return rounds


def test_one_event_when_the_error_crosses_the_threshold_none_while_it_stays_and_it_clears_with_hysteresis(
    memory, clock, sink: RecordingSink
):
    # GIVEN a target at a flat 500 for two days (seasonal naive is exact)
    world = memory([TARGET])
    flat_history(world, "web", 500.0)
    # WHEN its forecasts are at 1000 (100 % off) for 2 hours, then right (500) for 6 hours, then off again
    forecasts = [1000.0] * 24 + [500.0] * 72 + [1000.0] * 36
    rounds = run_rounds(world, clock, [500.0] * len(forecasts), forecasts)
    # THEN the flag follows the rule (above 35 % begins, below 28 % ends, in between it stays)
    flag, expected_events = False, []
    for index, (_, stored_flag, error) in enumerate(rounds):
        if error is not None and not flag and error.forecast_pct > 35.0:
            flag = True
            expected_events.append(index)
        elif error is not None and flag and error.forecast_pct < 28.0:
            flag = False
        assert stored_flag == flag, index
    published = [index for index, (events, _, _) in enumerate(rounds) for _ in events]
    # AND one event per episode, at the round it began: two episodes
    assert published == expected_events and len(published) == 2
    # AND the hysteresis held the flag while the error was between 28 % and 35 %, without a new event
    held = [i for i, (_, f, e) in enumerate(rounds) if f and e is not None and 28.0 <= e.forecast_pct <= 35.0]
    assert held and not set(held) & set(published)
    # AND the event names the target, the figure, the threshold and seasonal naive's error on the same steps
    event = rounds[published[0]][0][0]
    error = rounds[published[0]][2]
    assert event.target_id == "web" and event.threshold_percent == 35.0 and event.clear_below_percent == 28.0
    assert event.error_percent == round(error.forecast_pct, 3) and event.naive_error_percent == 0.0
    assert event.scored_steps == error.steps and event.window_seconds == 21_600
    assert event.detected_at == NOON + timedelta(seconds=STEP * published[0] + 5)
    # AND the fleet metric counts the degraded targets each invocation, never naming one
    counts = [value for name, value, _, tid in sink.records if name == FORECASTS_DEGRADED and tid is None]
    assert counts == [1.0 if f else 0.0 for _, f, _ in rounds]


def test_idle_minutes_do_not_make_a_good_forecast_degraded(memory, clock, sink: RecordingSink):
    # GIVEN a target idle (load 0) every other 5 minutes, 300 otherwise, the two days before and today
    world = memory([TARGET])
    history = pd.date_range((NOON - timedelta(days=2)).replace(tzinfo=None), periods=576, freq="300s")
    world.archive.write_history(
        "web", pd.DataFrame({"ds": history, "y": [load_at(k - 576) for k in range(576)]}), part_id="0-seed"
    )
    # WHEN each round's forecast is right on busy steps and says 1 for the idle ones
    forecasts = [tuple(load_at(step + k) or 1.0 for k in range(6)) for step in range(40)]
    rounds = run_rounds(world, clock, [load_at(step - 1) for step in range(40)], forecasts)
    # THEN the error is small (a step-by-step percentage would make every idle step infinite): no event
    errors = [e.forecast_pct for _, _, e in rounds if e is not None]
    assert errors and max(errors) < 1.0
    assert not any(events or flag for events, flag, _ in rounds)
    assert [v for name, v, _, _ in sink.records if name == FORECASTS_DEGRADED] == [0.0] * 40


def load_at(step: int) -> float:
    """Idle on even steps from noon, 300 on odd ones."""
    return 0.0 if step % 2 == 0 else 300.0


def test_the_threshold_is_the_deployments_setting(memory, clock):
    # GIVEN the deployment's threshold at 150 %
    world = memory([TARGET], forecast_error_threshold_percent=150.0)
    flat_history(world, "web", 500.0)
    # WHEN the forecasts are 100 % off for 2 hours
    rounds = run_rounds(world, clock, [500.0] * 24, [1000.0] * 24)
    # THEN nothing is degraded (at the default 35 % it would be)
    assert any(e is not None and e.forecast_pct > 35 for _, _, e in rounds)
    assert not any(events or flag for events, flag, _ in rounds)


ENV = {
    "STATE_TABLE": "s", "AUDIT_TABLE": "a", "BUSINESS_EVENTS_TABLE": "b", "MODEL_REGISTRY_TABLE": "m",
    "IDEMPOTENCY_TABLE": "i", "BUCKET_NAME": "bucket", "AUDIT_BUCKET_NAME": "audit", "EVENT_BUS_NAME": "bus",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
}  # fmt: skip


def test_the_decider_takes_the_threshold_from_its_environment_and_refuses_a_bad_one_naming_it():
    # GIVEN the variable the stack sets WHEN the container is built THEN the decider's threshold is it
    env = {**ENV, "FORESCALE_FORECAST_ERROR_THRESHOLD_PERCENT": "42.5"}
    components = Components(Settings.from_env(env), FixedClock(NOON), SequentialIds())
    assert components.decider.forecast_error_threshold_pct == 42.5
    # AND without it, the stack's default 35
    assert Settings.from_env(ENV).forecast_error_threshold_percent == 35.0
    # AND a value that is no percentage is refused, naming the variable and why
    for bad, why in (("abc", "not a number"), ("0", r"\(0, 1000\]"), ("1500", r"\(0, 1000\]"), ("nan", "")):
        with pytest.raises(ValueError, match=f"FORESCALE_FORECAST_ERROR_THRESHOLD_PERCENT.*{why}"):
            Settings.from_env({**ENV, "FORESCALE_FORECAST_ERROR_THRESHOLD_PERCENT": bad})
