"""Forecaster: on ``MetricsCollected``, forecast the batch's due targets; ``ForecastReady``, ``AnomalyDetected``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.envelopes import EventBridgeEnvelope
from aws_lambda_powertools.utilities.typing import LambdaContext

from events.contracts import MetricsCollected
from functions import wiring
from functions.handlers.observability import count, observed


@observed
@event_parser(model=MetricsCollected, envelope=EventBridgeEnvelope)
def handler(event: MetricsCollected, context: LambdaContext) -> dict[str, Any]:
    outcomes = wiring.components().forecaster.forecast_batch(event)
    count("ForecastsIssued", len(outcomes))
    return {"round_id": event.round_id, "forecasts": [o.summary() for o in outcomes]}
