"""Intake: on ``BusinessEvent``, validate and store it for its targets; an invalid one is kept and raised.

The detail is validated by the service, not by the parser, so that a malformed event is stored as
rejected (with every field and reason) before the invocation fails and Lambda keeps it in the
dead-letter queue; the envelope itself is parsed by Powertools.
"""

from __future__ import annotations

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
    stored = wiring.components().intake.accept(event.id, event.detail, received_at=event.time)
    return {"event_id": event.id, "targets": [record.target_id for record in stored]}
