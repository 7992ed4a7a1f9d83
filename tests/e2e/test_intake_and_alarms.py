"""Business-event intake (malformed events are rejected with the field named, and kept) and SLO breaches."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from e2e_support import Pipeline, asg_target

from events.base import to_put_events_entry
from events.contracts import BusinessEvent, ScalingExecuted, SloBreached

pytestmark = pytest.mark.integration

DAY = datetime(2026, 3, 10, tzinfo=UTC)


def test_malformed_business_event_is_rejected_with_the_field_named_and_kept(pipeline: Pipeline):
    pipeline.aws.put_targets([asg_target("web", "web-asg")])
    pipeline.clock.current = DAY + timedelta(hours=9)
    # GIVEN a business event that ends before it starts and names a target that does not exist
    detail = {
        "name": "launch",
        "event_type": "launch",
        "targets": ["web", "no/such-target"],
        "start": "2026-03-11T12:00:00Z",
        "end": "2026-03-11T10:00:00Z",
        "expected_multiplier": 3,
    }
    pipeline.put_events(
        entries=[
            {
                "Source": BusinessEvent.SOURCE,
                "DetailType": BusinessEvent.DETAIL_TYPE,
                "Detail": json.dumps(detail),
                "EventBusName": pipeline.aws.bus,
            }
        ]
    )
    # WHEN the intake function gets it
    (delivery,) = pipeline.router.pump()
    # THEN every attempt fails with the field and the reason, and it ends in the dead-letter queue ...
    assert delivery.function == "intake" and delivery.attempts == 3
    assert "end: must be after start" in str(delivery.error)
    assert pipeline.router.dead_letters == [delivery]
    # ... and the store keeps the payload with its errors (once, although it was tried three times)
    now = datetime.now(UTC)  # EventBridge stamps the envelope; intake keeps that time
    (kept,) = pipeline.store.rejected_events(now - timedelta(days=1), now + timedelta(days=1))
    assert kept.event_id == delivery.event["id"] and json.loads(kept.payload) == detail
    assert any(error.startswith("end:") for error in kept.errors), kept.errors
    assert pipeline.store.business_events("web", DAY, DAY + timedelta(days=3)) == []


def test_unknown_target_is_rejected_and_kept(pipeline: Pipeline):
    pipeline.aws.put_targets([asg_target("web", "web-asg")])
    event = BusinessEvent(
        name="launch",
        event_type="launch",
        targets=["web", "ghost"],
        start=DAY + timedelta(hours=12),
        end=DAY + timedelta(hours=13),
        expected_multiplier=2.0,
    )
    pipeline.put_events(event)
    (delivery,) = pipeline.router.pump()
    assert "targets.1: 'ghost' is not a configured or discovered target" in str(delivery.error)
    now = datetime.now(UTC)
    (kept,) = pipeline.store.rejected_events(now - timedelta(days=1), now + timedelta(days=1))
    assert kept.errors == ("targets.1: 'ghost' is not a configured or discovered target",)


def test_slo_breach_scales_out_at_once_and_records_the_miss(pipeline: Pipeline):
    # GIVEN a target the decider found breaching its SLO (utilisation 1.05 then 1.2 for a 0.9 SLO, 4 in service)
    web = asg_target("web", f"{pipeline.aws.prefix}-web")
    asg = web.asg_name or ""
    pipeline.aws.create_asg(asg, desired=4, min_size=1, max_size=60)
    pipeline.aws.put_targets([web])
    pipeline.clock.current = DAY + timedelta(hours=12)
    breach = SloBreached(
        breach_id="breach-000001", target_id="web", detected_at=DAY + timedelta(hours=12),
        datapoint_at=DAY + timedelta(hours=11, minutes=59), slo_utilization=0.9, datapoints=[1.05, 1.2],
        evaluation_periods=3, datapoints_to_alarm=2, in_service_capacity=4, desired_capacity=4,
    )  # fmt: skip
    # WHEN the SloBreached is on the forescale bus, where the responder's rule (built from the contract) listens
    response = pipeline.aws.client("events").put_events(
        Entries=[to_put_events_entry(breach, bus_name=pipeline.aws.bus)]
    )
    assert response["FailedEntryCount"] == 0
    delivered = pipeline.router.pump()
    # THEN the responder decided at once (1.2 x 4 / 0.6 = 8) and the executor applied it
    assert [d.function for d in delivered] == ["alarm_responder", "executor"], delivered
    assert delivered[0].result["desired"] == 8 and delivered[1].result["status"] == "executed"
    assert pipeline.aws.asg_desired(asg)[0] == 8
    (decision,) = pipeline.store.decisions("web", DAY, DAY + timedelta(days=1))
    assert decision.reactive and decision.action == "scale_out" and "SLO breach breach-000001" in decision.reason
    (action,) = pipeline.store.actions("web", DAY, DAY + timedelta(days=1))
    assert isinstance(action, ScalingExecuted) and action.new_capacity == 8
    # ... and the forecast miss is in the audit trail
    audit = pipeline.archive.read_audit("web", DAY, DAY + timedelta(days=1))
    misses = audit[audit["record"] == "forecast_miss"]
    assert len(misses) == 1 and misses.iloc[0]["utilization"] == 1.2
