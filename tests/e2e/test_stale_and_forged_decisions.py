"""The executor acts only on the newest decision the decider recorded for a target, and only while it is valid.

Through the handlers on moto's server: a scale-in delivered late, after the decider has decided to hold
(recorded, not published), is refused as superseded; a decision past its ``valid_until`` is refused as
expired; a ``ScalingDecided`` the decider never recorded (forged, or corrupt: sequence 2^62) is refused
and does not stop the next real decision from being executed. Each refusal is kept with its reason.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from e2e_support import Pipeline, asg_target, five_minute_index

from events.contracts import ScalingDecided

pytestmark = pytest.mark.integration

DAY = datetime(2026, 3, 10, tzinfo=UTC)
NOON = DAY + timedelta(hours=12)


def oversized_group(pipeline: Pipeline) -> tuple[str, Any]:
    """A group at 10 whose load (300 at 100 per instance, 0.9 utilisation) needs 4: a round scales it in."""
    web = asg_target("web", f"{pipeline.aws.prefix}-web", scale_in_stabilization_seconds=0)
    asg = web.asg_name or ""
    pipeline.aws.create_asg(asg, desired=10, min_size=1, max_size=60)
    pipeline.aws.put_targets([web])
    history = five_minute_index(DAY - timedelta(days=2), NOON)
    pipeline.seed_history("web", history, np.full(len(history), 300.0))
    pipeline.put_load(web, NOON - timedelta(minutes=5), 300.0)
    return asg, web


def failing_executor(_event: dict[str, Any], _context: Any) -> Any:
    raise RuntimeError("Rate Exceeded (injected: the executor cannot be invoked)")


def refusals(pipeline: Pipeline) -> list[dict[str, Any]]:
    audit = pipeline.archive.read_audit("web", DAY, DAY + timedelta(days=1))
    if audit.empty:
        return []
    rows = audit[audit["record"] == "refusal"]
    return [dict(row) for _, row in rows.iterrows()]


def test_a_late_scale_in_after_a_newer_hold_is_refused_as_superseded(pipeline: Pipeline):
    asg, web = oversized_group(pipeline)
    # GIVEN round 1 decides 10 -> 4, but every delivery of it to the executor fails (Lambda keeps it)
    pipeline.router.handlers["executor"] = failing_executor
    pipeline.run_round(NOON + timedelta(seconds=10))
    (late,) = pipeline.router.dead_letters
    assert late.function == "executor" and late.event["detail"]["desired_capacity"] == 4
    del pipeline.router.handlers["executor"]
    # AND round 2, five minutes later, sees the load back and holds 10 (recorded, not published)
    pipeline.put_load(web, NOON, 900.0)
    pipeline.run_round(NOON + timedelta(minutes=5, seconds=10))
    first, second = pipeline.store.decisions("web", DAY, DAY + timedelta(days=1))
    assert (first.action, first.desired_capacity) == ("scale_in", 4)
    assert (second.action, second.desired_capacity, second.sequence) == ("hold", 10, first.sequence + 1)
    # WHEN the scale-in arrives 8 minutes after round 1 (Lambda's retry, a dead-letter redrive)
    pipeline.clock.current = NOON + timedelta(minutes=8)
    retried = pipeline.router.invoke("executor", late.event)
    # THEN the group stays at 10, and the refusal is kept with its reason
    assert retried.error is None, retried.error
    assert retried.result["status"] == "skipped" and retried.result["refused"] == "superseded", retried.result
    assert f"newer decision {second.decision_id}" in retried.result["reason"], retried.result["reason"]
    assert pipeline.aws.asg_desired(asg)[0] == 10
    assert pipeline.store.actions("web", DAY, DAY + timedelta(days=1)) == []
    (kept,) = refusals(pipeline)
    assert (kept["decision_id"], kept["refused"]) == (first.decision_id, "superseded")
    assert kept["reason"] == retried.result["reason"]


def test_a_decision_past_its_validity_is_refused_as_expired(pipeline: Pipeline):
    asg, web = oversized_group(pipeline)
    # GIVEN round 1 decides 10 -> 4 and its delivery fails; no newer decision is made
    pipeline.router.handlers["executor"] = failing_executor
    pipeline.run_round(NOON + timedelta(seconds=10))
    (late,) = pipeline.router.dead_letters
    del pipeline.router.handlers["executor"]
    (decided,) = pipeline.store.decisions("web", DAY, DAY + timedelta(days=1))
    # ... valid for one decision interval (300 s) and two minutes after it was made
    assert decided.valid_until == NOON + timedelta(seconds=10 + 300 + 120)
    # WHEN it arrives 8 minutes after it was made
    pipeline.clock.current = NOON + timedelta(minutes=8)
    retried = pipeline.router.invoke("executor", late.event)
    # THEN it is refused as expired, the group keeps its 10
    assert retried.result["status"] == "skipped" and retried.result["refused"] == "expired", retried.result
    assert "valid until 12:07:10" in retried.result["reason"], retried.result["reason"]
    assert pipeline.aws.asg_desired(asg)[0] == 10
    assert [r["refused"] for r in refusals(pipeline)] == ["expired"]
    # AND (control) delivered while valid, a decision is executed
    pipeline.put_load(web, NOON + timedelta(minutes=5), 300.0)
    pipeline.run_round(NOON + timedelta(minutes=10, seconds=10))
    assert pipeline.aws.asg_desired(asg)[0] == 4


def forged(pipeline: Pipeline, **changes: Any) -> dict[str, Any]:
    """A ``ScalingDecided`` entry that looks like the decider's (source, shape) but was never recorded."""
    detail = {
        "schema_version": 1,
        "decision_id": "decision-forged-1",
        "target_id": "web",
        "kind": "asg",
        "mode": "direct",
        "decided_at": NOON.isoformat(),
        "valid_until": (NOON + timedelta(minutes=7)).isoformat(),
        "sequence": 2**62,
        "previous_desired": 10,
        "desired_capacity": 1,
        "min_capacity": 1,
        "max_capacity": 60,
        "action": "scale_in",
        "confidence": 0.99,
        "reactive": False,
        "reason": "forged",
    } | changes
    return {
        "Source": ScalingDecided.SOURCE,
        "DetailType": ScalingDecided.DETAIL_TYPE,
        "Detail": json.dumps(detail),
        "EventBusName": pipeline.aws.bus,
    }


