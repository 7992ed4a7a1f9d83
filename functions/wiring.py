"""The one place that builds boto3 clients, adapters and services, from :class:`~functions.settings.Settings`.

Everything is built on first use and kept for the life of the container (a warm Lambda reuses clients
and caches), and only what a function uses is built: the decider never imports the forecasting
libraries. Tests and the local router replace parts with :func:`configure` (a clock, an id source, a
``sleep`` that does not wait, in-memory twins...) and start afresh with :func:`reset`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from functions.settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

    from functions.domain.clock import Clock, IdSource
    from functions.ports.archive import Archive, ObjectStore
    from functions.ports.bus import EventPublisher
    from functions.ports.capacity import CapacityApi
    from functions.ports.discovery import TargetDiscovery
    from functions.ports.invoke import Invoker
    from functions.ports.metrics import MetricsPublisher, MetricsSource
    from functions.ports.state import StateStore
    from functions.ports.tracker import TrackerRecords
    from functions.services.alarms import AlarmResponderService
    from functions.services.collector import CollectorService
    from functions.services.common import MetricSink
    from functions.services.decider import DeciderService
    from functions.services.executor import ExecutorService
    from functions.services.forecaster import ForecasterService
    from functions.services.intake import IntakeService
    from functions.services.models import ModelLoader
    from functions.services.operator import OperatorService
    from functions.services.targets import TargetCatalog
    from functions.services.trainer import TrainerService
    from models.config import ForecastConfig

T = TypeVar("T")

#: What :func:`configure` may replace (each has a builder below with the same name).
COMPONENTS = frozenset(
    {
        "settings", "clock", "ids", "sleep", "sink", "forecast_config",
        "objects", "state_store", "archive", "tracker_records", "metrics_source", "metrics_publisher", "publisher", "capacity",
        "discovery", "catalog", "invoker", "model_loader", "idempotency_store",
        "collector", "forecaster", "decider", "executor", "intake", "alarm_responder", "trainer", "operator",
    }
)  # fmt: skip

_built: dict[str, Any] = {}
_overrides: dict[str, Any] = {}


def configure(**components: Any) -> None:
    """Replace components (tests, local runs); names outside :data:`COMPONENTS` are refused."""
    unknown = sorted(set(components) - COMPONENTS)
    if unknown:
        raise ValueError(f"configure: unknown component(s) {unknown}; known: {sorted(COMPONENTS)}")
    _overrides.update(components)
    _built.clear()


def reset() -> None:
    """Forget every built component and override (the next call builds from the environment again)."""
    _built.clear()
    _overrides.clear()


def _get(name: str, build: Callable[[], T]) -> T:
    if name in _overrides:
        return _overrides[name]
    if name not in _built:
        _built[name] = build()
    return _built[name]


# --------------------------------------------------------------------------- basics


def settings() -> Settings:
    return _get("settings", Settings.from_env)


@dataclass
class UuidIds:
    """Ids for production: ``<prefix>-<uuid4 hex>`` (the domain takes an id source; only wiring mints these)."""

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex}"


def clock() -> Clock:
    from functions.domain.clock import SystemClock

    return _get("clock", SystemClock)


def ids() -> IdSource:
    return _get("ids", UuidIds)


def sleep() -> Callable[[float], None]:
    import time

    return _get("sleep", lambda: time.sleep)


def sink() -> MetricSink:
    from functions.adapters.emf import EmfSink
    from functions.services.common import METRICS_NAMESPACE

    return _get("sink", lambda: EmfSink(METRICS_NAMESPACE))


def forecast_config() -> ForecastConfig | None:
    return _get("forecast_config", lambda: None)


def client(service: str, *, retries: int = 3) -> Any:
    """A boto3 client on the configured endpoint (``AWS_ENDPOINT_URL``: moto's server in local runs).

    ``retries`` is botocore's total attempts; the capacity clients use 1 because the executor retries
    with its own backoff (and its injected sleep).
    """

    def build() -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=settings().endpoint_url,
            config=Config(
                retries={"mode": "standard", "total_max_attempts": retries},
                connect_timeout=5,
                read_timeout=30,
                max_pool_connections=25,
            ),
        )

    return _get(f"client:{service}:{retries}", build)


# --------------------------------------------------------------------------- adapters


def objects() -> ObjectStore:
    from functions.adapters.s3 import S3Objects

    return _get("objects", lambda: S3Objects(client("s3"), settings().bucket))


def archive() -> Archive:
    from functions.adapters.s3 import S3Objects, S3Store

    def build() -> Archive:
        audit_bucket = settings().audit_bucket
        audit = S3Objects(client("s3"), audit_bucket) if audit_bucket else None
        return S3Store(objects(), audit=audit)

    return _get("archive", build)


def tracker_records() -> TrackerRecords:
    from functions.adapters.tracker_records import S3TrackerRecords

    return _get("tracker_records", lambda: S3TrackerRecords(client("s3"), settings().bucket))


def state_store() -> StateStore:
    def build() -> StateStore:
        from functions.adapters.dynamodb import DynamoStateStore, TableNames

        s = settings()
        names = TableNames(s.state_table, s.audit_table, s.business_events_table, s.model_registry_table)
        return DynamoStateStore(client("dynamodb"), names)

    return _get("state_store", build)


def metrics_source() -> MetricsSource:
    from functions.adapters.cloudwatch import CloudWatchMetricsSource

    return _get("metrics_source", lambda: CloudWatchMetricsSource(client("cloudwatch")))


def metrics_publisher() -> MetricsPublisher:
    from functions.adapters.cloudwatch import CloudWatchMetricsPublisher

    return _get("metrics_publisher", lambda: CloudWatchMetricsPublisher(client("cloudwatch")))


def publisher() -> EventPublisher:
    from functions.adapters.eventbridge import EventBridgePublisher

    return _get(
        "publisher", lambda: EventBridgePublisher(client("events"), bus_name=settings().event_bus, sleep=sleep())
    )


def capacity() -> CapacityApi:
    def build() -> CapacityApi:
        from functions.adapters.capacity import AsgCapacity, CapacityRouter, EcsCapacity

        return CapacityRouter(
            asg=AsgCapacity(client("autoscaling", retries=1)),
            ecs=EcsCapacity(client("ecs", retries=1), client("application-autoscaling", retries=1)),
        )

    return _get("capacity", build)


def discovery() -> TargetDiscovery | None:
    def build() -> TargetDiscovery | None:
        from functions.adapters.discovery import AwsTagDiscovery, parse_tag_filter

        tag = settings().discovery_tag
        if tag is None:
            return None
        return AwsTagDiscovery(client("autoscaling"), client("resourcegroupstaggingapi"), tag=parse_tag_filter(tag))

    return _get("discovery", build)


def catalog() -> TargetCatalog:
    from functions.services.targets import TargetCatalog

    return _get("catalog", lambda: TargetCatalog(objects(), settings().targets_key, clock(), discovery()))


def invoker() -> Invoker:
    from functions.adapters.invoke import LambdaInvoker

    return _get("invoker", lambda: LambdaInvoker(client("lambda")))


def model_loader() -> ModelLoader:
    from functions.services.models import ModelLoader, unfitted_service

    return _get("model_loader", lambda: ModelLoader(state_store(), archive(), unfitted_service(forecast_config())))


# --------------------------------------------------------------------------- services


def collector() -> CollectorService:
    from functions.services.collector import CollectorService

    def build() -> CollectorService:
        s = settings()
        return CollectorService(
            catalog=catalog(),
            metrics=metrics_source(),
            capacity=capacity(),
            archive=archive(),
            publisher=publisher(),
            clock=clock(),
            ids=ids(),
            invoker=invoker(),
            sink=sink(),
            batch_size=s.batch_size,
            shard_size=s.shard_size,
            collect_every_seconds=s.collect_every_seconds,
        )

    return _get("collector", build)


def forecaster() -> ForecasterService:
    from functions.domain.decision import DecisionPolicy
    from functions.services.forecaster import ForecasterService

    def build() -> ForecasterService:
        return ForecasterService(
            catalog=catalog(),
            store=state_store(),
            archive=archive(),
            publisher=publisher(),
            models=model_loader(),
            clock=clock(),
            ids=ids(),
            sink=sink(),
            history_days=settings().forecast_history_days,
            # every round: the decider observes each datapoint for the SLO budget (and target tracking)
            every_round=True,
            surprise_decisions=DecisionPolicy().surprise_decisions,
        )

    return _get("forecaster", build)


def decider() -> DeciderService:
    from functions.domain.decision import DecisionPolicy
    from functions.services.decider import DeciderService

    def build() -> DeciderService:
        return DeciderService(
            catalog=catalog(),
            store=state_store(),
            archive=archive(),
            records=tracker_records(),
            publisher=publisher(),
            clock=clock(),
            ids=ids(),
            sink=sink(),
            policy=DecisionPolicy(stale_after_seconds=settings().forecast_stale_seconds),
        )

    return _get("decider", build)


def retrier() -> Any:
    from functions.services.common import Retrier

    return Retrier(sleep=sleep())


def executor() -> ExecutorService:
    from functions.services.executor import ExecutorService

    def build() -> ExecutorService:
        return ExecutorService(
            catalog=catalog(),
            store=state_store(),
            archive=archive(),
            publisher=publisher(),
            capacity=capacity(),
            clock=clock(),
            retrier=retrier(),
            sink=sink(),
        )

    return _get("executor", build)


def idempotency_store() -> BasePersistenceLayer:
    """The executor's idempotency records (DynamoDB); :mod:`functions.handlers.idempotency` uses them."""

    def build() -> BasePersistenceLayer:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        return DynamoDBPersistenceLayer(table_name=settings().idempotency_table, boto3_client=client("dynamodb"))

    return _get("idempotency_store", build)


def intake() -> IntakeService:
    from functions.services.intake import IntakeService

    return _get("intake", lambda: IntakeService(catalog(), state_store(), clock()))


def alarm_responder() -> AlarmResponderService:
    from functions.services.alarms import AlarmResponderService

    def build() -> AlarmResponderService:
        return AlarmResponderService(
            catalog=catalog(),
            store=state_store(),
            archive=archive(),
            publisher=publisher(),
            capacity=capacity(),
            clock=clock(),
            ids=ids(),
            alarm_prefix=settings().slo_alarm_prefix,
            retrier=retrier(),
        )

    return _get("alarm_responder", build)


def trainer() -> TrainerService:
    from functions.services.trainer import TrainerService

    def build() -> TrainerService:
        return TrainerService(
            catalog=catalog(),
            store=state_store(),
            archive=archive(),
            publisher=publisher(),
            metrics=metrics_publisher(),
            models=model_loader(),
            clock=clock(),
            config=forecast_config(),
            invoker=invoker(),
        )

    return _get("trainer", build)


def operator() -> OperatorService:
    from functions.services.operator import OperatorService

    return _get("operator", lambda: OperatorService(catalog(), state_store(), publisher(), clock()))
