"""``capacity_per_instance: learn`` through the pipeline: the collector's busy series, the trainer's fit, the decider."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from service_support import NOON, target

from events.contracts import ForecastReady, ForecastSummary
from functions.domain.capacity_model import MIN_SAMPLES, busy_series_id, utilization_metric
from functions.domain.target import LoadMetric
from functions.ports.records import LearnedCapacity, StoredForecast
from functions.services.collector import CollectRequest
from functions.services.trainer import TrainRequest
from models.api import ForecastPath
from models.config import ForecastConfig

NAIVE_ONLY = ForecastConfig(models=("SeasonalNaive",), backtest_every_minutes=240)
TRUE_CAPACITY = 120.0


def learn_target():
    return target("web", capacity_per_instance="learn")


def seed_load_and_busy(world, *, points: int, end: datetime = NOON, seed: int = 3) -> None:
    """History as the collector writes it for a learn target: load and busy instance-equivalents."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(end.replace(tzinfo=None) - timedelta(seconds=300 * points), periods=points, freq="300s")
    hours = np.asarray(ds.hour + ds.minute / 60)
    load = 400 + 250 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 10, points)
    busy = load / TRUE_CAPACITY * np.exp(rng.normal(0, 0.03, points))
    busy[5] = busy[5] * 4  # an incident: a stuck process burning CPU (the robust fit shrugs it off)
    world.archive.write_history("web", pd.DataFrame({"ds": ds, "y": load}), part_id="0-seed")
    world.archive.write_history(busy_series_id("web"), pd.DataFrame({"ds": ds, "y": busy}), part_id="0-seed")


def forecast_round(world, clock, level: float) -> list:
    clock.current = NOON + timedelta(seconds=5)
    ds = pd.date_range(NOON.replace(tzinfo=None), periods=13, freq="300s")
    path = ForecastPath("web", NOON, ds, np.full(13, level), np.full(13, level), np.full(13, level), 0.9, "t")
    world.store.put_forecast(StoredForecast.from_path(path, forecast_id="f-1", model_version="t"))
    summary = ForecastSummary(
        target_id="web", forecast_id="f-1", issued_at=NOON, history_end=NOON - timedelta(minutes=5),
        step_seconds=300, horizon_steps=13, model_version="t", confidence=0.9,
        desired_capacity=5, in_service_capacity=5, recent_load=level,
    )  # fmt: skip
    return world.components.decider.decide_batch(ForecastReady(round_id="r-1", forecasts=[summary]))


def test_utilization_metric_is_the_fleets_average_cpu():
    asg = utilization_metric(learn_target())
    assert (asg.namespace, asg.name, asg.statistic, asg.dimensions) == (
        "AWS/EC2", "CPUUtilization", "Average", {"AutoScalingGroupName": "web-asg"},
    )  # fmt: skip
    ecs = utilization_metric(target("api", kind="ecs", capacity_per_instance="learn"))
    assert (ecs.namespace, ecs.dimensions) == ("AWS/ECS", {"ClusterName": "c", "ServiceName": "api"})
    assert asg.period_seconds == ecs.period_seconds == 300


MEMORY = LoadMetric(
    namespace="CWAgent",
    name="mem_used_percent",
    dimensions={"AutoScalingGroupName": "web-asg"},
    statistic="Average",
    period_seconds=300,
)


