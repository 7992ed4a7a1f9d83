"""Decider and executor rules: sequences, stale data, floors, races, verification and rollback."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from service_support import NOON, target

from events.contracts import BusinessEvent, ForecastReady, ForecastSummary, ScalingDecided, ScalingFailed
from functions.adapters.capacity import CapacityError
from functions.adapters.errors import ConflictError
from functions.ports.records import StoredForecast
from models.api import ForecastPath
from tests.support.decisions import record


def store_forecast(world, target_id: str, level: float, *, issued_at=NOON, forecast_id: str = "f-1") -> ForecastSummary:
    ds = pd.date_range(issued_at.replace(tzinfo=None), periods=13, freq="300s")
    path = ForecastPath(
        unique_id=target_id,
        issued_at=issued_at,
        ds=ds,
        p50=np.full(13, level),
        p90=np.full(13, level * 1.05),
        p99=np.full(13, level * 1.1),
        confidence=0.9,
        model="test",
    )
    world.store.put_forecast(StoredForecast.from_path(path, forecast_id=forecast_id, model_version="test"))
    return ForecastSummary(
        target_id=target_id,
        forecast_id=forecast_id,
        issued_at=issued_at,
        history_end=issued_at - timedelta(minutes=5),
        step_seconds=300,
        horizon_steps=13,
        model_version="test",
        confidence=0.9,
        desired_capacity=5,
        in_service_capacity=5,
        recent_load=level,
    )


def decided(world, summary: ForecastSummary) -> list:
    world.components.decider.decide_batch(ForecastReady(round_id="r-1", forecasts=[summary]))
    return world.store.decisions(summary.target_id, NOON - timedelta(hours=1), NOON + timedelta(hours=1))


def test_sequence_numbers_increase_per_target(memory, clock):
    world = memory([target("web"), target("api")])
    for i in range(3):
        clock.current = NOON + timedelta(minutes=5 * i, seconds=5)
        for tid in ("web", "api"):
            summary = store_forecast(world, tid, 900.0, issued_at=NOON + timedelta(minutes=5 * i), forecast_id=f"f-{i}")
            world.components.decider.decide_batch(ForecastReady(round_id=f"r-{i}", forecasts=[summary]))
    for tid in ("web", "api"):
        found = world.store.decisions(tid, NOON, NOON + timedelta(hours=1))
        assert [d.sequence for d in found] == [1, 2, 3]
        assert world.store.get_target_state(tid).sequence == 3


def test_stale_history_holds_even_when_the_forecast_would_scale_in(memory, clock):
    world = memory([target("web")])
    clock.current = NOON + timedelta(seconds=5)
    summary = store_forecast(world, "web", 100.0)  # needs 2, the group has 5
    old = summary.model_copy(update={"history_end": NOON - timedelta(minutes=30)})
    (decision,) = decided(world, old)
    assert decision.action == "hold" and decision.desired_capacity == 5
    assert "no new load this round" in decision.reason


def test_fresh_data_scales_in(memory, clock):
    world = memory([target("web")])
    clock.current = NOON + timedelta(seconds=5)
    (decision,) = decided(world, store_forecast(world, "web", 100.0))
    assert decision.action == "scale_in" and decision.desired_capacity < 5


def test_without_a_stored_forecast_the_reactive_rule_never_scales_in(memory, clock):
    world = memory([target("web")])
    clock.current = NOON + timedelta(seconds=5)
    summary = store_forecast(world, "web", 100.0).model_copy(update={"forecast_id": "gone"})
    world.store.items.put(world.store.names.state, {"pk": "TARGET#web", "sk": "FORECAST#LATEST", "target_id": "web",
        "forecast_id": "f-x", "issued_at": "2026-03-10T12:00:00.000000Z", "model_version": "m", "confidence": 0.5,
        "p50": b"\x00\x01\x02"})  # fmt: skip
    (decision,) = decided(world, summary)
    assert decision.action == "hold" and decision.desired_capacity == 5
    assert "unreadable" in decision.reason and "never scales in" in decision.reason


def test_without_a_forecast_the_reactive_rule_still_scales_out(memory, clock):
    world = memory([target("web")])
    clock.current = NOON + timedelta(seconds=5)
    summary = store_forecast(world, "web", 100.0).model_copy(
        update={"no_forecast_reason": "history: 0.20 days", "recent_load": 1200.0}
    )
    (decision,) = decided(world, summary)
    assert decision.action == "scale_out" and decision.reactive and decision.desired_capacity == 20


def test_business_event_with_expected_load_sets_a_capacity_floor(memory, clock):
    world = memory([target("web")])
    clock.current = NOON + timedelta(seconds=5)
    event = BusinessEvent(
        name="launch",
        event_type="launch",
        targets=["web"],
        start=NOON + timedelta(minutes=5),
        end=NOON + timedelta(hours=1),
        expected_load=2700.0,
    )
    world.store.put_business_event("ev-1", event, ["web"], received_at=NOON)
    (decision,) = decided(world, store_forecast(world, "web", 100.0))
    assert decision.desired_capacity == 30 and "business floor 'launch' 30" in decision.reason


def test_floor_mode_decides_from_the_floor_it_set_not_the_groups_desired(memory, clock):
    world = memory([target("web", mode="floor")])
    state = world.store.put_target_state(replace(world.store.get_target_state("web"), last_desired=8))
    assert state.last_desired == 8
    clock.current = NOON + timedelta(seconds=5)
    summary = store_forecast(world, "web", 900.0).model_copy(update={"desired_capacity": 25})
    (decision,) = decided(world, summary)
    assert decision.previous_desired == 8 and decision.action == "scale_out" and decision.desired_capacity >= 10


def test_a_racing_writer_makes_the_decider_retry_with_the_newer_state(memory, clock, monkeypatch):
    world = memory([target("web")])
    clock.current = NOON + timedelta(seconds=5)
    summary = store_forecast(world, "web", 900.0)
    real_put = world.store.put_target_state
    raced = []

    def racing_put(state):
        if not raced:  # another decider stores sequence 1 first
            raced.append(1)
            real_put(replace(world.store.get_target_state("web"), sequence=1))
        return real_put(state)

    monkeypatch.setattr(world.store, "put_target_state", racing_put)
    (decision,) = decided(world, summary)
    assert raced and decision.sequence == 2


def test_persistent_conflicts_fail_loudly(memory, clock, monkeypatch):
    world = memory([target("web")])
    clock.current = NOON + timedelta(seconds=5)
    summary = store_forecast(world, "web", 900.0)

    def always_conflict(state):
        raise ConflictError("target state", "web")

    monkeypatch.setattr(world.store, "put_target_state", always_conflict)
    with pytest.raises(ConflictError, match="still changing"):
        world.components.decider.decide_batch(ForecastReady(round_id="r", forecasts=[summary]))


# --------------------------------------------------------------------------- executor


def decision(desired: int, *, previous: int = 2, sequence: int = 1, mode: str = "direct") -> ScalingDecided:
    return ScalingDecided(
        decision_id=f"d-{sequence}",
        target_id="web",
        kind="asg",
        mode=mode,  # type: ignore[arg-type]
        decided_at=NOON,
        valid_until=NOON + timedelta(minutes=7),
        sequence=sequence,
        previous_desired=previous,
        desired_capacity=desired,
        min_capacity=1,
        max_capacity=60,
        action="scale_out" if desired > previous else "scale_in",
        confidence=0.9,
        reason="test",
    )


def recorded(world, decision: ScalingDecided) -> ScalingDecided:
    """``decision`` recorded as the decider records it (the executor acts only on those)."""
    record(world.store, decision)
    return decision


def test_a_change_that_does_not_take_is_rolled_back(memory, monkeypatch):
    world = memory([target("web")])
    world.capacity.add_asg("web-asg", desired=2, min_capacity=1, max_capacity=60)
    # GIVEN a group that accepts the call but does not change (another actor resets it)
    monkeypatch.setattr(world.capacity, "set_desired", lambda target, desired: None)
    outcome = world.components.executor.run(recorded(world, decision(7)))
    assert outcome.status == "failed" and outcome.rolled_back is True
    (failed,) = world.store.actions("web", NOON - timedelta(days=1), NOON + timedelta(days=1))
    assert isinstance(failed, ScalingFailed) and failed.error_code == "NotVerified"
    assert world.capacity.describe(target("web")).desired == 2


def test_a_permanent_error_is_not_retried(memory):
    world = memory([target("web")])
    world.capacity.add_asg("web-asg", desired=2, min_capacity=1, max_capacity=60)
    world.capacity.fail_next(1, code="ValidationError")
    outcome = world.components.executor.run(recorded(world, decision(7)))
    # describe failed permanently: nothing was changed, nothing to roll back
    assert outcome.status == "failed" and outcome.attempts == 1 and outcome.rolled_back is False
    assert world.capacity.describe(target("web")).desired == 2


def test_floor_mode_raises_the_minimum_and_moves_desired_up(memory):
    world = memory([target("web", mode="floor")])
    world.capacity.add_asg("web-asg", desired=3, min_capacity=1, max_capacity=60)
    outcome = world.components.executor.run(recorded(world, decision(9, previous=3, mode="floor")))
    snapshot = world.capacity.describe(target("web"))
    assert outcome.status == "executed" and (snapshot.min_capacity, snapshot.desired) == (9, 9)
    assert world.store.get_target_state("web").last_desired == 9


@pytest.mark.parametrize("decision_id", ["d:1", ":" * 128, "d-" + ":" * 100])
def test_any_valid_decision_id_is_executed_and_kept_in_the_audit_trail(memory, decision_id):
    # GIVEN a recorded decision whose id has colons (allowed in an id, not in an audit object's name)
    world = memory([target("web")])
    world.capacity.add_asg("web-asg", desired=2, min_capacity=1, max_capacity=60)
    decided = recorded(world, decision(7).model_copy(update={"decision_id": decision_id}))
    # WHEN it is executed THEN the action is in the audit trail under its id
    assert world.components.executor.run(decided).status == "executed"
    audit = world.archive.read_audit("web", NOON - timedelta(days=1), NOON + timedelta(days=1))
    assert list(audit.loc[audit["record"] == "action", "decision_id"]) == [decision_id]


def test_unknown_target_and_forecast_only_are_skipped(memory):
    world = memory([target("web", mode="forecast_only")])
    world.capacity.add_asg("web-asg", desired=3, min_capacity=1, max_capacity=60)
    assert world.components.executor.run(decision(9)).status == "skipped"
    ghost = decision(9).model_copy(update={"target_id": "ghost"})
    assert world.components.executor.run(ghost).reason == "not a configured or discovered target"
    assert world.capacity.calls == []


def test_capacity_error_classification():
    assert CapacityError("Throttling", "x").retryable and not CapacityError("ValidationError", "x").retryable


@pytest.mark.parametrize("mode", ["floor", "direct"])
def test_a_resource_without_the_consent_tag_is_never_changed(memory, mode):
    # GIVEN a target configured to act, whose group does not carry forescale:enabled=true (IAM would refuse
    # the change; the executor refuses it itself first)
    world = memory([target("web", mode=mode)])
    world.capacity.add_asg("web-asg", desired=3, min_capacity=2, max_capacity=60, tags={"team": "shop"})
    # WHEN a scale-out and then a scale-in below the minimum are decided and delivered
    out = world.components.executor.run(recorded(world, decision(9, previous=3, mode=mode)))
    down = world.components.executor.run(recorded(world, decision(1, previous=3, mode=mode, sequence=2)))
    # THEN both fail naming the missing tag, only describe calls reached the group, and it is as it was
    assert [out.status, down.status] == ["failed", "failed"]
    assert "forescale:enabled=true" in out.reason
    assert {operation for operation, _, _ in world.capacity.calls} == {"describe"}
    snapshot = world.capacity.describe(target("web"))
    assert (snapshot.desired, snapshot.min_capacity, snapshot.consented) == (3, 2, False)
    failures = world.store.actions("web", NOON - timedelta(days=1), NOON + timedelta(days=1))
    assert [f.error_code for f in failures] == ["NoConsent", "NoConsent"]
