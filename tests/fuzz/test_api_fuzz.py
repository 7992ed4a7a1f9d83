"""The operator API fuzzed by schemathesis from its own OpenAPI schema, through the real handler.

The handler is reached over WSGI (:class:`tests.support.function_url.FunctionUrlWsgi` turns each HTTP
request into a function URL event), wired to the in-memory twins with two targets, a stored forecast
and decisions. Every generated request, valid or not, must be answered without a server error, with a
response that matches the schema, and every refusal (4xx) must name the field and the reason.

Every schemathesis check runs except ``positive_data_acceptance``: the API refuses (422, naming the field)
requests that the JSON Schema cannot express as invalid — an event ending before it starts, neither
targets nor a tag selector, a query window over 31 days — and that refusal is the behaviour we want.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from forescale_tools.local_router import LambdaContext, memory_world
from functions import wiring
from functions.domain.clock import FixedClock
from functions.handlers import api
from tests.support.function_url import FunctionUrlWsgi
from tests.support.world import asg_target, flat_forecast

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
APP = FunctionUrlWsgi(api.handler)
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP)


@pytest.fixture(scope="module")
def operator_world() -> Iterator[Any]:
    world = memory_world([asg_target("web", "web-asg"), asg_target("api", "api-asg")], clock=FixedClock(NOON))
    world.store.put_forecast(flat_forecast("web", 300.0, issued=NOON - timedelta(minutes=5)))
    with wiring.use(world.components):
        yield world


def names_field_and_reason(response: Any) -> bool:
    """A refusal body: ``{"errors": [{"field": ..., "reason": ...}, ...]}`` with both non-empty, or a
    not-found ``message`` naming what was not found."""
    try:
        body = response.json()
    except ValueError:
        return False
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        return all(
            isinstance(e, dict) and str(e.get("field", "")).strip() and str(e.get("reason", "")).strip()
            for e in body["errors"]
        )
    return response.status_code == 404 and isinstance(body, dict) and bool(str(body.get("message", "")).strip())


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_request_is_answered_by_the_schema_and_every_refusal_names_the_field(case, operator_world, figures):
    response = case.call()
    name = f"operator API {case.operation.label}"
    crashed = response.status_code >= 500
    figures.add("fuzz", name, inputs=1, crashes=int(crashed), refused=int(400 <= response.status_code < 500))
    assert not crashed, (case.method, case.path, case.query, case.body, response.text, APP.crashes[-1:])
    case.validate_response(response, excluded_checks=[positive_data_acceptance])
    if 400 <= response.status_code < 500:
        assert names_field_and_reason(response), (case.method, case.formatted_path, response.text)


@pytest.mark.parametrize(
    ("body", "headers", "status", "field"),
    [
        ("x" * (api.MAX_BODY_BYTES + 1), {}, 413, "body"),
        ("[" * (api.MAX_BODY_BYTES + 1), {}, 413, "body"),
        ("name=sale", {"content-type": "application/x-www-form-urlencoded"}, 415, "content-type"),
        ("--x", {"content-type": "multipart/form-data"}, 415, "content-type"),
        (b"\x80\xff", {}, 422, "body"),
    ],
)
def test_oversized_or_unparseable_bodies_are_refused_before_parsing(
    operator_world, monkeypatch, figures, body, headers, status, field
):
    # GIVEN the resolver (which parses bodies) must not be reached
    def never(*_: Any, **__: Any) -> Any:
        raise AssertionError("the body reached the parser")

    monkeypatch.setattr(api.app, "resolve", never)
    # WHEN such a body is posted
    from tests.support.function_url import url_event

    response = api.handler(url_event("POST", "/events", body=body, headers=headers), LambdaContext("api", "r"))
    # THEN it is refused naming the field, without parsing
    import json

    errors = json.loads(response["body"])["errors"]
    figures.add("fuzz", "operator API oversized / unparseable bodies", inputs=1, crashes=0, refused=1)
    assert response["statusCode"] == status and errors[0]["field"] == field and errors[0]["reason"]
