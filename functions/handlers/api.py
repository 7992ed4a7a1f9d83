"""Operator API (Lambda function URL, IAM auth): health, targets, forecasts, decisions, business events.

Powertools' resolver validates every request and response against the models of
:mod:`functions.services.operator` and serves its OpenAPI schema at ``GET /openapi.json``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from events.contracts import BusinessEvent
from functions import wiring
from functions.handlers.observability import count, observed
from functions.services.operator import (
    DecisionsView,
    EventsView,
    ForecastView,
    Health,
    InvalidRequestError,
    Submitted,
    TargetView,
    request_errors,
)
from functions.services.targets import UnknownTargetError

TITLE = "forescale operator API"
VERSION = "1.0.0"
Since = Annotated[datetime | None, Query(description="Start of the window (ISO-8601 with zone).")]
Until = Annotated[datetime | None, Query(description="End of the window (ISO-8601 with zone); default now.")]

app = LambdaFunctionUrlResolver(enable_validation=True)


@app.get("/health")
def health() -> Health:
    return wiring.operator().health()


@app.get("/targets")
def targets() -> list[TargetView]:
    return wiring.operator().targets()


@app.get("/targets/<target_id>")
def target(target_id: str) -> TargetView:
    return wiring.operator().target(target_id)


@app.get("/targets/<target_id>/forecast")
def forecast(target_id: str) -> ForecastView:
    found = wiring.operator().forecast(target_id)
    if found is None:
        raise NotFoundError(f"target {target_id} has no forecast yet")
    return found


@app.get("/targets/<target_id>/decisions")
def decisions(target_id: str, start: Since = None, end: Until = None) -> DecisionsView:
    return wiring.operator().decisions(target_id, start, end)


@app.get("/events")
def events(target_id: Annotated[str | None, Query()] = None, start: Since = None, end: Until = None) -> EventsView:
    return wiring.operator().events(target_id, start, end)


@app.post("/events")
def submit(event: BusinessEvent) -> tuple[Submitted, int]:
    count("BusinessEventsSubmitted", 1)
    return wiring.operator().submit(event), 202


@app.get("/openapi.json", include_in_schema=False)
def openapi() -> Response[str]:
    body = app.get_openapi_json_schema(title=TITLE, version=VERSION)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


@app.exception_handler(UnknownTargetError)
def unknown_target(error: UnknownTargetError) -> Response[dict[str, Any]]:
    return Response(
        status_code=404,
        content_type=content_types.APPLICATION_JSON,
        body={"errors": [{"field": "target_id", "reason": str(error).removeprefix("target_id: ")}]},
    )


@app.exception_handler(InvalidRequestError)
def invalid_request(error: InvalidRequestError) -> Response[dict[str, Any]]:
    return Response(status_code=422, content_type=content_types.APPLICATION_JSON, body={"errors": error.errors})


@app.exception_handler(RequestValidationError)
def invalid_input(error: RequestValidationError) -> Response[dict[str, Any]]:
    """422 naming each field and the reason (the contracts' own messages; no code or file names)."""
    return Response(
        status_code=422, content_type=content_types.APPLICATION_JSON, body={"errors": request_errors(error.errors())}
    )


def _resolve(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    count("ApiRequests", 1)
    return app.resolve(event, context)


handler = observed(_resolve, correlation_id_path=correlation_paths.LAMBDA_FUNCTION_URL)
