"""Operator API (Lambda function URL, IAM auth): health, targets, forecasts, decisions, business events;
target changes without a deploy (``PUT``/``DELETE /targets/<id>``, ``PUT /targets/<id>/mode``) and the kill
switch (``PUT /kill-switch``), each recorded with the caller's IAM principal.

Powertools' resolver validates every request and response against the models of
:mod:`functions.services.operator` and serves its OpenAPI schema at ``GET /openapi.json``. Every
refusal has one shape, documented in the schema: ``{"errors": [{"field": ..., "reason": ...}]}``
(404 unknown target or no forecast yet, 405 method, 413 body too large, 415 not JSON, 422 invalid
request). A body over :data:`MAX_BODY_BYTES`, or not JSON, is refused before it is parsed.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, BeforeValidator

from events.contracts import BusinessEvent
from functions import wiring
from functions.domain.target import ScalingTarget
from functions.handlers.observability import count, observed
from functions.services.operator import (
    DecisionsView,
    EventsView,
    ForecastView,
    Health,
    InvalidRequestError,
    KillSwitchChange,
    KillSwitchView,
    ModeChange,
    Submitted,
    TargetChanged,
    TargetView,
    request_errors,
)
from functions.services.targets import UnknownTargetError

#: A business event is a few KiB; anything far larger is refused before parsing (function URLs accept 6 MB).
MAX_BODY_BYTES = 64 * 1024
TITLE = "forescale operator API"
VERSION = "1.0.0"
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _iso_only(value: object) -> object:
    """Query times are ISO-8601 text only (pydantic alone would also read ``0.5`` as epoch seconds)."""
    if isinstance(value, str) and not _ISO_TIME.match(value):
        raise ValueError("give an ISO-8601 time with a zone, e.g. 2026-03-10T12:00:00Z")
    return value


Since = Annotated[
    datetime | None,
    BeforeValidator(_iso_only),
    Query(description="Start of the window (ISO-8601 with zone).", json_schema_extra={"format": "date-time"}),
]
Until = Annotated[
    datetime | None,
    BeforeValidator(_iso_only),
    Query(
        description="End of the window (ISO-8601 with zone); default now.", json_schema_extra={"format": "date-time"}
    ),
]

app = LambdaFunctionUrlResolver(enable_validation=True)


class NoForecastYetError(LookupError):
    def __init__(self, target_id: str) -> None:
        self.target_id = target_id
        super().__init__(f"target_id: {target_id!r} has no forecast yet")


class Problem(BaseModel):
    field: str
    reason: str


class Problems(BaseModel):
    """Why a request was refused: each field and the reason."""

    errors: list[Problem]


def _refusal(description: str) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": Problems}}}


def answers(status: int, description: str, **refusals: OpenAPIResponse) -> dict[int, OpenAPIResponse]:
    """A route's documented responses: its success (schema from the return type) and its refusals."""
    out: dict[int, OpenAPIResponse] = {status: {"description": description}}
    out[422] = _refusal("The request is invalid: each field and the reason.")
    out.update({int(code.removeprefix("r")): response for code, response in refusals.items()})
    return out


UNKNOWN = _refusal("The target is not configured or discovered.")


def problems(status: int, *errors: tuple[str, str]) -> Response[dict[str, Any]]:
    body = {"errors": [{"field": field, "reason": reason} for field, reason in errors]}
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@app.get("/health")
def health() -> Health:
    return wiring.components().operator.health()


@app.get("/targets")
def targets() -> list[TargetView]:
    return wiring.components().operator.targets()


@app.get("/targets/<target_id>", responses=answers(200, "The target, its state and latest forecast.", r404=UNKNOWN))
def target(target_id: str) -> TargetView:
    return wiring.components().operator.target(target_id)


@app.get(
    "/targets/<target_id>/forecast",
    responses=answers(200, "The latest forecast.", r404=_refusal("The target is unknown or has no forecast yet.")),
)
def forecast(target_id: str) -> ForecastView:
    found = wiring.components().operator.forecast(target_id)
    if found is None:
        raise NoForecastYetError(target_id)
    return found


@app.get("/targets/<target_id>/decisions", responses=answers(200, "Decisions and actions in the window.", r404=UNKNOWN))
def decisions(target_id: str, start: Since = None, end: Until = None) -> DecisionsView:
    return wiring.components().operator.decisions(target_id, start, end)


@app.get("/events", responses=answers(200, "Business events, accepted and rejected.", r404=UNKNOWN))
def events(target_id: Annotated[str | None, Query()] = None, start: Since = None, end: Until = None) -> EventsView:
    return wiring.components().operator.events(target_id, start, end)


@app.post(
    "/events",
    responses=answers(
        202,
        "Put on the bus for the intake.",
        r413=_refusal(f"The body is over {MAX_BODY_BYTES} bytes."),
        r415=_refusal("The body is not application/json."),
    ),
)
def submit(event: BusinessEvent) -> tuple[Submitted, int]:
    count("BusinessEventsSubmitted", 1)
    return wiring.components().operator.submit(event), 202


