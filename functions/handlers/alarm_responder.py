"""Alarm responder: on a target's SLO breach (``SloBreached`` from the decider), scale out at once, record the miss."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.envelopes import EventBridgeEnvelope
from aws_lambda_powertools.utilities.typing import LambdaContext

from events.contracts import SloBreached
from functions import wiring
from functions.handlers.observability import count, observed


@observed
@event_parser(model=SloBreached, envelope=EventBridgeEnvelope)
def handler(event: SloBreached, context: LambdaContext) -> dict[str, Any]:
    response = wiring.components().alarm_responder.respond(event)
    count("AlarmResponses", 1 if response.status == "decided" else 0)
    return response.summary()
