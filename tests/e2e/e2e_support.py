"""Helpers of the end-to-end tests: the whole pipeline on moto's server: real handlers, real boto3 calls, events routed by moto's EventBridge.

``pipeline`` gives each test its own tables, bucket, bus, rules and queues (unique prefix) on the
session's moto server, sets the environment the CDK stack would set, and wires the handlers with a
clock the test moves, a ``sleep`` that does not wait, and the router as the collector's invoker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from events.base import BusEvent, to_put_events_entry
from forescale_tools.local_router import Delivery, LocalAws, LocalRouter
from functions import wiring
from functions.adapters.dynamodb import DynamoStateStore
from functions.adapters.s3 import S3Store
from functions.domain.clock import FixedClock, SequentialIds
from functions.domain.target import LoadMetric, ScalingTarget
from functions.services.common import RecordingSink
from functions.wiring import Components

STEP = 300
NAMESPACE = "E2E/Load"


def metric_for(resource: str, period: int = STEP) -> LoadMetric:
    """The load metric of a resource (CloudWatch is shared by every test: the resource name is unique)."""
    return LoadMetric(namespace=NAMESPACE, name="Requests", dimensions={"Resource": resource}, period_seconds=period)


def asg_target(target_id: str, asg_name: str, **overrides: Any) -> ScalingTarget:
    config: dict[str, Any] = {
        "target_id": target_id,
        "kind": "asg",
        "asg_name": asg_name,
        "metric": metric_for(asg_name),
        "capacity_per_instance": 100.0,
        "boot_seconds": 300,
        "min_capacity": 1,
        "max_capacity": 60,
        "mode": "direct",
        "decision_interval_seconds": STEP,
        "scale_in_stabilization_seconds": 600,
        "max_step_down": 50,
    }
    config.update(overrides)
    return ScalingTarget.model_validate(config)


def ecs_target(target_id: str, cluster: str, service: str, **overrides: Any) -> ScalingTarget:
    config = asg_target(target_id, "x").model_dump() | {"kind": "ecs", "asg_name": None}
    config["metric"] = metric_for(f"{cluster}/{service}").model_dump()
    config.update({"ecs_cluster": cluster, "ecs_service": service, **overrides})
    return ScalingTarget.model_validate(config)


@dataclass
class Pipeline:
    aws: LocalAws
    router: LocalRouter = field(repr=False)
    clock: FixedClock
    sink: RecordingSink = field(repr=False)
    rounds: list[tuple[datetime, list[Delivery]]] = field(default_factory=list, repr=False)
    capacity: dict[datetime, Any] = field(default_factory=dict, repr=False)
    ids: SequentialIds = field(default_factory=SequentialIds, repr=False)
    #: the handlers' container (settings from the pipeline's environment, its clock, ids and router)
    components: Components = field(init=False, repr=False)

    @property
    def store(self) -> DynamoStateStore:
        return DynamoStateStore(self.aws.client("dynamodb"), self.aws.table_names())

    @property
    def archive(self) -> S3Store:
        return S3Store.for_bucket(self.aws.client("s3"), self.aws.bucket, audit_bucket=self.aws.audit_bucket)

    def seed_history(self, target_id: str, ds: pd.DatetimeIndex, y: np.ndarray) -> None:
        """History as the collector would have written it over the past days (one part per day)."""
        frame = pd.DataFrame({"ds": ds, "y": y})
        self.archive.write_history(target_id, frame, part_id="00000000T000000Z-seed")

    def put_load(self, target: ScalingTarget, at: datetime, value: float) -> None:
        metric = target.metric
        self.aws.client("cloudwatch").put_metric_data(
            Namespace=metric.namespace,
            MetricData=[
                {
                    "MetricName": metric.name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in metric.dimensions.items()],
                    "Timestamp": at,
                    "Value": float(value),
                }
            ],
        )

    def run_round(self, at: datetime) -> list[Delivery]:
        """One scheduled collector invocation at ``at`` and every event it causes, to the end of the chain."""
        self.clock.current = at
        deliveries = [self.router.invoke("collector", {}), *self.router.pump()]
        self.rounds.append((at, deliveries))
        return deliveries

    def put_events(self, *events: BusEvent, entries: list[dict[str, Any]] | None = None) -> None:
        """Put events on the bus as a producer would (``entries`` for raw, possibly malformed, ones)."""
        raw = [to_put_events_entry(e, bus_name=self.aws.bus) for e in events] + list(entries or [])
        response = self.aws.client("events").put_events(Entries=raw)
        assert response["FailedEntryCount"] == 0, response

    def rewire(self, **changes: Any) -> Components:
        """Build the handlers' container afresh from the environment, with this pipeline's test parts and
        ``changes`` (components replaced by name), and make it the handlers'."""
        self.components = Components.from_env(
            clock=self.clock, ids=self.ids, sleep=lambda _seconds: None, invoker=self.router, sink=self.sink
        ).replaced(**changes)
        wiring.install(self.components)
        return self.components

    def change(self, **changes: Any) -> Components:
        """The handlers' container with ``changes`` on top of the replacements it already has."""
        self.components = self.components.replaced(**changes)
        wiring.install(self.components)
        return self.components

    def results(self, function: str) -> list[Any]:
        return [d.result for _, ds in self.rounds for d in ds if d.function == function and d.error is None]


