"""Collector and forecaster under injected faults: every round and batch ends as a success record or a dead letter."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from events.contracts import CollectedTarget, MetricsCollected
from functions.adapters.archive_keys import history_shard
from functions.ports.records import ModelVersion
from functions.services.model_registry import ARTIFACT_KEY, FALLBACK_VERSION
from tests.support.world import NOON, STEP, World, report

pytestmark = pytest.mark.integration


def about_target(target_id: str):
    """A proxy rule condition: an S3 request for one target's objects (history, models, audit)."""
    return lambda request: f"={target_id}/" in unquote(request.path) or f"/{target_id}/" in unquote(request.path)


def about_shard_of(target_id: str):
    """A proxy rule condition: an S3 request for the objects of a target's history shard."""
    return lambda request: f"history/shard={history_shard(target_id)}/" in unquote(request.path)


def test_collector_rounds_survive_throttling_5xx_resets_partial_puts_and_a_dead_round(world: World, figures):
    # GIVEN three groups with load points up to noon, and the rules that route MetricsCollected
    targets = world.add_asg_targets(3, desired=4)
    world.listen()
    for target in targets:
        for minutes in (10, 5):
            world.put_load(target, NOON - timedelta(minutes=minutes), 250.0)
    proxy, collector = world.proxy, world.function("collector")
    # round 1: CloudWatch throttles twice, S3 fails once, a capacity read is reset, PutEvents throttled and
    # then partially failed: botocore, the capacity adapter and the publisher absorb each
    proxy.inject("throttle", "monitoring", "GetMetricData", times=2)
    proxy.inject("server_error", "s3", "PutObject", times=1)
    proxy.inject("reset", "autoscaling", "DescribeAutoScalingGroups", times=1)
    proxy.inject("throttle", "events", "PutEvents", times=1)
    proxy.inject("partial_put_events", "events", "PutEvents", times=1, fail_entries=lambda index: True)
    world.clock.current = NOON + timedelta(seconds=10)
    collector.invoke({}, key="round-1")
    # round 2: CloudWatch throttles every attempt of every invocation: the round is dead-lettered
    proxy.inject("throttle", "monitoring", "GetMetricData", times=9)
    world.clock.current = NOON + timedelta(minutes=5, seconds=10)
    world.put_load(targets[0], NOON, 260.0)
    collector.invoke({}, key="round-2")
    collector.settle()
    # round 3: a point that arrived late (noon for t1) is picked up when the window is re-read
    world.put_load(targets[1], NOON, 270.0)
    world.clock.current = NOON + timedelta(minutes=10, seconds=10)
    collector.invoke({}, key="round-3")

    # THEN rounds 1 and 3 published their MetricsCollected, round 2 is in the dead-letter queue
    published = {e["detail"]["round_id"]: e["detail"] for e in world.delivered("MetricsCollected")}
    results = {i.key: i.result for i in collector.invocations}
    ledger = collector.ledger(lambda i: i.result["round_id"] in published)
    history = world.archive.read_history("t1", NOON - timedelta(hours=1), NOON + timedelta(minutes=5))
    round_1 = published.get(results["round-1"]["round_id"], {}) if results["round-1"] else {}
    checks = {
        "round 1 in one invocation": len(collector.invocations[0].attempts) == 1,
        "round 1 covers every target": len(round_1.get("targets", [])) == 3,
        "the reset capacity read is reported, not guessed": len(results["round-1"]["capacity_unknown"]) == 1
        and sum(t["desired_capacity"] is None for t in round_1["targets"]) == 1,
        "round 2 dead-lettered after 3 attempts": collector.invocations[1].state == "dead-lettered"
        and len(collector.invocations[1].attempts) == 3,
        "late point stored by round 3": 270.0 in set(history["y"]),
        "inside the Lambda timeout": collector.longest_attempt < collector.timeout_seconds,
        "botocore backoff has jitter": len(set(world.sleep.delays)) == len(world.sleep.delays) > 2,
    }
    report(figures, "collector", world, ledger, checks, extra={"late metric": ["round-3"]})


