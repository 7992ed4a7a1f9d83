"""A forescale deployment on moto's server with the fault proxy between the handlers and moto (fixtures).

``world`` gives each test its own tables, bucket, bus, rules and queues (unique prefix), the environment
the CDK stack sets, a clock the test moves, a ``sleep`` that records instead of waiting (the handlers'
own backoff and botocore's), and :class:`~tests.support.lambda_async.AsyncLambda` per function with a
dead-letter queue on moto's SQS. The handlers' boto3 clients reach moto only through the proxy; the
test's own set-up and checks talk to moto directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from events.base import BusEvent, to_envelope
from events.contracts import ForecastSummary, SloBreached
from forescale_tools.local_router import LocalAws
from functions import wiring
from functions.adapters.dynamodb import DynamoStateStore
from functions.adapters.s3 import S3Store
from functions.domain.clock import FixedClock, SequentialIds
from functions.domain.target import LoadMetric, ScalingTarget
from functions.ports.records import StoredForecast
from functions.services.common import RecordingSink
from functions.wiring import Components
from models.config import ForecastConfig
from tests.support.fault_proxy import FaultProxy
from tests.support.lambda_async import AsyncLambda, VirtualSleep, virtual_botocore_sleep

STEP = 300
NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
#: a cheap forecasting configuration: the fault tests are about the pipeline, not forecast quality
CHEAP = ForecastConfig(
    models=("SeasonalNaive",), backtest_every_minutes=360, holdout_days=1.0, horizon_minutes=(5, 15, 60, 240)
)


def asg_target(target_id: str, asg_name: str, **overrides: Any) -> ScalingTarget:
    config: dict[str, Any] = {
        "target_id": target_id,
        "kind": "asg",
        "asg_name": asg_name,
        "metric": LoadMetric(
            namespace="Rel/Load", name="Requests", dimensions={"Target": target_id}, period_seconds=STEP
        ),
        "capacity_per_instance": 100.0,
        "boot_seconds": 300,
        "min_capacity": 1,
        "max_capacity": 40,
        "mode": "direct",
        "decision_interval_seconds": STEP,
        "scale_in_stabilization_seconds": 0,
        "max_step_down": 40,
    }
    config.update(overrides)
    return ScalingTarget.model_validate(config)


def short_timeout_client(read_timeout: float) -> Callable[..., Any]:
    """A ``client`` component with the production retry configuration and a short read timeout (a timed-out
    attempt then costs ``read_timeout`` seconds of test time instead of 30)."""
    clients: dict[tuple[str, int], Any] = {}

    def client(service: str, *, retries: int = 3) -> Any:
        import boto3
        from botocore.config import Config

        if (service, retries) not in clients:
            clients[(service, retries)] = boto3.client(  # type: ignore[call-overload]
                service,
                endpoint_url=wiring.components().settings.endpoint_url,
                config=Config(
                    retries={"mode": "standard", "total_max_attempts": retries},
                    connect_timeout=read_timeout,
                    read_timeout=read_timeout,
                    max_pool_connections=25,
                ),
            )
        return clients[(service, retries)]

    return client


@dataclass
class World:
    aws: LocalAws
    proxy: FaultProxy
    clock: FixedClock
    sleep: VirtualSleep
    sink: RecordingSink
    dlq_url: str
    functions: dict[str, AsyncLambda] = field(default_factory=dict)
    #: targets by id, as the test created them
    desired_by_id: dict[str, ScalingTarget] = field(default_factory=dict)
    _events: int = 0
    _transport: Any = None
    #: the handlers' container (settings from the world's environment, its clock)
    components: Any = None

    def rewire(self, **replacements: Any) -> Components:
        """Build the handlers' container afresh from the environment, with the world's clock and
        ``replacements`` (components by name), and make it the handlers'."""
        self.components = Components.from_env(clock=self.clock, **replacements)
        wiring.install(self.components)
        return self.components

    def change(self, **changes: Any) -> Components:
        """The handlers' container with ``changes`` on top of the replacements it already has."""
        self.components = self.components.replaced(**changes)
        wiring.install(self.components)
        return self.components

    _delivered: list[dict[str, Any]] = field(default_factory=list)

    @property
    def store(self) -> DynamoStateStore:
        return DynamoStateStore(self.aws.client("dynamodb"), self.aws.table_names())

    @property
    def archive(self) -> S3Store:
        return S3Store.for_bucket(self.aws.client("s3"), self.aws.bucket, audit_bucket=self.aws.audit_bucket)

    def listen(self) -> None:
        """Create the stack's rules (the local router's: EventBridge rule -> SQS queue per function)."""
        self._transport = self.aws.transport()

    def delivered(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        """Every envelope the rules delivered so far (needs :meth:`listen` first), optionally of one type."""
        while True:
            messages = self._transport.receive()
            if not messages:
                break
            for message in messages:
                self._delivered.append(message.envelope)
                self._transport.done(message)
        return [e for e in self._delivered if detail_type is None or e["detail-type"] == detail_type]

    def function(self, name: str) -> AsyncLambda:
        if name not in self.functions:
            self.functions[name] = AsyncLambda(
                name, self.aws.client("sqs"), self.dlq_url, self.sleep, attribute=self.proxy.attributed_to
            )
        return self.functions[name]

    def envelope(self, event: BusEvent) -> dict[str, Any]:
        self._events += 1
        return to_envelope(event, event_id=f"evt-{self._events:05d}", time=self.clock.now())

    def envelope_of_detail(self, detail_type: str, source: str, detail: Any) -> dict[str, Any]:
        """An EventBridge envelope around any ``detail`` (a malformed one, say)."""
        self._events += 1
        return {
            "version": "0",
            "id": f"evt-{self._events:05d}",
            "detail-type": detail_type,
            "source": source,
            "account": "123456789012",
            "time": self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1",
            "resources": [],
            "detail": detail,
        }

    # ----------------------------------------------------------------- fleets and data

    def add_asg_targets(self, count: int, *, desired: int = 4, **overrides: Any) -> list[ScalingTarget]:
        targets = []
        for index in range(count):
            target = asg_target(f"t{index}", f"{self.aws.prefix}-t{index}", **overrides)
            self.aws.create_asg(target.asg_name or "", desired=desired, min_size=1, max_size=40)
            targets.append(target)
        self.aws.put_targets(targets)
        return targets

    def seed_history(self, target_id: str, value: float, *, days: float = 2.0, until: datetime | None = None) -> None:
        end = until or self.clock.now()
        ds = pd.date_range(
            (end - timedelta(days=days)).replace(tzinfo=None),
            end.replace(tzinfo=None),
            freq=f"{STEP}s",
            inclusive="left",
        )
        frame = pd.DataFrame({"ds": ds, "y": np.full(len(ds), float(value))})
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

    def desired(self, target: ScalingTarget) -> tuple[int, int, int]:
        return self.aws.asg_desired(target.asg_name or "")

    def dead_letter_bodies(self) -> list[dict[str, Any]]:
        """The dead-letter queue's messages (left in the queue)."""
        sqs = self.aws.client("sqs")
        response = sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return [json.loads(m["Body"]) for m in response.get("Messages", [])]


@pytest.fixture(scope="session")
def fault_proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_endpoint)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def world(
    moto_endpoint: str, fault_proxy: FaultProxy, unique_name: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    aws = LocalAws(moto_endpoint, prefix=unique_name("rel"))
    aws.create()
    for name, value in aws.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", fault_proxy.url)
    monkeypatch.setenv("FORESCALE_FORECAST_HISTORY_DAYS", "2")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "ERROR")
    dlq_url = aws.client("sqs").create_queue(QueueName=f"{aws.prefix}-dlq")["QueueUrl"]
    sleep = VirtualSleep()
    clock = FixedClock(NOON)
    sink = RecordingSink()
    fault_proxy.clear()
    fault_proxy.reset_counts()
    before = wiring.installed()
    world = World(aws, fault_proxy, clock, sleep, sink, dlq_url)
    world.rewire(ids=SequentialIds(), sleep=sleep, sink=sink, forecast_config=CHEAP)
    with virtual_botocore_sleep(sleep):
        try:
            yield world
        finally:
            fault_proxy.clear()
            wiring.install(before)


