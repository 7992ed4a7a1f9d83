"""The executor through the bus: forecast_only changes nothing, failures roll back, duplicates scale once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from e2e_support import Pipeline, asg_target, count_calls, fail_calls, five_minute_index

from events.contracts import ScalingDecided, ScalingExecuted, ScalingFailed
from tests.support.decisions import record

pytestmark = pytest.mark.integration

DAY = datetime(2026, 3, 10, tzinfo=UTC)


def decision(target_id: str, *, desired: int, previous: int, sequence: int = 1, decision_id: str = "decision-e2e-1"):
    return ScalingDecided(
        decision_id=decision_id,
        target_id=target_id,
        kind="asg",
        mode="direct",
        decided_at=DAY + timedelta(hours=12),
        valid_until=DAY + timedelta(hours=12, minutes=7),
        sequence=sequence,
        previous_desired=previous,
        desired_capacity=desired,
        min_capacity=1,
        max_capacity=60,
        action="scale_out" if desired > previous else "scale_in",
        confidence=0.9,
        reason="test decision",
    )


def publish(pipeline: Pipeline, *decisions: ScalingDecided) -> None:
    """Record the decisions as the decider does (the executor acts only on those), then put them on the bus."""
    record(pipeline.store, *decisions)
    pipeline.put_events(*decisions)


def actions(pipeline: Pipeline, target_id: str) -> list[ScalingExecuted | ScalingFailed]:
    return pipeline.store.actions(target_id, DAY, DAY + timedelta(days=1))


def test_forecast_only_records_decisions_and_changes_nothing(pipeline: Pipeline):
    # GIVEN a forecast_only target whose load is five times what its group can serve
    web = asg_target("web", f"{pipeline.aws.prefix}-web", mode="forecast_only")
    asg = web.asg_name or ""
    pipeline.aws.create_asg(asg, desired=2, min_size=1, max_size=60)
    pipeline.aws.put_targets([web])
    history = five_minute_index(DAY - timedelta(days=2), DAY + timedelta(hours=12))
    pipeline.seed_history("web", history, np.full(len(history), 1000.0))
    autoscaling = pipeline.components.client("autoscaling", retries=1)
    writes = count_calls(autoscaling, "SetDesiredCapacity") + count_calls(autoscaling, "UpdateAutoScalingGroup")
    # WHEN two rounds run
    for minutes in (0, 5):
        at = DAY + timedelta(hours=12, minutes=minutes)
        pipeline.put_load(web, at - timedelta(seconds=300), 1000.0)
        pipeline.run_round(at + timedelta(seconds=10))
    # THEN each decision is recorded (a scale-out to at least 12, marked as not executed): the decider's
    # two, and the alarm responder's on the SLO breach the second round detects (2 of 3 periods above)
    recorded = pipeline.store.decisions("web", DAY, DAY + timedelta(days=1))
    assert [d.mode for d in recorded] == ["forecast_only"] * 3
    assert [d.reason.startswith("SLO breach") for d in recorded] == [False, False, True]
    assert recorded[0].action == "scale_out" and recorded[0].desired_capacity >= 12  # 1,000 at 90 each
    assert "forecast_only: not executed" in recorded[0].reason
    audit = pipeline.archive.read_audit("web", DAY, DAY + timedelta(days=1))
    assert set(audit["record"]) >= {"decision", "forecast"}
    # ... the executor saw the scale-out and refused it, and the group never changed
    assert [r["status"] for r in pipeline.results("executor")] == ["skipped"] * 3
    assert pipeline.aws.asg_desired(asg) == (2, 1, 60)
    assert writes == [] and actions(pipeline, "web") == []


def test_failing_capacity_call_is_retried_then_rolled_back_and_reported(pipeline: Pipeline):
    # GIVEN a group at 8 whose minimum (6) is above the decided 3: the executor must lower the
    # minimum, then set desired; setting desired is throttled on every attempt
    web = asg_target("web", f"{pipeline.aws.prefix}-web")
    asg = web.asg_name or ""
    pipeline.aws.create_asg(asg, desired=8, min_size=6, max_size=60)
    pipeline.aws.put_targets([web])
    autoscaling = pipeline.components.client("autoscaling", retries=1)
    throttled = fail_calls(autoscaling, "SetDesiredCapacity", times=100)
    bounds = count_calls(autoscaling, "UpdateAutoScalingGroup")
    # WHEN the decision arrives through the bus
    publish(pipeline, decision("web", desired=3, previous=8))
    delivered = pipeline.router.pump()
    # THEN it was tried 4 times (backoff with jitter, sleep injected), the minimum was put back,
    # and ScalingFailed says so; the group is exactly as before
    assert [d.function for d in delivered] == ["executor"] and delivered[0].error is None
    outcome = delivered[0].result
    assert outcome["status"] == "failed" and outcome["rolled_back"] is True and outcome["attempts"] == 4
    assert len(throttled) == 4 and len(bounds) == 2  # lower the minimum, restore it
    assert pipeline.aws.asg_desired(asg) == (8, 6, 60)
    (failed,) = actions(pipeline, "web")
    assert isinstance(failed, ScalingFailed)
    assert (failed.error_code, failed.attempts, failed.rolled_back, failed.restored_capacity) == (
        "Throttling",
        4,
        True,
        8,
    )
    state = pipeline.store.get_target_state("web")
    assert state.executed_sequence == 1 and state.last_safe_capacity == 8


def test_throttling_that_clears_within_the_attempts_succeeds(pipeline: Pipeline):
    web = asg_target("web", f"{pipeline.aws.prefix}-web")
    asg = web.asg_name or ""
    pipeline.aws.create_asg(asg, desired=2, min_size=1, max_size=60)
    pipeline.aws.put_targets([web])
    throttled = fail_calls(pipeline.components.client("autoscaling", retries=1), "SetDesiredCapacity", times=2)
    publish(pipeline, decision("web", desired=9, previous=2))
    (delivered,) = pipeline.router.pump()
    assert delivered.result["status"] == "executed" and delivered.result["attempts"] == 3
    assert len(throttled) == 2 and pipeline.aws.asg_desired(asg)[0] == 9
    (executed,) = actions(pipeline, "web")
    assert isinstance(executed, ScalingExecuted) and executed.verified and executed.new_capacity == 9


def test_duplicate_delivery_of_one_decision_scales_once(pipeline: Pipeline):
    # GIVEN one decision delivered twice (EventBridge delivers at least once)
    web = asg_target("web", f"{pipeline.aws.prefix}-web")
    asg = web.asg_name or ""
    pipeline.aws.create_asg(asg, desired=2, min_size=1, max_size=60)
    pipeline.aws.put_targets([web])
    sets = count_calls(pipeline.components.client("autoscaling", retries=1), "SetDesiredCapacity")
    same = decision("web", desired=5, previous=2)
    publish(pipeline, same, same)
    # WHEN both deliveries reach the executor
    delivered = pipeline.router.pump()
    # THEN the group was changed once; the second delivery got the first one's stored outcome
    assert [d.function for d in delivered] == ["executor", "executor"]
    assert delivered[0].result == delivered[1].result and delivered[0].result["status"] == "executed"
    assert len(sets) == 1 and pipeline.aws.asg_desired(asg)[0] == 5
    assert len(actions(pipeline, "web")) == 1
    # ... and the idempotency record (keyed by the whole decision) is in the idempotency table
    items = pipeline.aws.client("dynamodb").scan(TableName=pipeline.aws.idempotency_table)["Items"]
    assert len(items) == 1 and items[0]["status"]["S"] == "COMPLETED"


def test_an_older_decision_arriving_late_is_ignored(pipeline: Pipeline):
    web = asg_target("web", f"{pipeline.aws.prefix}-web")
    asg = web.asg_name or ""
    pipeline.aws.create_asg(asg, desired=2, min_size=1, max_size=60)
    pipeline.aws.put_targets([web])
    # GIVEN two recorded decisions, the newer one delivered first
    old = decision("web", desired=3, previous=2, sequence=1, decision_id="decision-old")
    new = decision("web", desired=7, previous=2, sequence=2, decision_id="decision-new")
    record(pipeline.store, old, new)
    pipeline.put_events(new)
    pipeline.router.pump()
    # WHEN the older one arrives THEN it is refused as superseded, naming the newer one
    pipeline.put_events(old)
    (late,) = pipeline.router.pump()
    assert late.result["status"] == "skipped" and late.result["refused"] == "superseded"
    assert "newer decision decision-new" in late.result["reason"], late.result["reason"]
    assert pipeline.aws.asg_desired(asg)[0] == 7


def test_decision_outside_the_configured_bounds_is_clamped(pipeline: Pipeline):
    # GIVEN a target configured for at most 10 (the group allows 60) and a decision for 40
    web = asg_target("web", f"{pipeline.aws.prefix}-web", max_capacity=10)
    asg = web.asg_name or ""
    pipeline.aws.create_asg(asg, desired=2, min_size=1, max_size=60)
    pipeline.aws.put_targets([web])
    publish(pipeline, decision("web", desired=40, previous=2).model_copy(update={"max_capacity": 60}))
    (delivered,) = pipeline.router.pump()
    assert delivered.result["status"] == "executed" and pipeline.aws.asg_desired(asg)[0] == 10
