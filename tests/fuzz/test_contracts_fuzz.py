"""Every contract fuzzed: bus events (through the parser and through the handlers), targets, alarm events.

Inputs are the valid samples with random edits (fields removed, replaced by anything or by something
huge, unknown fields added) and arbitrary JSON. Each is accepted, or rejected with every field and the
reason named; no other exception escapes (a crash).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from events.base import parse_envelope
from events.contracts import ALL_CONTRACTS
from functions import wiring
from functions.adapters.memory import InMemoryObjects
from functions.domain.clock import FixedClock
from functions.domain.target import parse_targets
from functions.local_router import LambdaContext, configure_memory, load_handler
from functions.services.alarms import AlarmChange
from functions.services.targets import TargetCatalog
from tests.fuzz.fuzzing import json_values, mutated, named_rejection, sample
from tests.support.world import asg_target

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


def alarm_sample() -> dict[str, Any]:
    return {
        "version": "0",
        "id": "alarm-1",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2026-03-10T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "alarmName": "forescale-slo-web",
            "state": {"value": "ALARM", "reason": "x", "reasonData": '{"recentDatapoints": [0.97]}'},
            "previousState": {"value": "OK"},
        },
    }


EVENT_IDS = itertools.count(1)
HANDLERS = {
    "decider": lambda: sample("ForecastReady"),
    "executor": lambda: sample("ScalingDecided"),
    "intake": lambda: sample("BusinessEvent"),
    "alarm_responder": alarm_sample,
}


@pytest.fixture(scope="module")
def memory_world() -> Iterator[Any]:
    world = configure_memory([asg_target("web-asg", "web"), asg_target("api-ecs", "api")], clock=FixedClock(NOON))
    world.capacity.add_asg("web", desired=4, min_capacity=1, max_capacity=40)
    world.capacity.add_asg("api", desired=4, min_capacity=1, max_capacity=40)
    yield world
    wiring.reset()


@pytest.mark.parametrize("function", sorted(HANDLERS))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_handlers_accept_or_reject_naming_the_field(memory_world, figures, function, data, monkeypatch):
    monkeypatch.setenv("FORESCALE_SLO_ALARM_PREFIX", "forescale-slo-")
    envelope = data.draw(mutated(HANDLERS[function](), max_mutations=3))
    if isinstance(envelope, dict):  # EventBridge gives every event its own id
        envelope["id"] = f"fuzz-{next(EVENT_IDS)}"
    handler = load_handler(function)
    from functions.services.intake import RejectedEventError

    verdict(
        figures,
        f"handler {function}",
        lambda: handler(envelope, LambdaContext(function, "fuzz")),
        ValidationError,
        RejectedEventError,
    )


# --------------------------------------------------------------------------- alarms and targets


@FUZZ
@given(detail=st.one_of(mutated(alarm_sample()["detail"]), json_values))
def test_alarm_events_parse_or_name_the_field(figures, detail):
    change = verdict(figures, "alarm state change", lambda: AlarmChange.model_validate(detail), ValidationError)
    if isinstance(change, AlarmChange):
        points = change.datapoints()  # reasonData is AWS's free text: never raises, only finite numbers
        assert all(isinstance(p, float) for p in points)


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
