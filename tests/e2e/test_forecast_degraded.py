"""A target whose forecasts go bad is named on the notification topic, once, on moto's server.

The pipeline runs every five minutes (collector, forecaster, decider as Lambda handlers on moto) with a
forecaster model that says twice the load. The deployment's rule (every ``ForecastDegraded`` on the bus to the
notification topic, built from the contract's pattern as the stack builds it) is put on moto's bus with an SQS
queue standing in for the topic (moto's EventBridge does not deliver to SNS targets).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest
from e2e_support import STEP, Pipeline, asg_target, five_minute_index

from events.base import event_pattern
from events.contracts import ForecastDegraded
from functions.services.model_registry import ModelLoader
from models.api import BusinessWindow, ForecastPath, NoForecast

pytestmark = pytest.mark.integration

DAY = datetime(2026, 3, 10, tzinfo=UTC)
START = DAY + timedelta(hours=9)
LOAD = 800.0


@dataclass
class TwiceTheLoad:
    """A forecasting model that forecasts 1,600 for a load of 800 (100 % off), whatever the history says."""

    unique_id: str

    def fit(self, history: pd.DataFrame, *, now: datetime, events: list[BusinessWindow]) -> TwiceTheLoad:
        return self

    def forecast(
        self, history: pd.DataFrame, *, now: datetime, horizon_steps: int, events: list[BusinessWindow]
    ) -> dict[str, ForecastPath | NoForecast]:
        start = pd.Timestamp(now).tz_convert(None)
        ds = pd.date_range(start, periods=horizon_steps, freq=f"{STEP}s")
        p50 = np.full(horizon_steps, 2 * LOAD)
        issued = start.to_pydatetime().replace(tzinfo=UTC)
        return {self.unique_id: ForecastPath(self.unique_id, issued, ds, p50, 1.1 * p50, 1.25 * p50, 0.8, "twice")}


def notifications(pipeline: Pipeline) -> str:
    """The deployment's rule on moto's bus, to an SQS queue in the topic's place (its URL)."""
    name = f"{pipeline.aws.prefix}-notifications"
    sqs, bus = pipeline.aws.client("sqs"), pipeline.aws.client("events")
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = f"{name}-degraded"
    bus.put_rule(
        Name=rule, EventPattern=json.dumps(event_pattern(ForecastDegraded)), State="ENABLED",
        EventBusName=pipeline.aws.bus,
    )  # fmt: skip
    bus.put_targets(Rule=rule, EventBusName=pipeline.aws.bus, Targets=[{"Id": "topic", "Arn": arn}])
    return cast(str, queue)


def received(pipeline: Pipeline, queue: str) -> list[dict[str, Any]]:
    sqs = pipeline.aws.client("sqs")
    out = []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return out


def test_a_target_with_bad_forecasts_is_named_on_the_topic_once(pipeline: Pipeline):
    # GIVEN a group at a flat 800 for two days, forecast at 1,600 by its model, and the notification rule
    prefix = pipeline.aws.prefix
    web = asg_target("web", f"{prefix}-web")
    pipeline.aws.create_asg(f"{prefix}-web", desired=10, min_size=1, max_size=60)
    pipeline.aws.put_targets([web])
    history = five_minute_index(DAY - timedelta(days=2), START)
    pipeline.seed_history("web", history, np.full(len(history), LOAD))
    model = cast(Any, TwiceTheLoad("web"))
    pipeline.change(model_loader=ModelLoader(pipeline.store, pipeline.archive, lambda _step, _effects: model))
    queue = notifications(pipeline)
    # WHEN the pipeline runs every five minutes for 100 minutes
    per_round = []
    for k in range(20):
        at = START + timedelta(seconds=k * STEP)
        pipeline.put_load(web, at - timedelta(seconds=STEP), LOAD)
        delivered = pipeline.run_round(at + timedelta(seconds=10))
        assert all(d.error is None for d in delivered), [(d.function, d.error) for d in delivered]
        per_round.append(received(pipeline, queue))
    # THEN one notification came, once the record had scored enough steps, naming the target and its error
    (first,) = [k for k, messages in enumerate(per_round) if messages]
    (message,) = per_round[first]
    event = ForecastDegraded.model_validate(message["detail"])
    assert message["detail-type"] == "ForecastDegraded" and event.target_id == "web"
    assert event.error_percent == pytest.approx(100 * LOAD / (LOAD + 10.0), abs=0.01)
    assert event.naive_error_percent == 0.0 and event.threshold_percent == 35.0
    assert sum(len(messages) for messages in per_round) == 1
    # AND the target's stored state keeps the episode on, and the fleet count said so every round since
    assert pipeline.store.get_target_state("web").forecast_degraded
    counts = [value for name, value, _, _ in pipeline.sink.records if name == "ForecastsDegraded"]
    assert counts[-1] == 1.0 and counts.count(1.0) == len(per_round) - first