def test_a_forged_decision_is_not_executed_and_does_not_stop_the_real_ones(pipeline: Pipeline):
    asg, _ = oversized_group(pipeline)
    pipeline.clock.current = NOON
    # GIVEN a forged decision with sequence 2^62, and one within bounds that the decider never recorded
    pipeline.put_events(entries=[forged(pipeline)])
    absurd = pipeline.router.pump()
    pipeline.put_events(entries=[forged(pipeline, decision_id="decision-forged-2", sequence=1)])
    (unrecorded,) = pipeline.router.pump()
    # THEN neither changed the group: the first is refused by the contract (the field named, dead-lettered)
    assert [d.function for d in absurd] == ["executor"] and "sequence" in str(absurd[0].error), absurd[0].error
    # ... the second is refused because the decider never recorded it, and the refusal is kept
    assert unrecorded.result["status"] == "skipped" and unrecorded.result["refused"] == "unrecorded"
    assert "not recorded by the decider" in unrecorded.result["reason"], unrecorded.result["reason"]
    assert pipeline.aws.asg_desired(asg)[0] == 10
    assert [(r["decision_id"], r["refused"]) for r in refusals(pipeline)] == [("decision-forged-2", "unrecorded")]
    # WHEN the next real round decides 10 -> 4
    pipeline.run_round(NOON + timedelta(seconds=10))
    # THEN it is executed
    (executed,) = pipeline.results("executor")
    assert executed["status"] == "executed", executed
    assert pipeline.aws.asg_desired(asg)[0] == 4


def test_a_recorded_decision_altered_on_the_way_is_refused(pipeline: Pipeline):
    asg, _ = oversized_group(pipeline)
    # GIVEN round 1's decision (10 -> 4) whose delivery fails, then is put again with desired 1
    pipeline.router.handlers["executor"] = failing_executor
    pipeline.run_round(NOON + timedelta(seconds=10))
    (late,) = pipeline.router.dead_letters
    del pipeline.router.handlers["executor"]
    altered = dict(late.event, detail=late.event["detail"] | {"desired_capacity": 1, "min_capacity": 1})
    # WHEN the altered copy reaches the executor
    delivery = pipeline.router.invoke("executor", altered)
    # THEN it is refused naming what differs from the record, and the group keeps its 10
    assert delivery.result["refused"] == "unrecorded", delivery.result
    assert "desired_capacity 1 (recorded 4)" in delivery.result["reason"], delivery.result["reason"]
    assert pipeline.aws.asg_desired(asg)[0] == 10
    # AND the genuine decision, still valid, is carried out (the refusal did not take its place)
    genuine = pipeline.router.invoke("executor", late.event)
    assert genuine.result["status"] == "executed", genuine.result
    assert pipeline.aws.asg_desired(asg)[0] == 4
