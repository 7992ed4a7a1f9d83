"""The event contracts: samples parse, schemas do not drift, patterns and entries are built from the class."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.envelopes import EventBridgeEnvelope
from pydantic import ValidationError

from events import ALL_CONTRACTS, BusinessEvent, ContractError, ScalingDecided, describe, field_errors
from events.base import MAX_DETAIL_BYTES, event_pattern, matches, parse_envelope, to_envelope, to_put_events_entry
from events.schema_gen import load_sample, render, schema_path

CONTRACT_IDS = [c.DETAIL_TYPE for c in ALL_CONTRACTS]


@pytest.mark.parametrize("contract", ALL_CONTRACTS, ids=CONTRACT_IDS)
def test_sample_is_a_full_envelope_that_parses_as_its_contract(contract):
    # GIVEN the sample envelope shipped for the contract
    envelope = load_sample(contract)
    # WHEN it is parsed the way a handler parses it (Powertools' EventBridge envelope)
    detail = parse(event=envelope, model=contract, envelope=EventBridgeEnvelope)
    # THEN it is an instance of the contract and the envelope carries the contract's own strings
    assert isinstance(detail, contract)
    assert envelope["source"] == contract.SOURCE
    assert envelope["detail-type"] == contract.DETAIL_TYPE
    assert parse_envelope(contract, envelope) == detail


@pytest.mark.parametrize("contract", ALL_CONTRACTS, ids=CONTRACT_IDS)
def test_committed_schema_matches_the_contract(contract):
    committed = schema_path(contract).read_text()
    assert committed == render(contract), f"{schema_path(contract)} drifted: run `python -m events.schema_gen`"


def test_every_contract_owns_a_distinct_source_detail_type_pair():
    pairs = {(c.SOURCE, c.DETAIL_TYPE) for c in ALL_CONTRACTS}
    assert len(pairs) == len(ALL_CONTRACTS)
    assert all(c.SOURCE.startswith("forescale.") for c in ALL_CONTRACTS)


@pytest.mark.parametrize("contract", ALL_CONTRACTS, ids=CONTRACT_IDS)
def test_pattern_matches_own_sample_and_no_other(contract):
    pattern = event_pattern(contract)
    for other in ALL_CONTRACTS:
        assert matches(pattern, load_sample(other)) == (other is contract)


def test_parse_envelope_refuses_a_foreign_detail_type():
    envelope = load_sample(ScalingDecided)
    with pytest.raises(ValueError, match="source/detail-type"):
        parse_envelope(BusinessEvent, envelope)


def test_put_events_entry_round_trips_through_the_contract():
    event = BusinessEvent.model_validate(load_sample(BusinessEvent)["detail"])
    entry = to_put_events_entry(event, bus_name="forescale-bus")
    assert entry["Source"] == "forescale.business" and entry["DetailType"] == "BusinessEvent"
    assert BusinessEvent.model_validate_json(entry["Detail"]) == event


def test_oversized_detail_is_refused_naming_the_contract():
    event = BusinessEvent.model_validate(load_sample(BusinessEvent)["detail"])
    huge = event.model_copy(update={"targets": [f"t-{i:0100d}" for i in range(100)] * 30})
    with pytest.raises(ValueError, match=r"BusinessEvent: detail is \d+ bytes"):
        to_put_events_entry(huge, bus_name="b")
    assert MAX_DETAIL_BYTES < 256 * 1024


def _business(**overrides):
    base = load_sample(BusinessEvent)["detail"] | overrides
    return BusinessEvent.model_validate(base)


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"end": "2026-11-27T05:00:00Z"}, "end", "must be after start"),
        ({"targets": [], "tag_selector": {}}, "targets", "give the affected targets or a tag_selector"),
        ({"expected_multiplier": 0}, "expected_multiplier", "greater than 0"),
        ({"expected_multiplier": 1000}, "expected_multiplier", "less than or equal to 100"),
        ({"expected_load": 5.0}, "expected_load", "not both"),
        ({"start": "2026-11-27T06:00:00"}, "start", "timezone"),
        ({"targets": ["bad id with spaces"]}, "targets.0", "pattern"),
        ({"event_type": "Black Friday"}, "event_type", "pattern"),
        ({"end": "2027-03-01T00:00:00Z"}, "end", "at most 31 days"),
        ({"surprise": 1}, "surprise", "Extra inputs are not permitted"),
    ],
)
def test_malformed_business_event_is_rejected_naming_the_field(overrides, field, reason):
    with pytest.raises(ValidationError) as caught:
        _business(**overrides)
    errors = field_errors(caught.value)
    assert any(e["field"] == field and reason in e["reason"] for e in errors), errors
    assert describe(caught.value).startswith(f"{errors[0]['field']}: ")


def test_contract_error_carries_every_field():
    with pytest.raises(ValidationError) as caught:
        _business(expected_multiplier=-1, note="x" * 2000)
    error = ContractError("business event", caught.value)
    assert {e["field"] for e in error.errors} == {"expected_multiplier", "note"}
    assert str(error).startswith("invalid business event: ")


def test_scaling_decided_cannot_leave_its_bounds():
    detail = load_sample(ScalingDecided)["detail"] | {"desired_capacity": 41}
    with pytest.raises(ValidationError, match="desired_capacity: 41 is outside"):
        ScalingDecided.model_validate(detail)


def test_envelope_time_is_utc():
    event = _business()
    when = datetime(2026, 1, 1, 12, tzinfo=UTC) + timedelta(hours=1)
    envelope = to_envelope(event, event_id="e-1", time=when)
    assert envelope["time"] == "2026-01-01T13:00:00Z"
    assert json.loads(json.dumps(envelope))["detail"]["name"] == event.name