def test_a_target_bound_by_another_resource_names_its_own_utilisation_metric(memory, clock):
    # GIVEN a learn target that is memory-bound: CPU says 20 %, memory 70 %
    web = target("web", capacity_per_instance="learn", utilization_metric=MEMORY)
    assert utilization_metric(web) == MEMORY
    world = memory([web])
    world.capacity.add_asg("web-asg", desired=5, min_capacity=1, max_capacity=60)
    at = NOON - timedelta(minutes=5)
    for namespace, name, dimensions, value in (
        ("T/Load", "Requests", {"Target": "web"}, 300.0),
        ("AWS/EC2", "CPUUtilization", {"AutoScalingGroupName": "web-asg"}, 20.0),
        ("CWAgent", "mem_used_percent", {"AutoScalingGroupName": "web-asg"}, 70.0),
    ):
        world.cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[{"MetricName": name, "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                         "Timestamp": at, "Value": value}],
        )  # fmt: skip
    # WHEN a collector round runs
    clock.current = NOON + timedelta(seconds=5)
    world.components.collector.collect(CollectRequest())
    # THEN the busy series is memory x in-service (0.70 x 5), not CPU's 0.20 x 5
    busy = world.archive.read_history(busy_series_id("web"), NOON - timedelta(hours=1), NOON)
    assert busy["y"].tolist() == pytest.approx([3.5])


def test_the_collector_stores_utilisation_times_in_service_for_a_learn_target(memory, clock):
    # GIVEN a learn target whose group has 4 instances in service at 55 % CPU
    world = memory([learn_target(), target("api")])
    world.capacity.add_asg("web-asg", desired=4, min_capacity=1, max_capacity=60)
    world.capacity.add_asg("api-asg", desired=3, min_capacity=1, max_capacity=60)
    at = NOON - timedelta(minutes=5)
    for t in (learn_target(), target("api")):
        world.cloudwatch.put_metric_data(
            Namespace=t.metric.namespace,
            MetricData=[{"MetricName": "Requests", "Dimensions": [{"Name": "Target", "Value": t.target_id}],
                         "Timestamp": at, "Value": 264.0}],
        )  # fmt: skip
    world.cloudwatch.put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[{"MetricName": "CPUUtilization", "Dimensions": [{"Name": "AutoScalingGroupName", "Value": "web-asg"}],
                     "Timestamp": at, "Value": 55.0}],
    )  # fmt: skip
    # WHEN a collector round runs
    clock.current = NOON + timedelta(seconds=5)
    world.components.collector.collect(CollectRequest())
    # THEN beside its load the learn target has busy = 0.55 x 4 at the same step; the other target has none
    busy = world.archive.read_history(busy_series_id("web"), NOON - timedelta(hours=1), NOON)
    assert busy["y"].tolist() == pytest.approx([2.2]) and busy["ds"].tolist() == [pd.Timestamp(at.replace(tzinfo=None))]
    assert world.archive.read_history("web", NOON - timedelta(hours=1), NOON)["y"].tolist() == [264.0]
    assert world.archive.read_history(busy_series_id("api"), NOON - timedelta(hours=1), NOON).empty


def test_a_learn_target_is_skipped_until_the_trainer_has_learned_then_decided(memory, clock):
    # GIVEN a learn target with a day of load and busy history
    world = memory([learn_target()])
    world.rewire(forecast_config=NAIVE_ONLY)
    # WHEN the decider runs before the trainer: skipped, saying what is missing
    (skipped,) = forecast_round(world, clock, 900.0)
    assert skipped.action == "skipped"
    assert skipped.reason == f"capacity_per_instance 'learn': not learned yet (needs {MIN_SAMPLES} samples, has 0)"
    seed_load_and_busy(world, points=288)
    # WHEN the trainer runs
    clock.current = NOON
    result = world.components.trainer.train(TrainRequest())
    # THEN it learned the capacity per instance, robustly (within 3 % of the truth despite the incident)
    learned = world.store.get_learned_capacity("web")
    assert learned is not None and learned.capacity_per_instance == pytest.approx(TRUE_CAPACITY, rel=0.03)
    # AND the call's result reports what it stored (the handler answers with it)
    assert result.learned == {"web": learned}
    assert result.summary()["capacity_learned"] == {"web": learned.capacity_per_instance}
    assert learned.samples == 288 and learned.r2 > 0.8 and learned.outliers >= 1
    # AND the decider sizes with it: 900 at 0.9 SLO utilisation of ~120 each is 9 instances
    (decided,) = forecast_round(world, clock, 900.0)
    assert decided.action == "scale_out" and decided.desired == 9, decided.reason


def test_too_little_history_is_stored_with_its_count_and_never_discards_a_learned_value(memory, clock):
    # GIVEN 12 usable points only
    world = memory([learn_target()])
    world.rewire(forecast_config=NAIVE_ONLY)
    seed_load_and_busy(world, points=12)
    clock.current = NOON
    # WHEN the trainer runs THEN it stores why it could not learn, and the decider says so
    first = world.components.trainer.train(TrainRequest())
    waiting = world.store.get_learned_capacity("web")
    assert waiting is not None and waiting.capacity_per_instance is None and waiting.samples == 12
    assert first.summary()["capacity_learned"] == {"web": waiting.reason}
    (skipped,) = forecast_round(world, clock, 900.0)
    assert skipped.reason.startswith(
        f"capacity_per_instance 'learn': not learned yet (needs {MIN_SAMPLES} samples, has 12)"
    )
    # GIVEN a value learned earlier WHEN a later attempt fails THEN the value stays
    stored = world.store.put_learned_capacity(
        LearnedCapacity("web", 110.0, 500, 0.95, 2, NOON, version=waiting.version)
    )
    second = world.components.trainer.train(TrainRequest())
    assert world.store.get_learned_capacity("web") == stored
    assert second.learned == {"web": stored} and first.learned == {"web": waiting}  # each call its own result
    (decided,) = forecast_round(world, clock, 900.0)
    assert decided.desired == 10  # 900 / (110 x 0.9) = 9.09
