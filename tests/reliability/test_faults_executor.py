"""Executor under injected faults: each decision is executed, reported as failed and rolled back, or dead-lettered."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest

from events.contracts import ScalingDecided, ScalingExecuted, ScalingFailed
from tests.support.decisions import record
from tests.support.world import NOON, World, for_group, report, short_timeout_client

pytestmark = pytest.mark.integration


def decision(target_id: str, *, desired: int, previous: int = 4, sequence: int = 1) -> ScalingDecided:
    return ScalingDecided(
        decision_id=f"decision-{target_id}-{sequence}",
        target_id=target_id,
        kind="asg",
        mode="direct",
        decided_at=NOON,
        valid_until=NOON + timedelta(minutes=7),
        sequence=sequence,
        previous_desired=previous,
        desired_capacity=desired,
        min_capacity=1,
        max_capacity=40,
        action="scale_out" if desired > previous else "scale_in",
        confidence=0.9,
        reason="reliability test",
    )


def idempotency_record_of(decided: ScalingDecided):
    """A proxy rule condition: a DynamoDB request about the Powertools idempotency record of ``decided``
    (keyed by the md5 of the decision's JSON, keys sorted, as ``event_key_jmespath=""`` makes it)."""
    digest = hashlib.md5(json.dumps(decided.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    return lambda request: request.mentions(digest)


def test_executor_survives_throttling_5xx_resets_timeouts_and_outages(world: World, figures):
    # GIVEN eight groups at 4, and short read timeouts so that an injected timeout costs 2.5 s (long enough
    # that an ordinary request on a loaded 2-core machine never times out by itself)
    world.change(client=short_timeout_client(2.5))
    targets = world.add_asg_targets(8, desired=4)
    group = {t.target_id: t.asg_name or "" for t in targets}
    proxy = world.proxy
    # transient faults, one kind per group: each clears within the executor's own retries
    proxy.inject("throttle", "autoscaling", "SetDesiredCapacity", times=2, when=for_group(group["t0"]))
    proxy.inject("server_error", "autoscaling", "DescribeAutoScalingGroups", times=2, when=for_group(group["t1"]))
    proxy.inject("reset", "autoscaling", "SetDesiredCapacity", times=1, when=for_group(group["t2"]))
    proxy.inject("timeout", "autoscaling", "DescribeAutoScalingGroups", times=1, when=for_group(group["t3"]),
                 hold_seconds=3.0)  # fmt: skip
    proxy.inject("throttle", "events", "PutEvents", times=1, when=lambda r: r.mentions("decision-t4-1"))
    # t5: every SetDesiredCapacity throttled: the executor must give up, roll back and report it
    proxy.inject("throttle", "autoscaling", "SetDesiredCapacity", times=1000, when=for_group(group["t5"]))
    # t6: DynamoDB refuses the idempotency record on every attempt: the invocation fails cleanly
    proxy.inject(
        "server_error", "dynamodb", "PutItem", times=1000, when=idempotency_record_of(decision("t6", desired=9))
    )
    # t7: DynamoDB throttles long enough to fail the first invocation, then recovers (Lambda's retry wins)
    proxy.inject("throttle", "dynamodb", "PutItem", times=3, when=idempotency_record_of(decision("t7", desired=9)))
    executor = world.function("executor")

    # WHEN one decision per group arrives (scale out to 9; t1 scales in to 2)
    for target in targets:
        decided = decision(target.target_id, desired=2 if target.target_id == "t1" else 9)
        record(world.store, decided)
        executor.invoke(world.envelope(decided), key=target.target_id)
    # ... Lambda's first retry has run, the second not yet
    executor.retry_pending()
    midway = executor.ledger(lambda i: True)
    executor.settle()

    # THEN every decision ended somewhere: executed (t0-t4, t7), failed and rolled back (t5), dead-lettered (t6)
    store = world.store
    day = (NOON - timedelta(days=1), NOON + timedelta(days=1))
    actions = {t.target_id: store.actions(t.target_id, *day) for t in targets}

    def confirmed(invocation) -> bool:
        recorded = actions[invocation.key]
        return len(recorded) == 1 and recorded[0].decision_id == f"decision-{invocation.key}-1"

    # t5's decision ended as a recorded ScalingFailed, rolled back: contained, not a success
    ledger = executor.ledger(
        confirmed, reported_failed=lambda i: any(isinstance(a, ScalingFailed) for a in actions[i.key])
    )
    state = {t.target_id: world.desired(t) for t in targets}
    outcomes = {i.key: (i.state, (i.result or {}).get("status")) for i in executor.invocations}
    failed = actions["t5"][0] if actions["t5"] else None
    checks = {
        "midway: t6 still pending a retry": midway.pending == 1 and midway.lost == 0,
        "transient faults executed": all(
            outcomes[t] == ("succeeded", "executed") for t in ("t0", "t2", "t3", "t4", "t7")
        ),
        "scale-in executed": outcomes["t1"] == ("succeeded", "executed") and state["t1"][0] == 2,
        "scaled out where executed": all(state[t][0] == 9 for t in ("t0", "t2", "t3", "t4", "t7")),
        "executed events verified": all(
            isinstance(actions[t][0], ScalingExecuted) and actions[t][0].verified
            for t in ("t0", "t1", "t2", "t3", "t4")
        ),
        "persistent throttle reported and rolled back": isinstance(failed, ScalingFailed)
        and failed.rolled_back
        and failed.error_code == "Throttling"
        and state["t5"] == (4, 1, 40),
        "outage dead-lettered, group untouched": outcomes["t6"][0] == "dead-lettered" and state["t6"] == (4, 1, 40),
        "executor's own retries absorbed t0-t5 in one invocation": all(
            len(i.attempts) == 1 for i in executor.invocations[:6]
        ),
        "t7 needed Lambda's retry": len(executor.invocations[7].attempts) == 2,
        "dead letter names the decision": [b["detail"]["decision_id"] for b in world.dead_letter_bodies()]
        == ["decision-t6-1"],
        "within bounds": all(1 <= s[0] <= 40 for s in state.values()),
        "every attempt inside the Lambda timeout": executor.longest_attempt < executor.timeout_seconds,
    }
    report(figures, "executor", world, ledger, checks)
    # bounded: the throttled t5 saw the executor's 4 attempts, no more; the outage t6 botocore's 3 per invocation
    assert proxy.rules[6].fired == 3 * 3
    assert proxy.rules[5].fired == 4


def test_an_older_decision_racing_a_newer_one_never_wins(world: World, figures):
    """Decisions 1 and 2 for one group arrive out of order (EventBridge does not order events)."""
    (target,) = world.add_asg_targets(1, desired=4)
    executor = world.function("executor")
    old, new = decision("t0", desired=6, sequence=1), decision("t0", desired=12, sequence=2)
    record(world.store, old, new)
    executor.invoke(world.envelope(new), key="new")
    executor.invoke(world.envelope(old), key="old")
    results = {i.key: i.result for i in executor.invocations}
    ledger = executor.ledger(lambda i: i.result is not None)
    checks = {
        "newer executed": results["new"]["status"] == "executed",
        "older skipped as superseded": results["old"]["status"] == "skipped"
        and "superseded" in results["old"]["reason"],
        "group at the newer decision": world.desired(target)[0] == 12,
    }
    report(figures, "executor", world, ledger, checks)
