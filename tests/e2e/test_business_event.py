"""An announced campaign: capacity goes up for its window (one boot time early) and back down after it.

The load itself stays flat, so whatever moves capacity is the announcement alone: before the window,
inside it and after it are told apart by the event and nothing else.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from e2e_support import Pipeline, asg_target, five_minute_index

from events.contracts import BusinessEvent

pytestmark = pytest.mark.integration

DAY = datetime(2026, 3, 10, tzinfo=UTC)
LOAD = 300.0  # flat: 4 instances at 90 per instance
EVENT_START, EVENT_END = DAY + timedelta(hours=12), DAY + timedelta(hours=12, minutes=30)
MULTIPLIER = 5.0


def need(load: float) -> int:
    return math.ceil(load / 90.0)


def test_business_event_raises_capacity_inside_its_window_only(pipeline: Pipeline):
    # GIVEN a flat load and an ASG sized for it; scale-in allowed after 5 minutes of a lower plan
    web = asg_target("web", f"{pipeline.aws.prefix}-web", scale_in_stabilization_seconds=300)
    asg = web.asg_name or ""
    pipeline.aws.create_asg(asg, desired=need(LOAD), min_size=1, max_size=60)
    pipeline.aws.put_targets([web])
    start = DAY + timedelta(hours=11, minutes=45)
    history = five_minute_index(DAY - timedelta(days=2), start)
    pipeline.seed_history("web", history, np.full(len(history), LOAD))
    # ... and a campaign announced on the bus: five times the load from 12:00 to 12:30
    pipeline.put_events(
        BusinessEvent(
            name="spring sale",
            event_type="campaign",
            targets=["web"],
            start=EVENT_START,
            end=EVENT_END,
            expected_multiplier=MULTIPLIER,
        )
    )
    intake = pipeline.router.pump()
    assert [d.function for d in intake] == ["intake"] and intake[0].error is None, intake
    # WHEN the pipeline runs every five minutes from 11:45 to 12:50
    capacity: dict[datetime, int] = {}
    at = start
    while at <= DAY + timedelta(hours=12, minutes=50):
        pipeline.put_load(web, at - timedelta(seconds=300), LOAD)
        pipeline.run_round(at + timedelta(seconds=10))
        capacity[at] = pipeline.aws.asg_desired(asg)[0]
        at += timedelta(seconds=300)
    boot = timedelta(seconds=300)
    # THEN capacity stays at the normal level (what the first round chose) until one boot time before
    # the window ...
    normal = capacity[start]
    assert normal <= need(LOAD) + 1
    assert all(c == normal for at, c in capacity.items() if at < EVENT_START - boot), capacity
    # ... covers the campaign's load for the whole window ...
    assert all(c >= need(LOAD * MULTIPLIER) for at, c in capacity.items() if EVENT_START <= at < EVENT_END), capacity
    # ... and is back to normal once the window, a boot time and the stabilisation have passed
    settled = EVENT_END + boot + timedelta(seconds=300 + 300)
    assert all(c == normal for at, c in capacity.items() if at >= settled), capacity
    # every decision is recorded: one scale-out for the window, one scale-in after it
    actions = [d.action for d in pipeline.store.decisions("web", start, at)]
    assert actions.count("scale_out") == 1 and actions.count("scale_in") == 1, actions
