"""Operator API (through the real handler), intake rules, the alarm responder and the reactive arithmetic."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from service_support import NOON, target

from events.contracts import BusinessEvent, ScalingDecided, SloBreached
from forescale_tools.local_router import LambdaContext
from functions.domain.reactive import alarm_scale_out
from functions.services.intake import RejectedEventError


def url_event(method: str, path: str, *, query: dict[str, str] | None = None, body: Any = None) -> dict[str, Any]:
    """A Lambda function URL request (payload format 2.0)."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "queryStringParameters": query,
        "headers": {"content-type": "application/json", "host": "abc.lambda-url.us-east-1.on.aws"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": "abc.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "test",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "10/Mar/2026:12:00:00 +0000",
            "timeEpoch": 1773144000000,
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def call(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    from functions.handlers import api

    response = api.handler(url_event(method, path, **kwargs), LambdaContext("api", "req-1"))
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def sale(**changes: Any) -> dict[str, Any]:
    body = {
        "name": "sale",
        "event_type": "campaign",
        "targets": ["web"],
        "start": (NOON + timedelta(hours=2)).isoformat(),
        "end": (NOON + timedelta(hours=3)).isoformat(),
        "expected_multiplier": 2.0,
    }
    body.update(changes)
    return body


def test_health_targets_forecast_and_decisions(memory, clock):
    world = memory([target("web", tags={"team": "shop"})])
    status, health = call("GET", "/health")
    assert status == 200 and health["status"] == "ok" and health["targets"] == 1 and health["kill_switch"] is False
    status, targets = call("GET", "/targets")
    assert status == 200 and targets[0]["target"]["target_id"] == "web" and targets[0]["latest_forecast"] is None
    status, _ = call("GET", "/targets/web/forecast")
    assert status == 404
    status, unknown = call("GET", "/targets/ghost/decisions")
    assert status == 404 and unknown["errors"][0]["field"] == "target_id"
    decision = ScalingDecided(
        decision_id="d-1", target_id="web", kind="asg", mode="direct", decided_at=NOON - timedelta(minutes=5),
        valid_until=NOON + timedelta(minutes=2), sequence=1, previous_desired=2, desired_capacity=4, min_capacity=1, max_capacity=60, action="scale_out",
        confidence=0.8, reason="test",
    )  # fmt: skip
    world.store.record_decision(decision)
    status, found = call(
        "GET", "/targets/web/decisions", query={"start": (NOON - timedelta(hours=1)).isoformat().replace("+00:00", "Z")}
    )
    assert status == 200 and [d["decision_id"] for d in found["decisions"]] == ["d-1"]
    status, bad = call("GET", "/targets/web/decisions", query={"start": "yesterday"})
    assert status == 422 and bad["errors"][0]["field"] == "start"


def test_post_event_validates_then_puts_it_on_the_bus(memory):
    world = memory([target("web")])
    status, accepted = call("POST", "/events", body=sale())
    assert status == 202 and accepted["targets"] == ["web"]
    (published,) = world.bus.published(BusinessEvent)
    assert published.name == "sale"
    # invalid: the contract's own message names the field; nothing reaches the bus
    status, refused = call("POST", "/events", body=sale(end=(NOON + timedelta(hours=1)).isoformat()))
    assert status == 422 and refused["errors"] == [{"field": "end", "reason": "must be after start"}]
    status, refused = call("POST", "/events", body=sale(expected_multiplier="lots"))
    assert status == 422 and refused["errors"][0]["field"] == "expected_multiplier"
    status, refused = call("POST", "/events", body=sale(targets=["ghost"]))
    assert status == 422 and refused["errors"] == [
        {"field": "targets.0", "reason": "'ghost' is not a configured or discovered target"}
    ]
    assert len(world.bus.published(BusinessEvent)) == 1


def test_get_events_lists_stored_and_rejected(memory, clock):
    world = memory([target("web")])
    event = BusinessEvent.model_validate(sale())
    world.store.put_business_event("ev-1", event, ["web"], received_at=NOON)
    with pytest.raises(RejectedEventError):
        world.components.intake.accept("ev-2", sale(event_type="Bad Type"), received_at=NOON)
    window = {"start": "2026-03-10T11:00:00Z", "end": "2026-03-11T12:00:00Z"}
    status, listed = call("GET", "/events", query=window)
    assert status == 200
    assert [e["event_id"] for e in listed["events"]] == ["ev-1"]
    assert listed["rejected"][0]["event_id"] == "ev-2" and listed["rejected"][0]["errors"][0].startswith("event_type:")


def test_openapi_schema_is_served_and_describes_every_route(memory):
    memory([target("web")])
    status, schema = call("GET", "/openapi.json")
    assert status == 200 and schema["info"]["title"] == "forescale operator API"
    paths = schema["paths"]
    assert set(paths) >= {
        "/health",
        "/targets",
        "/targets/{target_id}/forecast",
        "/targets/{target_id}/decisions",
        "/events",
    }
    assert set(paths["/events"]) == {"get", "post"}
    assert "BusinessEvent" in json.dumps(schema["components"])


def test_intake_resolves_tag_selectors(memory):
    world = memory([target("web", tags={"team": "shop"}), target("api", tags={"team": "core"})])
    stored = world.components.intake.accept("ev-1", sale(targets=[], tag_selector={"team": "shop"}), received_at=NOON)
    assert [r.target_id for r in stored] == ["web"]
    with pytest.raises(RejectedEventError) as raised:
        world.components.intake.accept("ev-2", sale(targets=[], tag_selector={"team": "nobody"}), received_at=NOON)
    assert raised.value.errors == [{"field": "tag_selector", "reason": "matches no target's tags"}]
    (kept,) = world.store.rejected_events(NOON - timedelta(hours=1), NOON + timedelta(hours=1))
    assert kept.errors == ("tag_selector: matches no target's tags",)


def test_intake_names_every_bad_field(memory):
    world = memory([target("web")])
    with pytest.raises(RejectedEventError) as raised:
        world.components.intake.accept("ev-3", {"name": "", "event_type": "x", "start": "tomorrow"}, received_at=NOON)
    fields = {e["field"] for e in raised.value.errors}
    assert {"name", "start", "end"} <= fields


@pytest.mark.parametrize(
    ("desired", "in_service", "utilization", "expected"),
    [(4, 4, 1.2, 8), (4, 4, 0.61, 5), (50, 50, 2.0, 60), (10, 2, 1.5, 11)],
)
def test_reactive_scale_out_arithmetic(desired, in_service, utilization, expected):
    web = target("web", max_capacity=60, max_step_up=20)
    assert alarm_scale_out(web, desired=desired, in_service=in_service, datapoints=[utilization]) == expected


def breach(target_id: str, datapoints: list[float], in_service: int = 4) -> SloBreached:
    return SloBreached(
        breach_id=f"breach-{target_id}", target_id=target_id, detected_at=NOON, datapoint_at=NOON,
        slo_utilization=0.9, datapoints=datapoints, evaluation_periods=3, datapoints_to_alarm=2,
        in_service_capacity=in_service, desired_capacity=in_service,
    )  # fmt: skip


def test_a_breach_of_an_unknown_target_is_ignored(memory):
    # GIVEN a responder that knows "web" only WHEN a breach names "ghost" THEN it is ignored, naming it
    world = memory([target("web")])
    response = world.components.alarm_responder.respond(breach("ghost", [0.95, 0.97]))
    assert response.status == "ignored" and "ghost" in response.reason


def test_a_breach_scales_out_from_its_highest_datapoint_and_records_the_miss(memory):
    # GIVEN "web" at 4 instances, breached at 0.95 then 1.2
    web = target("web", max_capacity=60, max_step_up=20)
    world = memory([web])
    world.capacity.add_asg("web-asg", desired=4, min_capacity=1, max_capacity=60)
    # WHEN the responder gets the breach
    response = world.components.alarm_responder.respond(breach("web", [0.95, 1.2]))
    # THEN it asks for what brings the highest datapoint back to the set-point, as the replay's responder
    assert response.status == "decided" and response.target_id == "web"
    assert response.desired == alarm_scale_out(web, desired=4, in_service=4, datapoints=[0.95, 1.2])
    assert "SLO breach breach-web" in response.reason
