"""How the reliability table counts faults: one injection per proxy rule and input event it hit, judged by
where that event ended (survived, contained, lost), whatever number of faulted responses it took."""

from __future__ import annotations

from typing import Any

import pytest

from events.contracts import BusinessEvent
from tests.reliability.test_faults_decide_intake_alarm import business_event
from tests.support.figures import Figures
from tests.support.world import World, report

pytestmark = pytest.mark.integration


def test_an_injection_counts_once_and_by_where_its_event_ended(world: World):
    # GIVEN two business events for the intake: the first meets one throttle, the second a table that fails
    # every write (every botocore retry of every Lambda attempt)
    world.add_asg_targets(1, desired=4)
    table = world.aws.table_names().business_events
    proxy, intake = world.proxy, world.function("intake")
    proxy.inject("throttle", "dynamodb", "PutItem", times=1, when=lambda r: r.mentions(table))
    intake.invoke(world.envelope(BusinessEvent.model_validate(business_event(["t0"]))), key="first")
    proxy.inject("server_error", "dynamodb", "PutItem", times=1000, when=lambda r: r.mentions(table))
    intake.invoke(world.envelope(BusinessEvent.model_validate(business_event(["t0"], hours=4))), key="second")
    intake.settle()
    # WHEN the test reports what it injected
    figures = Figures("counting")
    ledger = intake.ledger(lambda i: i.key == "first")
    report(figures, "intake", world, ledger, {})
    rows: dict[str, Any] = figures.rows["faults"]

    # THEN the throttle is one injection that survived; the outage one injection, contained (dead-lettered),
    # although it faulted every one of its many responses
    counted = ("injections", "responses", "survived", "contained", "lost")
    assert [rows["intake/throttle"][c] for c in counted] == [1, 1, 1, 0, 0]
    outage = rows["intake/server_error"]
    assert (outage["injections"], outage["survived"], outage["contained"], outage["lost"]) == (1, 0, 1, 0)
    assert outage["responses"] == proxy.rules[1].fired > 3
    assert figures.rows["events"]["intake"]["dead_lettered"] == 1


def test_a_fault_the_test_cannot_place_is_refused(world: World):
    # GIVEN a fault fired outside any invocation (no input event to judge it by)
    world.add_asg_targets(1, desired=4)
    proxy = world.proxy
    proxy.inject("throttle", "dynamodb", "GetItem", times=1)
    world.function("intake")

    world.components.state_store.get_target_state("t0")  # through the proxy, not inside a handler's invocation
    assert proxy.rules[0].fired == 1
    # THEN the report refuses to count it rather than call it survived
    with pytest.raises(AssertionError, match="no end in the ledger"):
        report(Figures("counting"), "intake", world, world.function("intake").ledger(lambda i: True), {})
