"""Collector: shards beyond 500 targets, batches of ``batch_size``, history parts and compaction, metric gaps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from service_support import NOON, put_load, target

from events.contracts import MetricsCollected
from functions.services.collector import CollectRequest


def test_small_fleet_is_one_invocation_with_batches_of_batch_size(memory, clock):
    targets = [target(f"t{i:03d}") for i in range(120)]
    world = memory(targets)
    for t in targets:
        world.capacity.add_asg(t.asg_name or "", desired=2, min_capacity=1, max_capacity=60)
        put_load(world, t, NOON - timedelta(minutes=5), 100.0)
    clock.current = NOON + timedelta(seconds=10)
    # WHEN the scheduled invocation runs (batch size 50)
    delivery = world.router.invoke("collector", {})
    # THEN it handled every target itself and published 3 batches of at most 50
    assert delivery.result["targets"] == 120 and delivery.result["shards_started"] == 0
    events = world.bus.published(MetricsCollected)
    assert [len(e.targets) for e in events] == [50, 50, 20]
    assert {e.batch_count for e in events} == {3} and [e.batch_index for e in events] == [0, 1, 2]
    assert sorted(t.target_id for e in events for t in e.targets) == sorted(t.target_id for t in targets)
    assert all(t.desired_capacity == 2 and t.last_value == 100.0 for e in events for t in e.targets)


def test_large_fleet_fans_out_over_self_invocations_each_with_its_targets(memory, clock):
    targets = [target(f"t{i:04d}") for i in range(121)]
    world = memory(targets, shard_size=50, batch_size=20)
    for t in targets:
        world.capacity.add_asg(t.asg_name or "", desired=1, min_capacity=1, max_capacity=60)
    clock.current = NOON + timedelta(seconds=10)
    # WHEN the scheduled invocation runs (shards of 50 here; 500 deployed)
    first = world.router.invoke("collector", {})
    rest = world.router.pump()
    # THEN it kept the first 50 and started two asynchronous copies of itself with the others
    assert first.result["targets"] == 50 and first.result["shards_started"] == 2
    shards = [d for d in rest if d.function == "collector"]
    assert [d.result["targets"] for d in shards] == [50, 21]
    assert {d.event["round_id"] for d in shards} == {first.result["round_id"]}
    assert [d.event["shard_index"] for d in shards] == [1, 2] and {d.event["shard_count"] for d in shards} == {3}
    collected = [t.target_id for e in world.bus.published(MetricsCollected) for t in e.targets]
    assert sorted(collected) == sorted(t.target_id for t in targets)  # every target once, none twice
    assert all(len(e.targets) <= 20 for e in world.bus.published(MetricsCollected))


def test_a_target_without_new_points_is_reported_missing_and_nothing_is_invented(memory, clock):
    web, api = target("web"), target("api")
    world = memory([web, api])
    for t in (web, api):
        world.capacity.add_asg(t.asg_name or "", desired=3, min_capacity=1, max_capacity=60)
    put_load(world, web, NOON - timedelta(minutes=5), 120.0)
    clock.current = NOON + timedelta(seconds=10)
    result = world.components.collector.collect(CollectRequest())
    assert result.missing == ["api"] and result.points == 1
    collected = {c.target_id: c for c in result.collected}
    assert collected["api"].metric_missing and collected["api"].last_value is None
    assert collected["web"].last_value == 120.0 and collected["web"].last_timestamp == NOON - timedelta(minutes=5)
    history = world.archive.read_history("api", NOON - timedelta(days=1), NOON + timedelta(hours=1))
    assert history.empty


def test_incomplete_period_is_not_stored(memory, clock):
    web = target("web")
    world = memory([web])
    world.capacity.add_asg("web-asg", desired=3, min_capacity=1, max_capacity=60)
    put_load(world, web, NOON - timedelta(minutes=5), 100.0)
    put_load(world, web, NOON + timedelta(seconds=30), 7.0)  # the period 12:00-12:05 is still running
    clock.current = NOON + timedelta(minutes=2)
    result = world.components.collector.collect(CollectRequest())
    history = world.archive.read_history("web", NOON - timedelta(hours=1), NOON + timedelta(hours=1))
    assert list(history["y"]) == [100.0] and result.collected[0].last_value == 100.0


def test_history_is_compacted_on_decision_boundaries(memory, clock):
    web = target("web")
    world = memory([web])
    world.capacity.add_asg("web-asg", desired=3, min_capacity=1, max_capacity=60)
    for minute in range(0, 6):
        put_load(world, web, NOON + timedelta(minutes=minute * 5 - 5), 100.0 + minute)
    compactions = []
    for minute in range(1, 11):
        clock.current = NOON + timedelta(minutes=minute, seconds=5)
        compactions.append(world.components.collector.collect(CollectRequest()).compacted)
    # rounds at 12:05 and 12:10 are boundaries of the 300 s decision interval
    assert compactions == [0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    keys = list(world.objects.list_keys("history/"))
    assert sum("/compacted/" in k for k in keys) == 2


def test_a_round_stores_one_history_object_per_shard_not_per_target(memory, clock):
    # GIVEN 100 targets with load, on two collector invocations (shards of 50)
    targets = [target(f"t{i:03d}") for i in range(100)]
    world = memory(targets, shard_size=50)
    for t in targets:
        world.capacity.add_asg(t.asg_name or "", desired=2, min_capacity=1, max_capacity=60)
        put_load(world, t, NOON - timedelta(minutes=5), 100.0 + int(t.target_id[1:]))
    clock.current = NOON + timedelta(minutes=1, seconds=10)
    before = set(world.objects.list_keys("history/"))
    # WHEN one round runs
    world.router.invoke("collector", {})
    world.router.pump()
    # THEN it wrote at most one object per history shard and invocation (16 shards), not 100
    written = set(world.objects.list_keys("history/")) - before - {"history/layout.json"}
    assert 0 < len(written) <= 2 * 16 < len(targets)
    # AND every target reads back its own load
    for t in targets:
        back = world.archive.read_history(t.target_id, NOON - timedelta(hours=1), NOON + timedelta(hours=1))
        assert list(back["y"]) == [100.0 + int(t.target_id[1:])]


@pytest.mark.parametrize("bad", [{"shard_index": -1}, {"target_ids": "web"}, {"round_id": "has space"}])
def test_bad_collect_requests_are_refused_by_the_parser(memory, bad):
    memory([target()])
    delivery_error = None
    try:
        CollectRequest.model_validate(bad)
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        delivery_error = error
    assert delivery_error is not None


def test_a_load_above_max_load_is_skipped_like_a_gap_and_the_round_goes_on(memory, clock):
    # GIVEN two targets, one of which reports 1e17 (beyond MAX_LOAD: a unit mistake, not a load)
    web, api = target("web"), target("api")
    world = memory([web, api])
    for t in (web, api):
        world.capacity.add_asg(t.asg_name or "", desired=3, min_capacity=1, max_capacity=60)
    put_load(world, web, NOON - timedelta(minutes=5), 1e17)
    put_load(world, api, NOON - timedelta(minutes=5), 120.0)
    clock.current = NOON + timedelta(seconds=10)
    # WHEN the collector runs
    result = world.components.collector.collect(CollectRequest())
    # THEN the absurd point is neither stored nor published; the other target is collected as usual
    collected = {c.target_id: c for c in result.collected}
    assert collected["web"].metric_missing and collected["web"].last_value is None
    assert collected["api"].last_value == 120.0
    assert world.archive.read_history("web", NOON - timedelta(days=1), NOON + timedelta(hours=1)).empty
