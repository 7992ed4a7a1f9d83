"""Executor: on ``ScalingDecided``, change ASG / ECS capacity once per decision, verify, roll back on failure."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.envelopes import EventBridgeEnvelope
from aws_lambda_powertools.utilities.typing import LambdaContext

from events.contracts import ScalingDecided
from functions import wiring
from functions.handlers.idempotency import execute_once
from functions.handlers.observability import count, observed
from functions.services.common import DECISIONS_EXPIRED, DECISIONS_SUPERSEDED, DECISIONS_UNRECORDED

REFUSAL_METRICS = {
    "unrecorded": DECISIONS_UNRECORDED,
    "superseded": DECISIONS_SUPERSEDED,
    "expired": DECISIONS_EXPIRED,
}


@observed
@event_parser(model=ScalingDecided, envelope=EventBridgeEnvelope)
def handler(event: ScalingDecided, context: LambdaContext) -> dict[str, Any]:
    components = wiring.components()
    outcome = execute_once(components.executor, components.idempotency_store, event, context)
    count(f"Executions{outcome['status'].title()}", 1)
    if outcome.get("refused"):
        count(REFUSAL_METRICS[str(outcome["refused"])], 1)
    return outcome