def count_calls(client: Any, operation: str) -> list[int]:
    """A list whose length grows by one per ``operation`` call the client makes (HTTP request built)."""
    calls: list[int] = []

    def hook(**_: Any) -> None:
        calls.append(1)

    client.meta.events.register(f"before-call.*.{operation}", hook)
    return calls


def fail_calls(client: Any, operation: str, *, times: int, code: str = "Throttling") -> list[int]:
    """The next ``times`` calls of ``operation`` get an AWS error response instead of reaching moto."""
    failed: list[int] = []

    def hook(**_: Any) -> Any:
        if len(failed) >= times:
            return None
        failed.append(1)
        return (
            _http(400),
            {
                "Error": {"Code": code, "Message": "Rate exceeded (injected)"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
        )

    client.meta.events.register(f"before-call.*.{operation}", hook)
    return failed


def _http(status: int) -> Any:
    from botocore.awsrequest import AWSResponse

    return AWSResponse(url="http://injected", status_code=status, headers={}, raw=None)


@contextmanager
def running_pipeline(endpoint: str, prefix: str) -> Iterator[Pipeline]:
    """A fresh pipeline on ``endpoint``; the environment and the handlers' container are restored afterwards."""
    aws = LocalAws(endpoint, prefix=prefix)
    aws.create()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in aws.environment().items():
            patch.setenv(name, value)
        patch.setenv("FORESCALE_FORECAST_HISTORY_DAYS", "3")
        patch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
        patch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
        patch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
        clock = FixedClock(datetime(2026, 3, 10, 0, 0, tzinfo=UTC))
        sink = RecordingSink()
        router = LocalRouter(aws.transport())
        running = Pipeline(aws, router, clock, sink)
        before = wiring.installed()
        running.rewire()
        try:
            yield running
        finally:
            wiring.install(before)


def daily_shape(
    ds: pd.DatetimeIndex, *, base: float, peak: float, peak_hour: float, width_hours: float = 0.75
) -> np.ndarray:
    """A daily cycle: ``base`` with a bump to ``peak`` at ``peak_hour`` UTC (same every day)."""
    hours = ds.hour + ds.minute / 60
    bump = np.exp(-0.5 * ((hours - peak_hour) / width_hours) ** 2)
    return np.asarray(base + (peak - base) * bump, dtype=float)


def five_minute_index(start: datetime, end: datetime) -> pd.DatetimeIndex:
    return pd.date_range(start.replace(tzinfo=None), end.replace(tzinfo=None), freq=f"{STEP}s", inclusive="left")


def decisions(pipeline: Pipeline, target_id: str) -> list[Any]:
    start = pipeline.clock.now() - timedelta(days=2)
    return pipeline.store.decisions(target_id, start, pipeline.clock.now() + timedelta(days=1))


def dumps(value: Any) -> str:
    return json.dumps(value, default=str, indent=1)