# --------------------------------------------------------------------------- forecasts


def flat_forecast(target_id: str, value: float, *, issued: Any = NOON, steps: int = 36) -> StoredForecast:
    return StoredForecast(
        target_id=target_id,
        forecast_id=f"forecast-{target_id}-{issued:%H%M}",
        issued_at=issued,
        model_version="test",
        confidence=0.9,
        ds=tuple(issued + timedelta(seconds=STEP * i) for i in range(steps)),
        p50=(value,) * steps,
        p90=(value * 1.1,) * steps,
        p99=(value * 1.2,) * steps,
        history_end=issued - timedelta(seconds=STEP),
    )


def summary(
    forecast: StoredForecast, *, recent: float | None, history_end: Any = None, desired: int = 10
) -> ForecastSummary:
    return ForecastSummary(
        target_id=forecast.target_id,
        forecast_id=forecast.forecast_id,
        issued_at=forecast.issued_at,
        history_end=history_end or forecast.history_end,
        step_seconds=STEP,
        horizon_steps=len(forecast.ds),
        model_version=forecast.model_version,
        confidence=forecast.confidence,
        desired_capacity=desired,
        in_service_capacity=desired,
        recent_load=recent,
    )


# --------------------------------------------------------------------------- reporting


def query_names(request: Any) -> set[str]:
    """Every value of a query-protocol request's form (group names, ...)."""
    from urllib.parse import parse_qs

    return {v for values in parse_qs(request.body.decode(errors="replace")).values() for v in values}


