"""The event contracts: samples parse, schemas do not drift, patterns and entries are built from the class."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from types import UnionType
from typing import get_args, get_origin

import pytest
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.envelopes import EventBridgeEnvelope
from pydantic import BaseModel, ValidationError

from events import ALL_CONTRACTS, BusinessEvent, ContractError, ScalingDecided, describe, field_errors
from events.base import MAX_DETAIL_BYTES, event_pattern, matches, parse_envelope, to_envelope, to_put_events_entry
from events.contracts import MAX_LOAD, ForecastReady, MetricsCollected
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


def _float_paths(model: type[BaseModel], prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every float field of a contract, nested parts and list items included (lists at their first item)."""
    return [path for name, info in model.model_fields.items() for path in _paths_of(info.annotation, (*prefix, name))]


def _paths_of(annotation: object, path: tuple[str | int, ...]) -> list[tuple[str | int, ...]]:
    if annotation is float:
        return [path]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _float_paths(annotation, path)
    if get_origin(annotation) is list:
        return _paths_of(get_args(annotation)[0], (*path, 0))
    if get_origin(annotation) is UnionType:
        return [found for arg in get_args(annotation) for found in _paths_of(arg, path)]
    return []


def _set(detail: dict, path: tuple[str | int, ...], value: object) -> dict:
    copy = json.loads(json.dumps(detail))
    node = copy
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return copy


NON_FINITE_CASES = [
    (contract, path, value)
    for contract in ALL_CONTRACTS
    for path in _float_paths(contract)
    for value in (math.inf, -math.inf, math.nan, "inf", "Infinity", "NaN")
]


@pytest.mark.parametrize(
    ("contract", "path", "value"),
    NON_FINITE_CASES,
    ids=[f"{c.DETAIL_TYPE}.{'.'.join(map(str, p))}={v}" for c, p, v in NON_FINITE_CASES],
)
def test_no_contract_accepts_a_non_finite_number(contract, path, value):
    # GIVEN the contract's valid sample with one float field (nested parts too) set to a non-finite number
    detail = load_sample(contract)["detail"]
    if contract is BusinessEvent:  # one of the two, or "not both" would name the field anyway
        detail = detail | {"expected_multiplier": None, "expected_load": None}
    detail = _set(detail, path, value)
    # WHEN it is validated THEN it is refused, naming that field
    with pytest.raises(ValidationError) as caught:
        contract.model_validate(detail)
    fields = [e["field"] for e in field_errors(caught.value)]
    assert ".".join(map(str, path)) in fields, fields


def test_float_fields_are_found_in_every_contract_with_numbers():
    # the walk above reaches the nested parts (a walk that found nothing would make the test above vacuous)
    found = {c.DETAIL_TYPE: _float_paths(c) for c in ALL_CONTRACTS}
    assert ("targets", 0, "last_value") in found["MetricsCollected"]
    assert ("forecasts", 0, "recent_load") in found["ForecastReady"]
    assert ("points", 0, "value") in found["AnomalyDetected"]
    assert ("expected_load",) in found["BusinessEvent"]


def test_json_infinity_is_refused_as_text_too():
    # GIVEN `Infinity` as a JSON literal (Python's json writes it; pydantic's JSON reader accepts it)
    detail = load_sample(BusinessEvent)["detail"] | {"expected_multiplier": None}
    text = json.dumps(detail).replace('"expected_load": null', '"expected_load": Infinity')
    with pytest.raises(ValidationError) as caught:
        BusinessEvent.model_validate_json(text)
    assert [e["field"] for e in field_errors(caught.value)] == ["expected_load"]


@pytest.mark.parametrize(
    ("contract", "path", "value"),
    [
        (BusinessEvent, ("expected_load",), 1e17),
        (MetricsCollected, ("targets", 0, "last_value"), 1e17),
        (ForecastReady, ("forecasts", 0, "recent_load"), 1e17),
    ],
)
def test_loads_have_an_upper_bound(contract, path, value):
    # GIVEN a load above MAX_LOAD (10,000 instances of the largest capacity_per_instance, 1e12)
    detail = load_sample(contract)["detail"]
    if contract is BusinessEvent:
        detail = detail | {"expected_multiplier": None}
    with pytest.raises(ValidationError) as caught:
        contract.model_validate(_set(detail, path, value))
    assert ".".join(map(str, path)) in [e["field"] for e in field_errors(caught.value)]
    # ... while MAX_LOAD itself is accepted
    assert contract.model_validate(_set(detail, path, MAX_LOAD))
