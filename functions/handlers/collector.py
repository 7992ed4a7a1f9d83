"""Collector (EventBridge Scheduler, every minute): load and capacity of every target, history, ``MetricsCollected``.

A round with more targets than one shard fans out over asynchronous copies of this function, each
invoked with its shard (:class:`~functions.services.collector.CollectRequest`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import wiring
from functions.handlers.observability import count, logger, scheduled
from functions.services.collector import CollectRequest


@scheduled
@event_parser(model=CollectRequest)
def handler(event: CollectRequest, context: LambdaContext) -> dict[str, Any]:
    result = wiring.components().collector.collect(event, function_name=context.invoked_function_arn)
    count("TargetsCollected", result.targets)
    count("MetricsMissing", len(result.missing))
    if result.missing or result.capacity_unknown:
        logger.warning("incomplete round", extra={"missing": result.missing, "capacity": result.capacity_unknown})
    return result.summary()
