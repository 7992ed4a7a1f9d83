"""Absurd input through the handlers on moto's server: an enormous forecast, a non-finite expected load,
business events far in the future or long past. None of them may scale a target in or be stored as valid."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from e2e_support import Pipeline, asg_target

from events.contracts import BusinessEvent, ForecastReady, ForecastSummary
from functions.ports.records import StoredForecast

pytestmark = pytest.mark.integration

DAY = datetime(2026, 3, 10, tzinfo=UTC)
NOON = DAY + timedelta(hours=12)


def _forecast_ready(pipeline: Pipeline, target_id: str, value: float, *, desired: int, recent: float) -> None:
    """A stored forecast of ``value`` everywhere for the next two hours and its ``ForecastReady`` on the bus."""
    steps = tuple(NOON + timedelta(minutes=5 * i) for i in range(24))
    flat = tuple(value for _ in steps)
    pipeline.store.put_forecast(
        StoredForecast(
            target_id=target_id,
            forecast_id="forecast-absurd",
            issued_at=NOON,
            model_version="v-test",
            confidence=0.9,
            ds=steps,
            p50=flat,
            p90=flat,
            p99=flat,
            history_end=NOON - timedelta(minutes=5),
        )
    )
    summary = ForecastSummary(
        target_id=target_id,
        forecast_id="forecast-absurd",
        issued_at=NOON,
        history_end=NOON - timedelta(minutes=5),
        step_seconds=300,
        horizon_steps=len(steps),
        model_version="v-test",
        confidence=0.9,
        desired_capacity=desired,
        in_service_capacity=desired,
        recent_load=recent,
    )
    pipeline.put_events(ForecastReady(round_id="round-absurd", forecasts=[summary]))


def test_an_enormous_forecast_scales_out_to_max_capacity_never_in(pipeline: Pipeline):
    # GIVEN a group of 20 (at most 40, 100 per instance, scale-in allowed at once) whose newest load is 300
    web = asg_target("web", f"{pipeline.aws.prefix}-web", max_capacity=40, scale_in_stabilization_seconds=0)
    asg = web.asg_name or ""
    pipeline.aws.create_asg(asg, desired=20, min_size=1, max_size=60)
    pipeline.aws.put_targets([web])
    # ... and a forecast of 1e30 (int64 arithmetic used to wrap it around: "scale in 20 → 4")
    pipeline.clock.current = NOON + timedelta(seconds=10)
    _forecast_ready(pipeline, "web", 1e30, desired=20, recent=300.0)
    # WHEN the decider and the executor get it
    deliveries = pipeline.router.pump()
    assert [d.function for d in deliveries] == ["decider", "executor"], deliveries
    assert all(d.error is None for d in deliveries), deliveries
    # THEN the need saturates at max_capacity: the group goes to 40, with the reason saying so
    (decided,) = pipeline.store.decisions("web", DAY, DAY + timedelta(days=1))
    assert decided.action == "scale_out" and decided.desired_capacity == 40, decided.reason
    assert "max_capacity 40 caps it" in decided.reason
    assert pipeline.aws.asg_desired(asg)[0] == 40


def _raw_business_event(pipeline: Pipeline, detail: dict[str, Any]) -> None:
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


def _sale(**changes: Any) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "name": "sale",
        "event_type": "campaign",
        "targets": ["web"],
        "start": "2026-03-10T12:00:00Z",
        "end": "2026-03-10T14:00:00Z",
    }
    detail.update(changes)
    return detail


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"expected_load": "inf"}, "expected_load", "finite number"),
        ({"expected_load": 1e300}, "expected_load", "less than or equal to"),
        ({"expected_multiplier": "NaN"}, "expected_multiplier", "finite number"),
        (
            {"start": "2036-03-10T12:00:00Z", "end": "2036-03-10T14:00:00Z"},
            "start",
            "more than 31 days after now",
        ),
        (
            {"start": "1990-03-10T12:00:00Z", "end": "1990-03-10T14:00:00Z"},
            "end",
            "more than 90 days before now",
        ),
    ],
)
def test_an_absurd_business_event_is_rejected_with_the_field_named_and_kept(
    pipeline: Pipeline, changes: dict[str, Any], field: str, reason: str
):
    # GIVEN a known target; the intake's clock reads 2026-03-10 09:00
    pipeline.aws.put_targets([asg_target("web", "web-asg")])
    pipeline.clock.current = DAY + timedelta(hours=9)
    # WHEN a business event with an absurd number or time reaches the intake
    detail = _sale(**changes)
    _raw_business_event(pipeline, detail)
    (delivery,) = pipeline.router.pump()
    # THEN it is refused naming the field, kept as rejected, and never stored for the target
    assert delivery.function == "intake" and delivery.error is not None
    assert f"{field}: " in str(delivery.error) and reason in str(delivery.error), delivery.error
    now = datetime.now(UTC)  # EventBridge stamps the envelope; intake keeps that time
    (kept,) = pipeline.store.rejected_events(now - timedelta(days=1), now + timedelta(days=1))
    assert any(error.startswith(f"{field}: ") for error in kept.errors), kept.errors
    assert json.loads(kept.payload) == detail
    assert (
        pipeline.store.business_events("web", datetime(1990, 1, 1, tzinfo=UTC), datetime(2037, 1, 1, tzinfo=UTC)) == []
    )


def test_json_infinity_as_expected_load_is_rejected_and_kept(pipeline: Pipeline):
    # GIVEN `"expected_load": Infinity` as Python's JSON writes it (and JSON readers accept)
    pipeline.aws.put_targets([asg_target("web", "web-asg")])
    pipeline.clock.current = DAY + timedelta(hours=9)
    pipeline.put_events(
        entries=[
            {
                "Source": BusinessEvent.SOURCE,
                "DetailType": BusinessEvent.DETAIL_TYPE,
                "Detail": json.dumps(_sale(expected_load=float("inf"))),
                "EventBusName": pipeline.aws.bus,
            }
        ]
    )
    (delivery,) = pipeline.router.pump()
    # THEN the intake refuses it naming the field, and nothing is stored
    assert delivery.function == "intake" and "expected_load: " in str(delivery.error), delivery.error
    assert pipeline.store.business_events("web", DAY, DAY + timedelta(days=2)) == []


def _post(path: str, body: str) -> tuple[int, Any]:
    """POST to the operator API's handler as a Lambda function URL request (payload format 2.0)."""
    from forescale_tools.local_router import LambdaContext
    from functions.handlers import api

    request = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 1773144000000,
        },
        "body": body,
        "isBase64Encoded": False,
    }
    response = api.handler(request, LambdaContext("api", "req-1"))
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('"expected_load": Infinity', "expected_load"),
        ('"expected_load": "inf"', "expected_load"),
        ('"expected_load": 1e300', "expected_load"),
        ('"start": "2036-03-10T12:00:00Z", "end": "2036-03-10T14:00:00Z"', "start"),
        ('"start": "1990-03-10T12:00:00Z", "end": "1990-03-10T14:00:00Z"', "end"),
    ],
)
def test_the_operator_api_refuses_absurd_events_with_422_and_puts_nothing_on_the_bus(
    pipeline: Pipeline, body: str, field: str
):
    # GIVEN a known target and the API's clock at 2026-03-10 09:00
    pipeline.aws.put_targets([asg_target("web", "web-asg")])
    pipeline.clock.current = DAY + timedelta(hours=9)
    base = '"name": "sale", "event_type": "campaign", "targets": ["web"]'
    times = '"start": "2026-03-10T12:00:00Z", "end": "2026-03-10T14:00:00Z"'
    text = "{" + ", ".join([base, body] if '"start"' in body else [base, times, body]) + "}"
    # WHEN the event is posted
    status, answer = _post("/events", text)
    # THEN 422 naming the field, and no intake runs (nothing was put on the bus)
    assert status == 422 and field in [e["field"] for e in answer["errors"]], answer
    assert pipeline.router.pump() == []
    # ... while the same event with a plain load is accepted (202) and stored by the intake
    status, answer = _post("/events", "{" + ", ".join([base, times, '"expected_load": 900']) + "}")
    assert status == 202, answer
    assert [d.function for d in pipeline.router.pump()] == ["intake"]
