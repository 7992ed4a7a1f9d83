"""Every contract fuzzed: bus events (through the parser and through the handlers) and targets.

Inputs are the valid samples with random edits (fields removed, replaced by anything or by something
huge, unknown fields added) and arbitrary JSON. Each is accepted, or rejected with every field and the
reason named; no other exception escapes (a crash).
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from events.base import parse_envelope
from events.contracts import ALL_CONTRACTS, ScalingDecided
from forescale_tools.local_router import LambdaContext, load_handler, memory_world
from forescale_tools.memory import InMemoryObjects
from functions import wiring
from functions.domain.clock import FixedClock
from functions.domain.target import parse_targets
from functions.services.targets import TargetCatalog
from tests.fuzz.fuzzing import json_values, mutated, named_rejection, retyped, sample
from tests.support.decisions import record
from tests.support.world import asg_target, flat_forecast, summary

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def verdict(figures: Any, name: str, call: Any, *rejections: type[BaseException]) -> Any:
    """Run ``call``: an accepted input returns its value, a named rejection returns the error; anything
    else fails the test (and is counted as a crash)."""
    try:
        value = call()
    except rejections as error:
        named = named_rejection(error)
        figures.add("fuzz", name, inputs=1, crashes=0 if named else 1, refused=1)
        assert named, f"rejection names no field: {type(error).__name__}: {error}"
        return error
    except Exception as error:
        figures.add("fuzz", name, inputs=1, crashes=1, refused=0)
        raise AssertionError(f"crash: {type(error).__name__}: {error}") from error
    figures.add("fuzz", name, inputs=1, crashes=0, refused=0)
    return value


# --------------------------------------------------------------------------- bus contracts


@pytest.mark.parametrize("contract", ALL_CONTRACTS, ids=lambda c: c.DETAIL_TYPE)
@FUZZ
@given(data=st.data())
def test_every_bus_contract_accepts_or_names_the_field(figures, contract, data):
    envelope = data.draw(st.one_of(mutated(sample(contract.DETAIL_TYPE)), st.builds(dict, detail=json_values)))
    verdict(
        figures,
        f"contract {contract.DETAIL_TYPE}",
        lambda: parse_envelope(contract, envelope),
        ValidationError,
        ValueError,
    )


# --------------------------------------------------------------------------- through the handlers


def breach_sample() -> dict[str, Any]:
    """An ``SloBreached`` of a configured target (the alarm responder scales it out)."""
    envelope = sample("SloBreached")
    envelope["time"] = NOON.strftime("%Y-%m-%dT%H:%M:%SZ")
    return envelope


EVENT_IDS = itertools.count(1)
WORLD_TARGETS = [asg_target("web-asg", "web"), asg_target("api-ecs", "api")]


def fresh_world() -> Any:
    """A new in-memory deployment for one fuzzed input: two groups at 4, a stored forecast for web-asg.

    Each input is judged on its own: with one shared world, every decision after the first accepted one
    is "superseded" and never reaches a capacity call."""
    world = memory_world(WORLD_TARGETS, clock=FixedClock(NOON))
    world.capacity.add_asg("web", desired=4, min_capacity=1, max_capacity=40)
    world.capacity.add_asg("api", desired=4, min_capacity=1, max_capacity=40)
    world.store.put_forecast(flat_forecast("web-asg", 1200.0))
    return world


def forecast_ready_sample() -> dict[str, Any]:
    """A ``ForecastReady`` that reaches ``decide()``: capacity known this round, fresh load, a stored forecast."""
    envelope = sample("ForecastReady")
    envelope["time"] = NOON.strftime("%Y-%m-%dT%H:%M:%SZ")
    item = summary(flat_forecast("web-asg", 1200.0), recent=1200.0, desired=4)
    envelope["detail"]["forecasts"] = [item.model_dump(mode="json")]
    return envelope


def scaling_decided_sample() -> dict[str, Any]:
    """A ``ScalingDecided`` for web-asg (at 4) decided now, the first for its target: it reaches a capacity call."""
    envelope = sample("ScalingDecided")
    envelope["time"] = NOON.strftime("%Y-%m-%dT%H:%M:%SZ")
    envelope["detail"].update(
        decided_at=NOON.isoformat(),
        valid_until=(NOON + timedelta(minutes=5)).isoformat(),
        mode="direct",
        sequence=1,
        previous_desired=4,
        desired_capacity=9,
    )
    return envelope


def business_event_sample() -> dict[str, Any]:
    """The sample ``BusinessEvent`` moved to a week after the world's clock, so that it is accepted unedited."""
    envelope = sample("BusinessEvent")
    envelope["time"] = NOON.strftime("%Y-%m-%dT%H:%M:%SZ")
    envelope["detail"].update(
        start=(NOON + timedelta(days=7)).isoformat(), end=(NOON + timedelta(days=7, hours=20)).isoformat()
    )
    return envelope


