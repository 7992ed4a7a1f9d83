"""Alarm responder: on a target's SLO alarm (CloudWatch state change), scale out at once, record the miss."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.envelopes import EventBridgeEnvelope
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import wiring
from functions.handlers.observability import count, observed
from functions.services.alarms import AlarmChange


@observed
@event_parser(model=AlarmChange, envelope=EventBridgeEnvelope)
def handler(event: AlarmChange, context: LambdaContext) -> dict[str, Any]:
    response = wiring.components().alarm_responder.respond(event)
    count("AlarmResponses", 1 if response.status == "decided" else 0)
    return response.summary()