def upload_corrupt_artifact(world: World, target_id: str, version: str) -> None:
    """A registered champion whose artifact is not a model (valid manifest, garbage content)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "targets.pkl").write_bytes(b"\x80\x04 not a pickle at all")
        uri = world.archive.upload_model(target_id, version, Path(tmp), {"step_seconds": STEP})
    register_champion(world, target_id, version, uri)


def register_champion(world: World, target_id: str, version: str, uri: str) -> None:
    store = world.store
    created = NOON - timedelta(days=1)
    store.register_model(ModelVersion(target_id, version, created, uri, {"mase": 0.5}, {ARTIFACT_KEY: target_id}))
    store.promote(target_id, version, expected_current=None, at=created)


def collected(targets: list[Any], round_id: str) -> MetricsCollected:
    return MetricsCollected(
        round_id=round_id,
        collected_at=NOON + timedelta(seconds=10),
        step_seconds=STEP,
        targets=[
            CollectedTarget(
                target_id=t.target_id,
                last_timestamp=NOON - timedelta(seconds=STEP),
                last_value=250.0,
                points_written=1,
                desired_capacity=4,
                in_service_capacity=4,
            )
            for t in targets
        ],
    )


def test_forecaster_survives_faults_and_falls_back_on_missing_or_corrupt_models(world: World, figures):
    # GIVEN four targets with two days of history; t0's champion artifact is corrupt, t1's is missing
    targets = world.add_asg_targets(4, desired=4)
    for target in targets:
        world.seed_history(target.target_id, 250.0, until=NOON)
    upload_corrupt_artifact(world, "t0", "v-corrupt")
    register_champion(world, "t1", "v-missing", "s3://nowhere/models/t1/v-missing/")
    proxy, forecaster = world.proxy, world.function("forecaster")
    proxy.inject("throttle", "s3", "GetObject", times=2)
    proxy.inject("server_error", "dynamodb", "PutItem", times=1)
    proxy.inject("reset", "dynamodb", "GetItem", times=1)
    proxy.inject("throttle", "events", "PutEvents", times=1)
    # t3's history (its history shard, which holds no other target here) cannot be read at all: its batch
    # fails every attempt and is dead-lettered
    assert history_shard("t3") not in {history_shard(t.target_id) for t in targets[:3]}
    proxy.inject("server_error", "s3", "ListObjectsV2", times=1000, when=about_shard_of("t3"))
    # WHEN batch 1 (t0-t2) and batch 2 (t3) arrive
    forecaster.invoke(world.envelope(collected(targets[:3], "round-a")), key="batch-1")
    forecaster.invoke(world.envelope(collected(targets[3:], "round-a")), key="batch-2")
    forecaster.settle()

    # THEN batch 1 stored a forecast per target (t0 and t1 by the fallback model); batch 2 is a dead letter
    store = world.store

    def confirmed(invocation: Any) -> bool:
        forecasts = invocation.result["forecasts"]
        return bool(forecasts) and all(
            (latest := store.latest_forecast(f["target_id"])) is not None and latest.forecast_id == f["forecast_id"]
            for f in forecasts
        )

    ledger = forecaster.ledger(confirmed)
    batch_1 = {f["target_id"]: f for f in forecaster.invocations[0].result["forecasts"]}
    checks = {
        "batch 1 in one invocation": len(forecaster.invocations[0].attempts) == 1,
        "every target of batch 1 forecast": sorted(batch_1) == ["t0", "t1", "t2"]
        and all(f["no_forecast_reason"] is None for f in batch_1.values()),
        "corrupt and missing champions fall back": batch_1["t0"]["model"].startswith(FALLBACK_VERSION)
        and batch_1["t1"]["model"].startswith(FALLBACK_VERSION),
        "batch 2 dead-lettered": forecaster.invocations[1].state == "dead-lettered",
        "inside the Lambda timeout": forecaster.longest_attempt < forecaster.timeout_seconds,
    }
    # the corrupt (t0) and the missing (t1) champion: two injections, both in batch 1
    extra = {"missing or corrupt model artifact": ["batch-1", "batch-1"]}
    report(figures, "forecaster", world, ledger, checks, extra=extra)
