"""Decider, intake and alarm responder under injected faults, conditional-check conflicts included."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from events.contracts import BusinessEvent, ForecastReady
from functions.adapters.dynamodb import DynamoStateStore
from tests.support.fault_proxy import Request
from tests.support.world import (
    NOON,
    World,
    alarm_envelope,
    flat_forecast,
    for_group,
    report,
    short_timeout_client,
    summary,
)

pytestmark = pytest.mark.integration
DAY = (NOON - timedelta(days=1), NOON + timedelta(days=1))


def state_write_of(world: World, target_id: str):
    """A proxy rule condition: the conditional PutItem of ``target_id``'s state item."""
    table = world.aws.table_names().state
    pk = f'"TARGET#{target_id}"'
    return lambda r: r.mentions(table) and r.mentions(pk) and r.mentions('"STATE"')


def competing_writer(store: DynamoStateStore, target_id: str):
    """Another decider (or the alarm responder) stores the target's state first: the request's own
    condition then really fails in moto."""

    def write(_: Request) -> None:
        state = store.get_target_state(target_id)
        store.put_target_state(replace(state, sequence=state.sequence + 1, updated_at=NOON))

    return write


def test_decider_retries_conflicts_republishes_failed_entries_and_dead_letters_a_hopeless_batch(world: World, figures):
    # GIVEN six groups at 4 whose forecast load (1,000) needs ten, and the rules that route ScalingDecided
    targets = world.add_asg_targets(6, desired=4)
    world.listen()
    store = world.store
    forecasts = {t.target_id: flat_forecast(t.target_id, 1000.0) for t in targets}
    for forecast in forecasts.values():
        store.put_forecast(forecast)
    proxy, decider = world.proxy, world.function("decider")
    # t0: two other writers get in first; t1: a DynamoDB throttle; every ScalingDecided put: entries 1 and 3
    # of the first call fail (EventBridge's partial failure) and are sent again
    proxy.inject("before", "dynamodb", "PutItem", times=2, when=state_write_of(world, "t0"),
                 action=competing_writer(store, "t0"), label="conflict")  # fmt: skip
    proxy.inject("throttle", "dynamodb", "PutItem", times=1, when=state_write_of(world, "t1"))
    proxy.inject("partial_put_events", "events", "PutEvents", times=1, fail_entries=lambda i: i in (1, 3))
    # t5: every write of its state loses (5 tries per invocation, 3 invocations): a dead letter
    proxy.inject("before", "dynamodb", "PutItem", times=15, when=state_write_of(world, "t5"),
                 action=competing_writer(store, "t5"), label="conflict")  # fmt: skip
    batch_1 = ForecastReady(
        round_id="round-1", forecasts=[summary(forecasts[t], recent=1000.0) for t in forecasts if t != "t5"]
    )
    batch_2 = ForecastReady(round_id="round-1", forecasts=[summary(forecasts["t5"], recent=1000.0)])
    # WHEN both batches arrive
    decider.invoke(world.envelope(batch_1), key="batch-1")
    decider.invoke(world.envelope(batch_2), key="batch-2")
    decider.settle()

    # THEN batch 1: one decision per target, each published exactly once; batch 2 is a dead letter
    decided = {t.target_id: store.decisions(t.target_id, *DAY) for t in targets}
    delivered = [e["detail"]["decision_id"] for e in world.delivered("ScalingDecided")]

    def confirmed(invocation: Any) -> bool:
        ids = [d["decision_id"] for d in invocation.result["decisions"]]
        return all(any(x.decision_id == i for xs in decided.values() for x in xs) for i in ids)

    ledger = decider.ledger(confirmed)
    checks = {
        "batch 1 in one invocation": len(decider.invocations[0].attempts) == 1,
        "one scale-out decision per target of batch 1": all(
            len(decided[t]) == 1 and decided[t][0].action == "scale_out" for t in ("t0", "t1", "t2", "t3", "t4")
        ),
        "t0 took the next free sequence after the two racing writers": decided["t0"][0].sequence == 3,
        "each decision published once": sorted(delivered) == sorted(d[0].decision_id for t, d in decided.items() if d),
        "batch 2 dead-lettered": decider.invocations[1].state == "dead-lettered" and decided["t5"] == [],
        "inside the Lambda timeout": decider.longest_attempt < decider.timeout_seconds,
    }
    report(figures, "decider", world, ledger, checks)