HANDLERS = {
    "decider": forecast_ready_sample,
    "executor": scaling_decided_sample,
    "intake": business_event_sample,
    "alarm_responder": breach_sample,
}
#: What "reached the engine" means for a handler. Most inputs carry an edit that is refused; the report
#: shows how many were still decided / executed / stored, and the test requires that some were (with the
#: old starting events none were). How many varies with the tests run before (the share is not stable).
ENGINE = {
    "decider": "decide() called",
    "executor": "executed or failed on its capacity calls",
    "intake": "stored as a business event",
}


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_handlers_accept_or_reject_naming_the_field(figures, function, monkeypatch):
    from functions.services import decider as decider_module
    from functions.services.intake import RejectedEventError

    decided: list[int] = []
    real_decide = decider_module.decide
    monkeypatch.setattr(decider_module, "decide", lambda *a, **k: decided.append(1) or real_decide(*a, **k))
    counts = {"inputs": 0, "reached": 0}

    # derandomized: the share that reaches the engine is a figure of the report, the same on every run
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(data=st.data())
    def fuzz(data: Any) -> None:
        # GIVEN a valid input with up to three random edits (anything, or a value of the same kind), in a
        # world of its own
        base = HANDLERS[function]()
        envelope = data.draw(st.one_of(mutated(base, max_mutations=3), retyped(base)))
        if isinstance(envelope, dict):  # EventBridge gives every event its own id
            envelope["id"] = f"fuzz-{next(EVENT_IDS)}"
        world = fresh_world()
        with wiring.use(world.components):
            if function == "executor":
                record_if_valid(world, envelope)
            handler = load_handler(function)
            before = len(decided)
            # WHEN the handler gets it THEN it is handled or refused naming the field
            outcome = verdict(
                figures,
                f"handler {function}",
                lambda: handler(envelope, LambdaContext(function, "fuzz")),
                ValidationError,
                RejectedEventError,
            )
            reached = {
                "decider": lambda: len(decided) > before,
                # the executor's own outcome: executed or failed means it went through the capacity calls
                "executor": lambda: isinstance(outcome, dict) and outcome.get("status") in ("executed", "failed"),
                "intake": lambda: bool(world.store.business_events("web-asg", NOON, NOON + timedelta(days=60))),
            }.get(function, lambda: False)()
            counts["inputs"] += 1
            counts["reached"] += int(reached)
            if function in ENGINE:
                figures.add("fuzz", f"handler {function}", reached=int(reached), engine=ENGINE[function])

    fuzz()
    # THEN (decider, executor, intake) fuzzed inputs got past parsing into the engine
    if function in ENGINE:
        assert counts["reached"] > 0, (function, counts)


def record_if_valid(world: Any, envelope: Any) -> None:
    """A decision that parses is recorded as the decider records it, so that the executor may act on it."""
    try:
        decision = parse_envelope(ScalingDecided, envelope)
    except (ValidationError, ValueError, TypeError, AttributeError):
        return
    record(world.store, decision)


# --------------------------------------------------------------------------- alarms and targets


def valid_targets() -> list[dict[str, Any]]:
    web = asg_target("web", "web-asg").model_dump(mode="json")
    api = {
        "target_id": "api",
        "kind": "ecs",
        "ecs_cluster": "prod",
        "ecs_service": "api",
        "metric": {"expression": "SUM(SEARCH('{AWS/SQS,QueueName} NumberOfMessagesSent', 'Sum', 60))"},
        "capacity_per_instance": "learn",
        "max_capacity": 50,
        "timezone": "Europe/Paris",
    }
    return [web, api]


@FUZZ
@given(raw=st.one_of(mutated(valid_targets()), json_values))
def test_target_configurations_parse_or_name_the_field(figures, raw):
    verdict(figures, "targets configuration", lambda: parse_targets(raw), ValidationError, ValueError)


@FUZZ
@given(text=st.one_of(st.text(max_size=200), mutated(valid_targets()).map(json.dumps), st.binary(max_size=50)))
def test_the_targets_object_in_s3_is_read_or_refused_naming_the_field(figures, text):
    objects = InMemoryObjects()
    objects.put_new("config/targets.json", text.encode() if isinstance(text, str) else text)
    catalog = TargetCatalog(objects, "config/targets.json", FixedClock(NOON))
    verdict(figures, "targets object", catalog.refresh, ValidationError, ValueError)
