"""The intake keeps a business event whatever offset form the envelope's time takes (found by the handler fuzz
test: an envelope time without offset crashed the store, which wants an aware time)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from events.contracts import BusinessEvent
from forescale_tools.local_router import LambdaContext, load_handler, memory_world
from functions import wiring
from functions.domain.clock import FixedClock
from tests.support.world import asg_target

NOON = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.mark.parametrize("stamp", ["2026-03-10T12:00:00Z", "2026-03-10T12:00:00", "2026-03-10T14:00:00+02:00"])
def test_an_envelope_time_without_offset_is_read_as_utc(stamp):
    world = memory_world([asg_target("web-asg", "web")], clock=FixedClock(NOON))
    event = BusinessEvent(
        name="sale", event_type="sale", targets=["web-asg"], start=NOON + timedelta(hours=1),
        end=NOON + timedelta(hours=2), expected_multiplier=2.0,
    )  # fmt: skip
    envelope = {
        "version": "0", "id": "e-1", "detail-type": BusinessEvent.DETAIL_TYPE, "source": BusinessEvent.SOURCE,
        "account": "123456789012", "time": stamp, "region": "eu-west-1", "resources": [],
        "detail": json.loads(event.model_dump_json()),
    }  # fmt: skip
    with wiring.use(world.components):
        result = load_handler("intake")(envelope, LambdaContext("intake", "t"))
    # THEN the event is stored for its target, received at noon UTC whichever way the time was written
    assert result["targets"] == ["web-asg"]
    (stored,) = world.store.business_events("web-asg", NOON, NOON + timedelta(hours=3))
    assert stored.received_at == NOON
