"""Trainer (daily): backtest and refit each batch of targets, store and register models, promote challengers."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import wiring
from functions.handlers.observability import count, scheduled
from functions.services.trainer import TrainRequest


@scheduled
@event_parser(model=TrainRequest)
def handler(event: TrainRequest, context: LambdaContext) -> dict[str, Any]:
    result = wiring.components().trainer.train(event, function_name=context.invoked_function_arn)
    count("ModelsTrained", sum(1 for o in result.outcomes if o.version))
    count("ModelsPromoted", sum(1 for o in result.outcomes if o.promoted))
    return result.summary()
