"""Business events the intake and the operator API refuse: non-finite or absurd numbers, and times too far
ahead or long past (judged against the injected clock, since a pydantic validator has none)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from service_support import NOON, target
from test_api_intake_alarms import call, sale

from events.contracts import MAX_EVENT_AGE_DAYS, MAX_EVENT_DAYS, BusinessEvent
from functions.adapters.dynamodb import DEFAULT_EVENT_RETENTION
from functions.services.intake import RejectedEventError

AHEAD = timedelta(days=MAX_EVENT_DAYS)
PAST = timedelta(days=MAX_EVENT_AGE_DAYS)
HOUR = timedelta(hours=1)


def at(start, end=None) -> dict[str, Any]:
    return sale(start=start.isoformat(), end=(end or start + HOUR).isoformat())


REFUSED = [
    pytest.param(sale(expected_multiplier=None, expected_load="inf"), "expected_load", "finite", id="load-inf-text"),
    pytest.param(sale(expected_multiplier=None, expected_load=float("inf")), "expected_load", "finite", id="load-inf"),
    pytest.param(sale(expected_multiplier=None, expected_load=1e300), "expected_load", "less than", id="load-1e300"),
    pytest.param(sale(expected_multiplier=float("nan")), "expected_multiplier", "finite", id="multiplier-nan"),
    pytest.param(
        at(NOON + AHEAD + timedelta(seconds=1)), "start", f"more than {MAX_EVENT_DAYS} days after now", id="ahead"
    ),
    pytest.param(at(NOON + timedelta(days=3650)), "start", "days after now", id="ten-years-ahead"),
    pytest.param(at(NOON - PAST - 2 * HOUR), "end", f"more than {MAX_EVENT_AGE_DAYS} days before now", id="long-past"),
    pytest.param(at(NOON.replace(year=1990)), "end", "days before now", id="ended-in-1990"),
]

ACCEPTED = [
    pytest.param(at(NOON + AHEAD), id="exactly-the-lead-limit"),
    pytest.param(at(NOON - PAST - HOUR), id="ended-exactly-the-age-limit-ago"),
    pytest.param(at(NOON - timedelta(days=3)), id="a-recent-past-event-to-learn-from"),
    pytest.param(sale(expected_multiplier=None, expected_load=1e15), id="a-large-finite-load"),
]


@pytest.mark.parametrize(("body", "field", "reason"), REFUSED)
def test_the_intake_rejects_and_keeps_an_absurd_event_naming_the_field(memory, body, field, reason):
    # GIVEN a known target and the clock at NOON
    world = memory([target("web")])
    # WHEN the intake gets the event
    with pytest.raises(RejectedEventError) as caught:
        world.components.intake.accept("ev-1", body, received_at=NOON)
    # THEN it is refused naming the field, kept as rejected, and stored for no target
    assert any(e["field"] == field and reason in e["reason"] for e in caught.value.errors), caught.value.errors
    (kept,) = world.store.rejected_events(NOON - HOUR, NOON + HOUR)
    assert any(error.startswith(f"{field}: ") for error in kept.errors), kept.errors
    assert world.store.business_events("web", NOON.replace(year=1989), NOON.replace(year=2037)) == []


@pytest.mark.parametrize(("body", "field", "reason"), REFUSED)
def test_the_api_refuses_an_absurd_event_with_422_naming_the_field(memory, body, field, reason):
    world = memory([target("web")])
    # WHEN it is posted to the operator API (the body as JSON, Infinity and NaN as Python's json writes them)
    status, answer = call("POST", "/events", body=body)
    # THEN 422 naming the field, and nothing on the bus
    assert status == 422, answer
    assert any(e["field"] == field and reason in e["reason"] for e in answer["errors"]), answer
    assert world.bus.published(BusinessEvent) == []


@pytest.mark.parametrize("body", ACCEPTED)
def test_events_within_the_bounds_are_accepted_by_both(memory, body):
    world = memory([target("web")])
    assert [s.target_id for s in world.components.intake.accept("ev-1", body, received_at=NOON)] == ["web"]
    status, answer = call("POST", "/events", body=body)
    assert status == 202 and answer["targets"] == ["web"]
    assert len(world.bus.published(BusinessEvent)) == 1


def test_the_age_limit_is_how_long_stored_events_are_kept():
    # an older event would be stored only for DynamoDB's TTL to drop it at once
    assert timedelta(days=MAX_EVENT_AGE_DAYS) == DEFAULT_EVENT_RETENTION