def for_group(name: str) -> Callable[[Any], bool]:
    """A proxy rule condition: an Auto Scaling request about group ``name``."""
    return lambda request: name in query_names(request)


#: How an injection ended, by the end of the input event it hit.
FAULT_OUTCOME = {
    "succeeded": "survived",
    "reported_failed": "contained",
    "dead_lettered": "contained",
    "returned": "contained",
    "lost": "lost",
}


def report(
    figures: Any,
    handler: str,
    world: World,
    ledger: Any,
    checks: dict[str, bool],
    *,
    extra: dict[str, list[str]] | None = None,
) -> None:
    """Record the faults this test injected and where its input events ended, then assert the outcome.

    An injection is one proxy rule as it hit one input event (its faulted responses, botocore's retries
    included, are counted apart); ``extra`` names faults made without the proxy (a corrupt model artifact,
    a late metric...) as ``kind -> [input key hit, one per injection]``. An injection *survived* when its
    event still ended in success (possibly after Lambda's retry), was *contained* when the event ended in
    the dead-letter queue, was refused to its caller or was reported failed, and is *lost* otherwise.
    """
    hits = [(i.kind, i.input_key, i.responses) for i in world.proxy.injections()]
    hits += [(kind, key, 0) for kind, keys in (extra or {}).items() for key in keys]
    for kind, key, responses in hits:
        end = ledger.outcomes.get(key) if key is not None else None
        if end is None or end == "pending":
            raise AssertionError(f"{kind} injection hit input {key!r}, which has no end in the ledger: {ledger}")
        outcome = FAULT_OUTCOME[end]
        figures.add(
            "faults",
            f"{handler}/{kind}",
            handler=handler,
            kind=kind,
            injections=1,
            responses=responses,
            **{o: int(o == outcome) for o in ("survived", "contained", "lost")},
        )
    figures.add("events", handler, handler=handler, **ledger.as_dict())
    assert ledger.lost == 0, ledger
    failed = [name for name, passed in checks.items() if not passed]
    assert not failed, f"end-state checks failed: {failed}"


def alarm_envelope(target_id: str, value: float = 0.97) -> dict[str, Any]:
    """The EventBridge envelope of a target's SLO breach, as the decider publishes it."""
    breach = SloBreached(
        breach_id=f"breach-{target_id}", target_id=target_id, detected_at=NOON, datapoint_at=NOON,
        slo_utilization=0.9, datapoints=[value], evaluation_periods=3, datapoints_to_alarm=2,
        in_service_capacity=0, desired_capacity=0,
    )  # fmt: skip
    return to_envelope(breach, event_id=f"alarm-{target_id}", time=NOON)