def _caller() -> str:
    """The IAM principal that signed the request (function URLs with AWS_IAM auth say who)."""
    try:
        return str(app.current_event.request_context.authorizer.iam.user_arn or "unknown")
    except (AttributeError, KeyError, TypeError):
        return "unknown"


@app.put(
    "/targets/<target_id>",
    responses=answers(
        200,
        "Added, or replaced (whatever its source), in the operator's configuration.",
        r404=_refusal("The path's target id is not a valid target id."),
    ),
)
def put_target(target_id: str, body: ScalingTarget) -> TargetChanged:
    if body.target_id != target_id:
        raise InvalidRequestError(
            [{"field": "target_id", "reason": f"is {body.target_id!r}, the path says {target_id!r}"}]
        )
    count("TargetChanges", 1)
    return wiring.components().operator.put_target(body, by=_caller())


@app.put("/targets/<target_id>/mode", responses=answers(200, "The mode is set.", r404=UNKNOWN))
def set_mode(target_id: str, body: ModeChange) -> TargetChanged:
    count("TargetChanges", 1)
    return wiring.components().operator.set_mode(target_id, body.mode, by=_caller())


@app.delete("/targets/<target_id>", responses=answers(200, "No longer managed (until put again).", r404=UNKNOWN))
def remove_target(target_id: str) -> TargetChanged:
    count("TargetChanges", 1)
    return wiring.components().operator.remove_target(target_id, by=_caller())


@app.put("/kill-switch", responses=answers(200, "The switch is engaged or released.", r404=UNKNOWN))
def kill_switch(body: KillSwitchChange) -> KillSwitchView:
    count("KillSwitchChanges", 1)
    return wiring.components().operator.set_kill_switch(body, by=_caller())


@app.get("/openapi.json", include_in_schema=False)
def openapi() -> Response[str]:
    body = app.get_openapi_json_schema(title=TITLE, version=VERSION)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


@app.exception_handler(UnknownTargetError)
def unknown_target(error: UnknownTargetError) -> Response[dict[str, Any]]:
    return problems(404, ("target_id", str(error).removeprefix("target_id: ")))


@app.exception_handler(NoForecastYetError)
def no_forecast_yet(error: NoForecastYetError) -> Response[dict[str, Any]]:
    return problems(404, ("target_id", f"{error.target_id!r} has no forecast yet"))


@app.not_found
def no_such_route(error: NotFoundError) -> Response[dict[str, Any]]:
    """404 for an unknown path; 405 (with ``Allow``) for a known path asked with another method."""
    allowed = _methods_of(app.current_event.path)
    if not allowed:
        return problems(404, ("path", "no such route"))
    if app.current_event.http_method in allowed:  # a path parameter the route does not accept
        return problems(404, ("target_id", "not a configured or discovered target"))
    refused = problems(405, ("method", f"{app.current_event.http_method} is not allowed; use {', '.join(allowed)}"))
    refused.headers["Allow"] = ", ".join(allowed)
    return refused


@functools.cache
def _route_patterns() -> tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]:
    paths = json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION))["paths"]
    return tuple(
        (re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$"), tuple(m.upper() for m in methods))
        for path, methods in paths.items()
    )


def _methods_of(path: str) -> list[str]:
    return sorted({m for pattern, methods in _route_patterns() if pattern.match(path) for m in methods})


@app.exception_handler(InvalidRequestError)
def invalid_request(error: InvalidRequestError) -> Response[dict[str, Any]]:
    return Response(status_code=422, content_type=content_types.APPLICATION_JSON, body={"errors": error.errors})


@app.exception_handler(RequestValidationError)
def invalid_input(error: RequestValidationError) -> Response[dict[str, Any]]:
    """422 naming each field and the reason (the contracts' own messages; no code or file names)."""
    return Response(
        status_code=422, content_type=content_types.APPLICATION_JSON, body={"errors": request_errors(error.errors())}
    )


def _refused_unparsed(event: dict[str, Any]) -> dict[str, Any] | None:
    """413 for a body over :data:`MAX_BODY_BYTES` (decoded size), 415 for a body that is not JSON: answered
    before anything parses the body."""
    body = event.get("body") or ""
    size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode())
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "").strip().lower()
    if size > MAX_BODY_BYTES:
        status, field, reason = 413, "body", f"{size} bytes, over the {MAX_BODY_BYTES} byte limit"
    elif body and content_type and not content_type.startswith(content_types.APPLICATION_JSON):
        status, field, reason = 415, "content-type", f"{content_type[:100]!r} is not supported; send application/json"
    elif body and event.get("isBase64Encoded") and not _utf8(body):
        status, field, reason = 422, "body", "is not UTF-8 text"
    else:
        return None
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": json.dumps({"errors": [{"field": field, "reason": reason}]}),
        "isBase64Encoded": False,
    }


def _utf8(base64_body: str) -> bool:
    try:
        base64.b64decode(base64_body, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return True


def _resolve(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    count("ApiRequests", 1)
    return _refused_unparsed(event) or app.resolve(event, context)


handler = observed(_resolve, correlation_id_path=correlation_paths.LAMBDA_FUNCTION_URL)
