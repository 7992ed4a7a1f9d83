"""Intake: on ``BusinessEvent``, validate and store it for its targets; an invalid one is kept and raised.

The detail is validated by the service, not by the parser, so that a malformed event is stored as
rejected (with every field and reason) before the invocation fails and Lambda keeps it in the
dead-letter queue; the envelope itself is parsed by Powertools.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import wiring
from functions.handlers.observability import count, observed


@observed
@event_parser(model=EventBridgeModel)
def handler(event: EventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    count("BusinessEventsReceived", 1)
    # EventBridge stamps the envelope in UTC; a time written without an offset is read as UTC
    received_at = event.time if event.time.tzinfo is not None else event.time.replace(tzinfo=UTC)
    stored = wiring.components().intake.accept(event.id, event.detail, received_at=received_at)
    return {"event_id": event.id, "targets": [record.target_id for record in stored]}
