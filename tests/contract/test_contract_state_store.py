"""Contract of the DynamoDB state store: the twin, moto's server and DynamoDB Local behave alike."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest
from contract_support import T0

from events.contracts import BusinessEvent, ScalingDecided, ScalingExecuted, ScalingFailed
from forescale_tools.memory import InMemoryStateStore
from functions.adapters.dynamodb import DEFAULT_EVENT_RETENTION, DynamoStateStore, TableNames, create_tables, target_pk
from functions.adapters.errors import AlreadyExistsError, ConflictError, NotFoundError
from functions.ports.records import (
    EventEffect,
    KillSwitch,
    ModelVersion,
    RejectedBusinessEvent,
    StoredForecast,
    StoredTargetState,
)
from models.api import ForecastPath

pytestmark = pytest.mark.integration


@dataclass
class Backend:
    name: str
    store: DynamoStateStore
    client: Any = None


@pytest.fixture(params=["memory", "moto", "dynamodb-local"])
def backend(request: pytest.FixtureRequest, unique_name) -> Iterator[Backend]:
    if request.param == "memory":
        yield Backend("memory", InMemoryStateStore())
        return
    client = (
        request.getfixturevalue("moto_client")("dynamodb")
        if request.param == "moto"
        else request.getfixturevalue("dynamodb_local_client")
    )
    names = TableNames.with_prefix(unique_name("forescale"))
    create_tables(client, names)
    try:
        yield Backend(request.param, DynamoStateStore(client, names), client)
    finally:
        for _, table in names.specs():
            client.delete_table(TableName=table)


@pytest.fixture
def store(backend: Backend) -> DynamoStateStore:
    return backend.store


def decision(
    decision_id: str, at: datetime, *, target: str = "web", desired: int = 4, reason: str = "p90 rises"
) -> ScalingDecided:
    return ScalingDecided(
        decision_id=decision_id,
        target_id=target,
        kind="asg",
        mode="direct",
        decided_at=at,
        valid_until=at + timedelta(minutes=7),
        sequence=1,
        previous_desired=3,
        desired_capacity=desired,
        min_capacity=1,
        max_capacity=10,
        action="scale_out",
        confidence=0.8,
        reason=reason,
    )


def business_event(start: datetime, end: datetime, *, name: str = "black friday") -> BusinessEvent:
    return BusinessEvent(
        name=name, event_type="campaign", targets=["web"], start=start, end=end, expected_multiplier=2.5
    )


# --------------------------------------------------------------------------- target state


def test_target_state_starts_empty_and_round_trips(store):
    # GIVEN nothing stored
    fresh = store.get_target_state("web")
    assert fresh == StoredTargetState(target_id="web")
    # WHEN a state is stored
    state = replace(
        fresh,
        sequence=7,
        last_desired=5,
        last_safe_capacity=4,
        last_scale_out_at=T0,
        last_decision_id="d-000007",
        updated_at=T0 + timedelta(seconds=1, microseconds=250),
    )
    stored = store.put_target_state(state)
    # THEN it reads back exactly, with version 1
    assert stored.version == 1
    assert store.get_target_state("web") == replace(state, version=1)


def test_the_deciders_tracking_fields_round_trip(store):
    # GIVEN a state with the decider's target-tracking counters, its reactive mode and the forecast decided on
    state = StoredTargetState(
        "web",
        sequence=3,
        reactive_why="no_forecast",
        decided_forecast_id="f-000012",
        tracking_above=2,
        tracking_below=0,
        tracking_fed_at=T0 - timedelta(seconds=60),
        audit_round="round-7",  # and its newest decision's audit row, kept for a retry of the round
        audit_row=json.dumps({"decision_id": "d-3", "plan": [["2026-11-20T10:00:00+00:00", 4]] * 60}),
        round_events=json.dumps([["SloBreached", {"breach_id": "b-1"}]]),  # and the round's other events
    )
    # WHEN it is stored and read back
    store.put_target_state(state)
    # THEN every field reads back as written
    assert store.get_target_state("web") == replace(state, version=1)


def test_the_deciders_slo_rule_fields_round_trip_with_missing_periods(store):
    # GIVEN the decider's SLO breach rule: a period without data (NaN), two breaching ones, breached (and its
    # forecast error episode on)
    state = StoredTargetState(
        "web", slo_recent=(float("nan"), 0.95, 1.2), slo_breached=True, slo_fed_at=T0 - timedelta(seconds=60),
        forecast_degraded=True,
    )  # fmt: skip
    # WHEN it is stored and read back
    store.put_target_state(state)
    back = store.get_target_state("web")
    # THEN the missing period is still missing and the rest reads back as written
    assert np.isnan(back.slo_recent[0]) and back.slo_recent[1:] == (0.95, 1.2)
    assert replace(back, slo_recent=()) == replace(state, slo_recent=(), version=1)


def test_the_deciders_slo_budget_fields_round_trip_exactly(store):
    # GIVEN a state with the SLO budget controller's memory (functions/domain/slo_budget.py), integral and not
    state = StoredTargetState(
        "web",
        sequence=4,
        budget_level=0.123456789012345,
        budget_minutes=10080.0,
        budget_under_minutes=7.25,
        budget_under_run_minutes=15.0,
        budget_observed_at=T0 - timedelta(seconds=60, microseconds=1),
        budget_reference_pct=0.3466666666666667,
        budget_reference_at=T0 - timedelta(hours=12),
        alarm_governs=True,
    )
    # WHEN it is stored and read back
    store.put_target_state(state)
    back = store.get_target_state("web")
    # THEN every field reads back as written, the numbers as floats
    assert back == replace(state, version=1)
    assert isinstance(back.budget_minutes, float) and isinstance(back.budget_level, float)


@pytest.mark.parametrize(
    "name",
    ["budget_level", "budget_minutes", "budget_under_minutes", "budget_under_run_minutes", "budget_reference_pct"],
)
def test_a_non_finite_budget_number_is_refused_by_name(store, name):
    # GIVEN a budget number that is not finite (a bug upstream)
    state = replace(StoredTargetState("web"), **{name: float("nan")})
    # WHEN it is stored THEN the store refuses it, naming the field, and nothing is written
    with pytest.raises(ValueError, match=f"{name}: must be a finite number"):
        store.put_target_state(state)
    assert store.get_target_state("web").version == 0


def test_target_state_conflict_when_another_writer_won(store):
    # GIVEN two writers that read the same version
    base = store.put_target_state(StoredTargetState("web", sequence=1))
    first, second = store.get_target_state("web"), store.get_target_state("web")
    assert first.version == second.version == base.version
    # WHEN both write
    store.put_target_state(replace(first, sequence=2, last_desired=6))
    with pytest.raises(ConflictError, match="target state"):
        store.put_target_state(replace(second, sequence=2, last_desired=2))
    # THEN the first write stands
    assert store.get_target_state("web").last_desired == 6
    assert store.get_target_state("web").version == base.version + 1


def test_target_state_two_first_writers_conflict(store):
    store.put_target_state(StoredTargetState("api", sequence=1))
    with pytest.raises(ConflictError):
        store.put_target_state(StoredTargetState("api", sequence=9))
    assert store.get_target_state("api").sequence == 1


def test_naive_datetimes_are_refused(store):
    with pytest.raises(ValueError, match="last_scale_out_at: needs a timezone-aware datetime"):
        store.put_target_state(StoredTargetState("web", last_scale_out_at=datetime(2026, 1, 1)))


# --------------------------------------------------------------------------- forecasts


def forecast(issued_at: datetime, *, forecast_id: str = "f-1", steps: int = 288) -> StoredForecast:
    rng = np.random.default_rng(7)
    p50 = rng.uniform(0, 1000, steps)
    return StoredForecast(
        target_id="web",
        forecast_id=forecast_id,
        issued_at=issued_at,
        model_version="m-3",
        confidence=0.73,
        ds=tuple(issued_at + timedelta(minutes=5 * (i + 1)) for i in range(steps)),
        p50=tuple(float(v) for v in p50),
        p90=tuple(float(v) * 1.1 + 1e-9 for v in p50),
        p99=tuple(float(v) * 1.3 + 0.1 for v in p50),
        history_end=issued_at - timedelta(minutes=1),
    )


def test_forecast_round_trips_exactly(store):
    original = forecast(T0)
    assert store.put_forecast(original) is True
    assert store.latest_forecast("web") == original
    assert store.latest_forecast("other") is None


def test_older_forecast_never_replaces_newer(store):
    newer = forecast(T0 + timedelta(minutes=5), forecast_id="f-2")
    store.put_forecast(newer)
    # WHEN a late, older forecast arrives
    stored = store.put_forecast(forecast(T0, forecast_id="f-1"))
    # THEN it is not stored
    assert stored is False
    assert store.latest_forecast("web").forecast_id == "f-2"
    # AND a newer one replaces it
    assert store.put_forecast(forecast(T0 + timedelta(minutes=10), forecast_id="f-3")) is True
    assert store.latest_forecast("web").forecast_id == "f-3"


def test_no_forecast_record_round_trips(store):
    empty = StoredForecast("web", "f-9", T0, "none", 0.0, no_forecast_reason="only 3 hours of history")
    store.put_forecast(empty)
    assert store.latest_forecast("web") == empty


def test_forecast_path_conversion_round_trips(store):
    ds = pd.date_range("2026-11-20 10:05", periods=12, freq="5min")
    path = ForecastPath(
        unique_id="web",
        issued_at=T0,
        ds=ds,
        p50=np.linspace(1, 12, 12),
        p90=np.linspace(2, 13, 12),
        p99=np.linspace(3, 14, 12),
        confidence=0.5,
        model="ensemble",
    )
    store.put_forecast(StoredForecast.from_path(path, forecast_id="f-1", model_version="m-1"))
    back = store.latest_forecast("web").to_path()
    assert back.ds.equals(ds)
    np.testing.assert_array_equal(back.p90, path.p90)
    assert back.confidence == 0.5


# --------------------------------------------------------------------------- decisions and actions


def test_decisions_are_queried_by_target_and_half_open_time_range(store):
    for minute in (0, 5, 10, 15):
        store.record_decision(decision(f"d-{minute:02d}", T0 + timedelta(minutes=minute)))
    store.record_decision(decision("d-other", T0 + timedelta(minutes=5), target="api"))
    got = store.decisions("web", T0 + timedelta(minutes=5), T0 + timedelta(minutes=15))
    assert [d.decision_id for d in got] == ["d-05", "d-10"]
    assert got[0] == decision("d-05", T0 + timedelta(minutes=5))
    assert [d.decision_id for d in store.decisions("api", T0, T0 + timedelta(hours=1))] == ["d-other"]


def test_decisions_are_immutable(store):
    original = decision("d-1", T0)
    store.record_decision(original)
    # a retried write of the same decision is harmless
    store.record_decision(original)
    # a different decision under the same key is refused
    with pytest.raises(AlreadyExistsError, match="decision"):
        store.record_decision(decision("d-1", T0, desired=9))
    assert store.decisions("web", T0, T0 + timedelta(seconds=1)) == [original]


def test_a_recorded_decision_is_found_by_its_key_and_nothing_else_is(store):
    # GIVEN two recorded decisions of web and one of api
    original = decision("d-1", T0)
    store.record_decision(original)
    store.record_decision(decision("d-2", T0 + timedelta(minutes=5)))
    store.record_decision(decision("d-1", T0, target="api"))
    # WHEN looked up by target, time and id THEN the very decision comes back, the time in any zone
    assert store.recorded_decision("web", T0, "d-1") == original
    assert store.recorded_decision("web", T0.astimezone(timezone(timedelta(hours=2))), "d-1") == original
    # ... and a key that was never recorded (another id, time or target) finds nothing
    assert store.recorded_decision("web", T0, "d-3") is None
    assert store.recorded_decision("web", T0 + timedelta(microseconds=1), "d-1") is None
    assert store.recorded_decision("other", T0, "d-1") is None


def test_actions_round_trip_and_are_immutable(store):
    done = ScalingExecuted(
        decision_id="d-1",
        target_id="web",
        executed_at=T0,
        previous_capacity=3,
        new_capacity=4,
        attempts=1,
        verified=True,
    )
    failed = ScalingFailed(
        decision_id="d-2",
        target_id="web",
        failed_at=T0 + timedelta(minutes=5),
        error_code="Throttling",
        error_message="Rate exceeded",
        attempts=3,
        rolled_back=True,
        restored_capacity=4,
    )
    store.record_action(done)
    store.record_action(failed)
    assert store.actions("web", T0, T0 + timedelta(hours=1)) == [done, failed]
    with pytest.raises(AlreadyExistsError):
        store.record_action(replace_model(done, new_capacity=5))


def replace_model(model, **changes):
    return type(model).model_validate({**model.model_dump(), **changes})


# --------------------------------------------------------------------------- business events


def test_business_event_ttl_is_end_plus_retention(backend: Backend):
    store = backend.store
    event = business_event(T0, T0 + timedelta(hours=2))
    stored = store.put_business_event("ev-1", event, ["web", "api"], received_at=T0 - timedelta(days=1))
    assert [s.target_id for s in stored] == ["web", "api"]
    expected = event.end + DEFAULT_EVENT_RETENTION
    assert all(s.expires_at == expected for s in stored)
    # THEN the TTL attribute is stored as epoch seconds under the table's TTL attribute name
    items = list(store.items.query(store.names.business_events, target_pk("web"), "EVENT#", "EVENT$"))
    assert [item["expires_at"] for item in items] == [int(expected.timestamp())]
    if backend.client is not None:
        ttl = backend.client.describe_time_to_live(TableName=store.names.business_events)["TimeToLiveDescription"]
        assert ttl["AttributeName"] == "expires_at"
        assert ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING")


def test_active_business_events_window_is_start_inclusive_end_exclusive(store):
    event = business_event(T0, T0 + timedelta(hours=2))
    store.put_business_event("ev-1", event, ["web"], received_at=T0 - timedelta(days=1))
    assert [e.event_id for e in store.active_business_events("web", T0)] == ["ev-1"]
    assert store.active_business_events("web", T0 + timedelta(hours=2) - timedelta(seconds=1))[0].event == event
    assert store.active_business_events("web", T0 + timedelta(hours=2)) == []
    assert store.active_business_events("web", T0 - timedelta(seconds=1)) == []
    assert store.active_business_events("api", T0) == []


def test_business_events_overlapping_a_window(store):
    long_one = business_event(T0 - timedelta(days=20), T0 + timedelta(days=1), name="long")
    later = business_event(T0 + timedelta(hours=5), T0 + timedelta(hours=6), name="later")
    past = business_event(T0 - timedelta(days=2), T0 - timedelta(days=1), name="past")
    for event_id, event in (("ev-long", long_one), ("ev-later", later), ("ev-past", past)):
        store.put_business_event(event_id, event, ["web"], received_at=T0 - timedelta(days=30))
    window = store.business_events("web", T0, T0 + timedelta(hours=6))
    assert [e.event_id for e in window] == ["ev-long", "ev-later"]


def test_business_event_same_id_other_content_is_refused(store):
    event = business_event(T0, T0 + timedelta(hours=1))
    store.put_business_event("ev-1", event, ["web"], received_at=T0)
    store.put_business_event("ev-1", event, ["web"], received_at=T0)  # retry: no-op
    changed = business_event(T0, T0 + timedelta(hours=1), name="renamed")
    with pytest.raises(AlreadyExistsError):
        store.put_business_event("ev-1", changed, ["web"], received_at=T0)


def test_rejected_events_are_kept_with_their_errors(store):
    rejected = RejectedBusinessEvent(
        event_id="ev-bad",
        received_at=T0,
        payload='{"name": "x", "end": "yesterday"}',
        errors=("end: must be after start", "targets: give the affected targets or a tag_selector"),
    )
    stored = store.put_rejected_event(rejected)
    assert stored.expires_at == T0 + DEFAULT_EVENT_RETENTION
    assert store.rejected_events(T0, T0 + timedelta(seconds=1)) == [stored]
    assert store.rejected_events(T0 + timedelta(seconds=1), T0 + timedelta(hours=1)) == []


def test_event_effects_use_optimistic_versions(store):
    assert store.event_effect("campaign") is None
    effect = store.put_event_effect(
        EventEffect("campaign", "*", 1.2345678901234567, 3, T0, {"peak_ratio": 2.5, "tiny": 1e-7, "huge": 1e20})
    )
    assert store.event_effect("campaign") == effect
    assert effect.version == 1
    store.put_event_effect(replace(effect, multiplier=1.5, samples=4))
    with pytest.raises(ConflictError):
        store.put_event_effect(replace(effect, multiplier=9.0))
    assert store.event_effect("campaign").multiplier == 1.5
    assert store.event_effect("campaign", "web") is None


def test_event_effect_extra_keeps_the_window_keys_the_trainer_has_seen(store: DynamoStateStore) -> None:
    # the trainer keeps up to 2000 folded-in windows as extra "seen:<target>|<type>|<start>|<end>" -> end (Unix s)
    seen = {
        f"seen:web-{i % 7}|campaign|{1_773_000_000 + i * 3600}|{1_773_007_200 + i * 3600}": 1_773_007_200.0 + i * 3600
        for i in range(2000)
    }
    effect = store.put_event_effect(EventEffect("campaign", "*", 1.8, 2000, T0, {"peak_ratio": 2.5} | seen))
    stored = store.event_effect("campaign")
    assert stored == effect and dict(stored.extra) == {"peak_ratio": 2.5} | seen


# --------------------------------------------------------------------------- model registry


def model(version: str, created: datetime, mase: float = 0.8) -> ModelVersion:
    return ModelVersion(
        "web", version, created, f"s3://bucket/models/web/{version}/", {"mase_1h": mase}, {"model": "ensemble"}
    )


def test_model_registry_versions_and_conditional_champion(store):
    store.register_model(model("v2", T0 + timedelta(days=1)))
    store.register_model(model("v1", T0))
    store.register_model(model("v1", T0))  # retry
    with pytest.raises(AlreadyExistsError):
        store.register_model(model("v1", T0, mase=0.1))
    assert [m.version for m in store.model_versions("web")] == ["v1", "v2"]
    assert store.model_version("web", "v1") == model("v1", T0)
    # champion pointer
    assert store.champion("web") is None
    first = store.promote("web", "v1", expected_current=None, at=T0)
    assert store.champion("web") == first
    with pytest.raises(ConflictError, match="champion"):
        store.promote("web", "v2", expected_current=None, at=T0)
    second = store.promote("web", "v2", expected_current="v1", at=T0 + timedelta(days=1))
    assert second.previous_version == "v1"
    with pytest.raises(ConflictError):
        store.promote("web", "v1", expected_current="v1", at=T0 + timedelta(days=2))
    assert store.champion("web").version == "v2"
    with pytest.raises(NotFoundError):
        store.promote("web", "v9", expected_current="v2", at=T0)


# --------------------------------------------------------------------------- kill switch


def test_kill_switch_global_and_per_target(store):
    assert store.kill_switch("web") is None
    store.set_kill_switch(KillSwitch("web", True, "incident 42", "alice", T0))
    assert store.kill_switch("web").reason == "incident 42"
    assert store.kill_switch("api") is None
    store.set_kill_switch(KillSwitch(None, True, "freeze", "bob", T0))
    assert store.kill_switch("api").target_id is None
    assert store.kill_switch("web").reason == "freeze"  # global first
    store.set_kill_switch(KillSwitch(None, False, "over", "bob", T0 + timedelta(hours=1)))
    store.set_kill_switch(KillSwitch("web", False, "over", "alice", T0 + timedelta(hours=1)))
    assert store.kill_switch("web") is None
    assert store.kill_switch("api") is None


def test_times_come_back_in_utc(store):
    paris = datetime(2026, 11, 20, 11, 0, tzinfo=UTC).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    store.put_target_state(StoredTargetState("web", last_scale_in_at=paris))
    back = store.get_target_state("web").last_scale_in_at
    assert back == paris and back.tzinfo == UTC


# --------------------------------------------------------------------------- learned capacity


def test_learned_capacity_round_trips_with_versions(store):
    from functions.ports.records import LearnedCapacity

    # GIVEN nothing learned
    assert store.get_learned_capacity("web") is None
    # WHEN the trainer stores that it cannot learn yet, then a value
    waiting = LearnedCapacity("web", None, 12, 0.0, 0, T0, reason="history: 12 usable points")
    first = store.put_learned_capacity(waiting)
    assert store.get_learned_capacity("web") == first
    learned = LearnedCapacity("web", 123.456789, 1440, 0.97, 3, T0 + timedelta(days=1), version=first.version)
    second = store.put_learned_capacity(learned)
    # THEN it reads back exactly; a stale writer conflicts; nonsense is refused naming the field
    assert store.get_learned_capacity("web") == second and second.version == 2
    with pytest.raises(ConflictError, match="learned capacity"):
        store.put_learned_capacity(learned)
    with pytest.raises(ValueError, match="capacity_per_instance"):
        store.put_learned_capacity(replace(second, capacity_per_instance=-1.0))
    with pytest.raises(ValueError, match="reason"):
        store.put_learned_capacity(replace(second, capacity_per_instance=None))
