"""The ready-to-send business event (``aws events put-events --entries file://...``) stays true to the contract."""

from __future__ import annotations

import json

from events.contracts import BusinessEvent
from events.schema_gen import load_sample
from infra_cdk.names import default_bus_name, stateful_stack_name
from infra_cdk.samples import PUT_EVENTS_SAMPLE, render


def test_committed_put_events_file_is_what_the_generator_writes():
    # GIVEN the contract's sample WHEN rendered as PutEvents entries THEN the committed file is identical
    assert PUT_EVENTS_SAMPLE.read_text() == render(), "run: python -m infra_cdk.samples"


def test_entry_is_a_valid_business_event_for_the_default_bus():
    (entry,) = json.loads(PUT_EVENTS_SAMPLE.read_text())
    assert set(entry) == {"Source", "DetailType", "Detail", "EventBusName"}
    assert (entry["Source"], entry["DetailType"]) == (BusinessEvent.SOURCE, BusinessEvent.DETAIL_TYPE)
    assert entry["EventBusName"] == default_bus_name(stateful_stack_name())
    event = BusinessEvent.model_validate_json(entry["Detail"])
    assert event == BusinessEvent.model_validate(load_sample(BusinessEvent)["detail"])
