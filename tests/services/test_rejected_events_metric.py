"""A refused event is counted as ``RejectedEvents`` (the dashboard's widget) and still raised for the DLQ."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError
from service_support import target

from forescale_tools.local_router import LambdaContext, load_handler
from functions.handlers.observability import metrics
from functions.services.common import DECISIONS_UNRECORDED, REJECTED_EVENTS
from functions.services.intake import RejectedEventError
from tests.fuzz.fuzzing import sample


def emitted(out: str) -> list[dict[str, Any]]:
    """The embedded-metric-format documents Powertools printed."""
    return [doc for doc in map(json.loads, filter(None, out.splitlines())) if "_aws" in doc]


@pytest.fixture
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Forescale")
    metrics.clear_metrics()


@pytest.mark.parametrize(
    ("function", "breaks", "error"),
    [
        ("decider", lambda e: e["detail"].pop("round_id"), ValidationError),
        ("executor", lambda e: e["detail"].update(desired="many"), ValidationError),
        ("intake", lambda e: e["detail"].update(event_type="Not A Type"), RejectedEventError),
    ],
)
def test_a_refused_event_is_counted_and_raised(memory, metrics_on, capsys, function, breaks, error):
    memory([target("web")])
    event = sample({"decider": "ForecastReady", "executor": "ScalingDecided", "intake": "BusinessEvent"}[function])
    breaks(event)
    with pytest.raises(error):
        load_handler(function)(event, LambdaContext(function, "req-1"))
    docs = emitted(capsys.readouterr().out)
    assert [doc[REJECTED_EVENTS] for doc in docs if REJECTED_EVENTS in doc] == [[1.0]]


def test_an_accepted_event_counts_no_rejection(memory, clock, metrics_on, capsys):
    memory([target("web-asg"), target("api-ecs")])  # the sample's targets
    event = sample("BusinessEvent")
    clock.current = datetime.fromisoformat(event["time"])  # a week before the sample's campaign
    load_handler("intake")(event, LambdaContext("intake", "req-1"))
    assert not [doc for doc in emitted(capsys.readouterr().out) if REJECTED_EVENTS in doc]


def test_a_decision_the_decider_never_recorded_is_counted_for_its_alarm(memory, clock, metrics_on, capsys):
    # GIVEN a valid ScalingDecided for a configured target that no decider recorded (forged or corrupt)
    memory([target("web-asg")])
    event = sample("ScalingDecided")
    clock.current = datetime.fromisoformat(event["detail"]["decided_at"])
    # WHEN the executor handler gets it
    outcome = load_handler("executor")(event, LambdaContext("executor", "req-1"))
    # THEN it is refused as unrecorded and counted as DecisionsUnrecorded, the metric of its alarm
    assert outcome["refused"] == "unrecorded"
    docs = emitted(capsys.readouterr().out)
    assert [doc[DECISIONS_UNRECORDED] for doc in docs if DECISIONS_UNRECORDED in doc] == [[1.0]]
