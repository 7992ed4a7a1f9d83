"""Decider: on ``ForecastReady``, decide each target's capacity, record it, publish ``ScalingDecided``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.envelopes import EventBridgeEnvelope
from aws_lambda_powertools.utilities.typing import LambdaContext

from events.contracts import ForecastReady
from functions import wiring
from functions.handlers.observability import count, observed


@observed
@event_parser(model=ForecastReady, envelope=EventBridgeEnvelope)
def handler(event: ForecastReady, context: LambdaContext) -> dict[str, Any]:
    outcomes = wiring.components().decider.decide_batch(event)
    count("Decisions", len(outcomes))
    return {"round_id": event.round_id, "decisions": [o.summary() for o in outcomes]}