def business_event(targets: list[str], hours: int = 2, **changes: Any) -> dict[str, Any]:
    detail = {
        "name": "campaign",
        "event_type": "campaign",
        "targets": targets,
        "start": (NOON + timedelta(hours=hours)).isoformat(),
        "end": (NOON + timedelta(hours=hours + 1)).isoformat(),
        "expected_multiplier": 2.0,
    }
    detail.update(changes)
    return detail


def test_intake_stores_valid_events_through_faults_and_keeps_an_invalid_one(world: World, figures):
    world.change(client=short_timeout_client(2.0))
    world.add_asg_targets(3, desired=4)
    proxy, intake = world.proxy, world.function("intake")
    table = world.aws.table_names().business_events
    proxy.inject("throttle", "dynamodb", "PutItem", times=2, when=lambda r: r.mentions(table))
    proxy.inject("reset", "dynamodb", "PutItem", times=1, when=lambda r: r.mentions(table))
    proxy.inject("timeout", "s3", "GetObject", times=1, hold_seconds=2.5)
    details = [
        business_event(["t0"]),
        business_event(["t1", "t2"], hours=4),
        business_event(["t2"], hours=6),
        business_event(["t0"], end=NOON.isoformat()),  # ends before it starts
    ]
    for detail in details:
        envelope = world.envelope(BusinessEvent.model_validate(business_event(["t0"])))
        envelope["detail"] = detail
        intake.invoke(envelope, key=envelope["id"])
    intake.settle()

    store = world.store
    stored = {
        t: [r.event_id for r in store.business_events(t, NOON, NOON + timedelta(days=1))] for t in ("t0", "t1", "t2")
    }
    rejected = store.rejected_events(NOON - timedelta(days=1), NOON + timedelta(days=1))

    def confirmed(invocation: Any) -> bool:
        return all(invocation.key in stored[t] for t in invocation.result["targets"])

    ledger = intake.ledger(confirmed)
    invalid = intake.invocations[3]
    checks = {
        "valid events stored for their targets": stored
        == {"t0": ["evt-00001"], "t1": ["evt-00002"], "t2": ["evt-00002", "evt-00003"]},
        "invalid event kept as rejected, naming the field": len(rejected) == 1
        and rejected[0].event_id == invalid.key
        and any(e.startswith("end:") for e in rejected[0].errors),
        "invalid event dead-lettered after 3 attempts": invalid.state == "dead-lettered",
        "inside the Lambda timeout": intake.longest_attempt < intake.timeout_seconds,
    }
    report(figures, "intake", world, ledger, checks)


def test_alarm_responder_scales_out_through_faults_and_dead_letters_an_unreachable_group(world: World, figures):
    targets = world.add_asg_targets(3, desired=4)
    group = {t.target_id: t.asg_name or "" for t in targets}
    proxy, store, responder = world.proxy, world.store, world.function("alarm_responder")
    proxy.inject("throttle", "autoscaling", "DescribeAutoScalingGroups", times=2, when=for_group(group["t0"]))
    proxy.inject("before", "dynamodb", "PutItem", times=1, when=state_write_of(world, "t1"),
                 action=competing_writer(store, "t1"), label="conflict")  # fmt: skip
    proxy.inject("server_error", "autoscaling", "DescribeAutoScalingGroups", times=12, when=for_group(group["t2"]))
    for target in targets:
        responder.invoke(alarm_envelope(target.target_id), key=target.target_id)
    responder.settle()

    decided = {t.target_id: store.decisions(t.target_id, *DAY) for t in targets}
    ledger = responder.ledger(lambda i: [d.decision_id for d in decided[i.key]] == [i.result["decision_id"]])
    checks = {
        "t0 and t1 scaled out reactively": all(
            decided[t][0].reactive and decided[t][0].desired_capacity > 4 for t in ("t0", "t1")
        ),
        "t1 took the sequence after the racing writer": decided["t1"][0].sequence == 2,
        "t2 dead-lettered, no decision": responder.invocations[2].state == "dead-lettered" and decided["t2"] == [],
        "bounded: 4 tries per invocation": proxy.rules[2].fired == 12,
        "inside the Lambda timeout": responder.longest_attempt < responder.timeout_seconds,
    }
    report(figures, "alarm_responder", world, ledger, checks)
