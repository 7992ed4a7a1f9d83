"""The pipeline in memory mode: same handlers and patterns, twins instead of an endpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest
from service_support import NOON, flat_history, put_load, target

from events.base import to_envelope
from events.contracts import ALL_CONTRACTS, ForecastReady, MetricsCollected, ScalingDecided, ScalingExecuted
from events.schema_gen import load_sample
from forescale_tools.local_router import pattern_matches, subscriptions
from functions.ports.records import KillSwitch
from functions.routing import ROUTES
from tests.support.decisions import record


def test_each_contract_reaches_exactly_the_function_the_routing_table_names():
    routed = {route.contract: route.function for route in ROUTES}
    for contract in ALL_CONTRACTS:
        envelope = load_sample(contract)
        receivers = [fn for fn, pattern, _ in subscriptions() if pattern_matches(pattern, envelope)]
        assert receivers == ([routed[contract]] if contract in routed else []), contract.__name__


def test_one_round_in_memory_scales_a_group_for_its_load(memory, clock):
    web = target()
    world = memory([web])
    world.capacity.add_asg("web-asg", desired=2, min_capacity=1, max_capacity=60)
    flat_history(world, "web", 900.0)
    put_load(world, web, NOON - timedelta(minutes=5), 900.0)
    clock.current = NOON + timedelta(seconds=10)
    # WHEN the collector runs as the schedule invokes it
    deliveries = [world.router.invoke("collector", {}), *world.router.pump()]
    # THEN the chain ran through the in-memory bus and the group was scaled for 900 at 90 per instance
    assert [d.function for d in deliveries] == ["collector", "forecaster", "decider", "executor"]
    assert all(d.error is None for d in deliveries)
    assert world.capacity.describe(web).desired == 10
    kinds = [type(e) for e in world.bus.published(MetricsCollected)] + [
        type(e) for e in world.bus.published(ScalingExecuted)
    ]
    assert kinds == [MetricsCollected, ScalingExecuted]
    assert len(world.bus.published(ForecastReady)) == 1 and len(world.bus.published(ScalingDecided)) == 1


def test_kill_switch_stops_every_action_within_one_round(memory, clock):
    web = target()
    world = memory([web])
    world.capacity.add_asg("web-asg", desired=2, min_capacity=1, max_capacity=60)
    flat_history(world, "web", 900.0)
    put_load(world, web, NOON - timedelta(minutes=5), 900.0)
    world.store.set_kill_switch(KillSwitch(None, True, "incident 42", "oncall", NOON))
    clock.current = NOON + timedelta(seconds=10)
    world.router.invoke("collector", {})
    deliveries = world.router.pump()
    assert world.capacity.describe(web).desired == 2
    (decided,) = world.store.decisions("web", NOON - timedelta(hours=1), NOON + timedelta(hours=1))
    assert decided.action == "hold" and "kill switch on" in decided.reason
    assert [d.function for d in deliveries] == ["forecaster", "decider"]


def test_the_executor_refuses_when_the_switch_is_engaged_after_the_decision(memory):
    web = target()
    world = memory([web])
    world.capacity.add_asg("web-asg", desired=2, min_capacity=1, max_capacity=60)
    world.store.set_kill_switch(KillSwitch("web", True, "maintenance", "oncall", NOON))
    decision = ScalingDecided(
        decision_id="d-1",
        target_id="web",
        kind="asg",
        mode="direct",
        decided_at=NOON,
        valid_until=NOON + timedelta(minutes=7),
        sequence=1,
        previous_desired=2,
        desired_capacity=9,
        min_capacity=1,
        max_capacity=60,
        action="scale_out",
        confidence=0.9,
        reason="test",
    )
    record(world.store, decision)
    delivery = world.router.invoke("executor", to_envelope(decision, event_id="e-1", time=NOON))
    assert delivery.result["status"] == "skipped" and "kill switch on (maintenance" in delivery.result["reason"]
    assert world.capacity.describe(web).desired == 2


@pytest.mark.parametrize("bursts", [200])
def test_a_burst_of_collected_events_is_each_handled_once(memory, clock, bursts):
    """Memory mode carries bursts: every MetricsCollected delivered is handled (issue 8 builds on this)."""
    targets = [target(f"t{i:03d}") for i in range(20)]
    world = memory(targets)
    clock.current = NOON + timedelta(seconds=10)
    for i in range(bursts):
        event = MetricsCollected(
            round_id=f"round-{i}",
            collected_at=clock.current,
            step_seconds=300,
            targets=[
                {"target_id": f"t{i % 20:03d}", "last_timestamp": None, "points_written": 0, "metric_missing": True}
            ],
        )
        world.bus.put_events(
            Entries=[{"Source": event.SOURCE, "DetailType": event.DETAIL_TYPE, "Detail": event.model_dump_json()}]
        )
    deliveries = world.router.pump()
    forecasters = [d for d in deliveries if d.function == "forecaster"]
    assert len(forecasters) == bursts and not world.router.dead_letters


def test_a_spike_that_becomes_judgeable_is_published_once_as_an_anomaly(memory, clock):
    import numpy as np
    import pandas as pd

    from events.contracts import AnomalyDetected

    web = target()
    world = memory([web])
    world.capacity.add_asg("web-asg", desired=2, min_capacity=1, max_capacity=60)
    ds = pd.date_range(
        (NOON - timedelta(days=2)).replace(tzinfo=None), NOON.replace(tzinfo=None), freq="300s", inclusive="left"
    )
    y = 100 * (1 + 0.05 * np.random.default_rng(3).standard_normal(len(ds)))
    spike_at = NOON - timedelta(minutes=40)  # the detector judges a point 35 minutes after it
    y[ds.get_loc(spike_at.replace(tzinfo=None))] = 2500.0
    world.archive.write_history("web", pd.DataFrame({"ds": ds, "y": y}), part_id="0-seed")
    for minutes in (0, 5):
        at = NOON + timedelta(minutes=minutes)
        put_load(world, web, at - timedelta(minutes=5), 100.0)
        clock.current = at + timedelta(seconds=10)
        world.router.invoke("collector", {})
        world.router.pump()
    (anomaly,) = world.bus.published(AnomalyDetected)
    assert anomaly.target_id == "web" and [p.ds for p in anomaly.points] == [spike_at]
    assert anomaly.points[0].value == 2500.0 and anomaly.points[0].score > 8
