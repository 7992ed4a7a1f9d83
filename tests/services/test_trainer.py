"""Trainer: versioned artifacts, registry, champion promotion on backtest, accuracy metrics; model loading."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from service_support import target

from events.base import to_envelope
from events.contracts import BusinessEvent, MetricsCollected, ModelTrained
from functions.domain.clock import FixedClock
from functions.ports.records import ModelVersion
from functions.services.model_registry import ARTIFACT_KEY, FALLBACK_VERSION
from functions.services.trainer import Scores, TrainRequest, _better
from models.config import ForecastConfig

DAY = datetime(2026, 3, 9, tzinfo=UTC)
ENSEMBLE = ForecastConfig(models=("SeasonalNaive", "SeasonalWindowAverage"), backtest_every_minutes=240)
NAIVE_ONLY = ForecastConfig(models=("SeasonalNaive",), backtest_every_minutes=240)


def seed(world, target_id: str, *, days: int, end: datetime, seed: int) -> None:
    ds = pd.date_range(
        (end - timedelta(days=days)).replace(tzinfo=None), end.replace(tzinfo=None), freq="300s", inclusive="left"
    )
    hours = ds.hour + ds.minute / 60
    rng = np.random.default_rng(seed)
    y = (500 + 300 * np.sin(2 * np.pi * hours / 24)) * (1 + 0.15 * rng.standard_normal(len(ds)))
    world.archive.write_history(target_id, pd.DataFrame({"ds": ds, "y": np.maximum(y, 1)}), part_id=f"0-seed-{seed}")


@pytest.fixture
def trained(memory, clock):
    world = memory([target("web"), target("api")])
    end = DAY + timedelta(days=1, hours=3)
    for i, tid in enumerate(("web", "api")):
        seed(world, tid, days=6, end=end, seed=i)
    world.rewire(forecast_config=ENSEMBLE)
    clock.current = DAY + timedelta(hours=3)
    first = world.components.trainer.train(TrainRequest()).outcomes
    return world, first


def test_first_training_registers_and_promotes_a_versioned_artifact(trained):
    world, outcomes = trained
    assert [o.promoted for o in outcomes] == [True, True] and {o.reason for o in outcomes} == {"no usable champion"}
    version = outcomes[0].version
    for tid in ("web", "api"):
        champion = world.store.champion(tid)
        assert champion is not None and champion.version == version
        model = world.store.model_version(tid, version)
        assert model.info[ARTIFACT_KEY] == "batch-300s-000" and model.artifact_uri.endswith(f"/{version}/")
        assert 0 < model.scores["mase"] < 2 and 0 < model.scores["mape"] < 100
    keys = list(world.objects.list_keys(f"models/batch-300s-000/{version}/"))
    assert any(k.endswith("metadata.json") for k in keys) and any(k.endswith("targets.pkl") for k in keys)
    # ModelTrained per target (with its scores); MASE/MAPE as fleet metrics: one value per target, none named
    trained_events = world.bus.published(ModelTrained)
    assert [e.target_id for e in trained_events] == ["api", "web"] or [e.target_id for e in trained_events] == [
        "web",
        "api",
    ]
    assert all(e.promoted and e.scores and e.scores[0].horizon == "60min" for e in trained_events)
    data = _metric_data(world)
    assert sorted(d["MetricName"] for d in data) == ["ForecastMAPEPercent"] * 2 + ["ForecastMASE"] * 2
    assert all(d["Dimensions"] == [{"Name": "service", "Value": "forescale"}] for d in data), data


def _metric_data(world) -> list[dict]:
    samples = world.cloudwatch._samples  # the twin keeps what PutMetricData stored
    return [{"MetricName": s.name, "Dimensions": [{"Name": k, "Value": v} for k, v in s.dimensions]} for s in samples]


def test_the_forecaster_then_uses_the_champion(trained, clock):
    world, outcomes = trained
    clock.current = DAY + timedelta(days=1, hours=3, seconds=5)
    collected = MetricsCollected(
        round_id="r-1",
        collected_at=clock.current,
        step_seconds=300,
        targets=[
            {
                "target_id": "web",
                "last_timestamp": clock.current - timedelta(minutes=5, seconds=5),
                "last_value": 500.0,
                "points_written": 1,
                "desired_capacity": 3,
            }
        ],
    )
    delivery = world.router.invoke("forecaster", to_envelope(collected, event_id="e-1", time=clock.current))
    (forecast,) = delivery.result["forecasts"]
    assert forecast["model"].startswith(outcomes[0].version) and forecast["no_forecast_reason"] is None


def test_a_worse_challenger_is_registered_but_not_promoted(trained, clock):
    world, first = trained
    # a day later, a challenger with the naive model only (the noisy load favours the window average)
    world.rewire(forecast_config=NAIVE_ONLY)
    clock.current = DAY + timedelta(days=1, hours=3)
    second = world.components.trainer.train(TrainRequest(target_ids=["web"])).outcomes
    (outcome,) = second
    assert outcome.promoted is False and outcome.champion is not None
    assert outcome.challenger.mase >= outcome.champion.mase, outcome.summary()
    assert world.store.champion("web").version == first[0].version
    assert [m.version for m in world.store.model_versions("web")] == [first[0].version, outcome.version]
    assert world.bus.published(ModelTrained)[-1].promoted is False


def test_promotion_rule():
    nan = float("nan")
    assert _better(Scores(1.0, 10, 10, 3), None)[0]
    assert _better(Scores(0.8, 10, 10, 3), Scores(0.9, 10, 10, 3))[0]
    assert not _better(Scores(0.9, 10, 10, 3), Scores(0.9, 10, 10, 3))[0]
    assert not _better(Scores(nan, nan, nan, 0), Scores(0.9, 10, 10, 3))[0]
    assert _better(Scores(0.9, 10, 10, 3), Scores(nan, nan, nan, 0))[0]


def test_missing_artifact_falls_back_to_the_unfitted_model_and_says_why(memory, clock):
    world = memory([target("web")])
    now = DAY + timedelta(hours=3)
    world.store.register_model(
        ModelVersion("web", "v-gone", now, "s3://forescale-memory/models/gone/v-gone/", {}, {ARTIFACT_KEY: "gone"})
    )
    world.store.promote("web", "v-gone", expected_current=None, at=now)
    loader = world.components.model_loader
    service, version = loader.service_for("web", 300, {})
    assert version == FALLBACK_VERSION and not service.is_fitted
    assert "model v-gone unusable (NotFoundError" in loader.problems[0]


def test_corrupt_artifact_falls_back(memory, clock):
    world = memory([target("web")])
    now = DAY + timedelta(hours=3)
    manifest = {
        "target_id": "bad",
        "version": "v1",
        "files": [{"path": "targets.pkl", "bytes": 3, "sha256": "0" * 64}],
        "metadata": {},
    }
    world.objects.put_new("models/bad/v1/targets.pkl", b"xyz")
    world.objects.put_new("models/bad/v1/metadata.json", json.dumps(manifest).encode())
    world.store.register_model(ModelVersion("web", "v1", now, "s3://b/models/bad/v1/", {}, {ARTIFACT_KEY: "bad"}))
    world.store.promote("web", "v1", expected_current=None, at=now)
    _, version = world.components.model_loader.service_for("web", 300, {})
    assert version == FALLBACK_VERSION and "corrupt artifact" in world.components.model_loader.problems[0]


def test_scheduled_training_fans_out_one_invocation_per_batch(memory, clock):
    from dataclasses import replace

    world = memory([target("web"), target("api")])
    end = DAY + timedelta(days=1, hours=3)
    for i, tid in enumerate(("web", "api")):
        seed(world, tid, days=4, end=end, seed=i)
    world.rewire(forecast_config=ENSEMBLE)
    world.rewire(trainer=replace(world.components.trainer, batch_size=1))
    clock.current = end
    # WHEN the schedule invokes the trainer
    planner = world.router.invoke("trainer", {})
    batches = world.router.pump()
    # THEN it trained nothing itself and started one invocation per batch, which trained in parallel
    assert planner.result == {"batches_dispatched": 2, "models": []}
    assert [d.event["batch_index"] for d in batches] == [0, 1] and all(d.error is None for d in batches)
    versions = {d.result["models"][0]["version"] for d in batches}
    assert len(versions) == 2 and all(v.startswith("v20260310T030000Z-b00") for v in versions)
    assert {world.store.champion(t).version for t in ("api", "web")} == versions


def test_a_daily_refit_does_not_count_the_same_past_business_event_again(memory: Any, clock: FixedClock) -> None:
    # GIVEN one target whose history has a past campaign doubling the load, announced without a multiplier
    world = memory([target("web")])
    end = DAY + timedelta(days=2, hours=3)
    seed(world, "web", days=7, end=end, seed=3)
    campaign_start = DAY - timedelta(days=2) + timedelta(hours=10)
    campaign_end = campaign_start + timedelta(hours=2)
    history = world.archive.read_history("web", end - timedelta(days=7), end)
    inside = (history["ds"] >= campaign_start.replace(tzinfo=None)) & (
        history["ds"] < campaign_end.replace(tzinfo=None)
    )
    history.loc[inside, "y"] *= 2
    world.archive.write_history("web", history, part_id="1-campaign")
    event = BusinessEvent(
        name="spring sale", event_type="campaign", targets=["web"], start=campaign_start, end=campaign_end
    )
    world.store.put_business_event("ev-1", event, ["web"], received_at=campaign_start - timedelta(days=1))
    world.rewire(forecast_config=NAIVE_ONLY)

    # WHEN the trainer runs on two consecutive days over that same history
    clock.current = DAY + timedelta(hours=3)
    world.components.trainer.train(TrainRequest())
    first = world.store.event_effect("campaign")
    clock.current = DAY + timedelta(days=1, hours=3)
    world.components.trainer.train(TrainRequest())
    second = world.store.event_effect("campaign")

    # THEN the campaign was learned once (about x2) and the second run did not fold it in again
    assert first is not None and first.samples == 1 and 1.6 < first.multiplier < 2.4
    assert second is not None and second.version == first.version + 1
    assert (second.samples, second.multiplier) == (first.samples, first.multiplier)


def test_the_forecaster_reports_a_followed_level_shift(memory, clock, sink):
    # GIVEN two targets with six days of a daily cycle around 500; "web" jumped to 5,000 half an hour ago
    world = memory([target("web"), target("api")])
    now = DAY + timedelta(days=6, seconds=5)
    jump = now - timedelta(minutes=30, seconds=5)
    for i, tid in enumerate(("web", "api")):
        seed(world, tid, days=6, end=jump if tid == "web" else now, seed=i)
    steps = pd.date_range(jump.replace(tzinfo=None), periods=6, freq="300s")
    world.archive.write_history("web", pd.DataFrame({"ds": steps, "y": np.full(6, 5000.0)}), part_id="1-jump")
    world.rewire(forecast_config=ForecastConfig(models=("Naive", "SeasonalNaive"), backtest_every_minutes=240))
    clock.current = now
    world.components.trainer.train(TrainRequest())
    # WHEN the forecaster runs for both
    collected = MetricsCollected(
        round_id="r-1",
        collected_at=now,
        step_seconds=300,
        targets=[
            {
                "target_id": tid,
                "last_timestamp": now - timedelta(minutes=5, seconds=5),
                "last_value": 1.0,
                "points_written": 1,
            }
            for tid in ("web", "api")
        ],
    )
    delivery = world.router.invoke("forecaster", to_envelope(collected, event_id="e-1", time=now))
    # THEN web's forecast follows the new level and says so in its model; the fleet's LevelShiftFollowed
    # metric counts it once, without naming the target (the forecast record does)
    models = {f["target_id"]: f["model"] for f in delivery.result["forecasts"]}
    assert models["web"].endswith("Ensemble+level-shift") and models["api"].endswith(":Ensemble")
    shifts = [(value, tid) for name, value, _unit, tid in sink.records if name == "LevelShiftFollowed"]
    assert shifts == [(1.0, None)]
