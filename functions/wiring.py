"""The composition root: :class:`Components` builds boto3 clients, adapters and services from
:class:`~functions.settings.Settings`, a :class:`~functions.domain.clock.Clock` and an id source.

Each component is a cached property: built on first use and kept for the life of the container, and
only what a function uses is built (the decider never imports the forecasting libraries). A Lambda
builds one container per cold start (:func:`components`), so a warm invocation reuses clients and
caches. Tests build their own, with a fixed clock and their settings, and pass replacements (in-memory
twins, a ``sleep`` that does not wait, a recording sink) to its constructor; one that runs handlers
makes its container theirs with :func:`use`.

:func:`install` makes a container the handlers' for good (the local command, the benchmarks); there is
no global reset: a caller that is done installs ``None`` or uses :func:`use`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

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
    from functions.ports.operator_config import OperatorConfigStore
    from functions.ports.state import StateStore
    from functions.ports.tracker import TrackerRecords
    from functions.services.alarms import AlarmResponderService
    from functions.services.collector import CollectorService
    from functions.services.common import MetricSink, Retrier
    from functions.services.decider import DeciderService
    from functions.services.executor import ExecutorService
    from functions.services.forecaster import ForecasterService
    from functions.services.intake import IntakeService
    from functions.services.model_registry import ModelLoader
    from functions.services.operator import OperatorService
    from functions.services.targets import TargetCatalog
    from functions.services.trainer import TrainerService
    from functions.services.widget import WidgetService
    from models.config import ForecastConfig


@dataclass
class UuidIds:
    """Ids for production: ``<prefix>-<uuid4 hex>`` (the domain takes an id source; only wiring mints these)."""

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex}"


class Clients:
    """``clients("s3")``: one boto3 client per service and retry budget, on the configured endpoint
    (``AWS_ENDPOINT_URL``: moto's server in local runs).

    ``retries`` is botocore's total attempts; the capacity clients use 1 because the executor retries
    with its own backoff (and its injected sleep).
    """

    def __init__(self, endpoint_url: str | None) -> None:
        self.endpoint_url = endpoint_url
        self._built: dict[tuple[str, int], Any] = {}

    def __call__(self, service: str, *, retries: int = 3) -> Any:
        if (service, retries) not in self._built:
            import boto3
            from botocore.config import Config

            self._built[(service, retries)] = boto3.client(  # type: ignore[call-overload]
                service,
                endpoint_url=self.endpoint_url,
                config=Config(
                    retries={"mode": "standard", "total_max_attempts": retries},
                    connect_timeout=5,
                    read_timeout=30,
                    max_pool_connections=25,
                ),
            )
        return self._built[(service, retries)]


class Components:
    """Every component of a forescale function, each built once on first use (see the module docstring).

    ``overrides`` replace components by name (``state_store=InMemoryStateStore()``, ``sink=...``); a
    name that is not a component is refused.
    """

    def __init__(self, settings: Settings, clock: Clock, ids: IdSource, **overrides: Any) -> None:
        unknown = sorted(set(overrides) - self.names())
        if unknown:
            raise ValueError(f"Components: unknown component(s) {unknown}; known: {sorted(self.names())}")
        self.settings = settings
        self.clock = clock
        self.ids = ids
        self.overrides = dict(overrides)
        self.__dict__.update(overrides)  # where cached_property keeps its value: an override is "already built"

    @classmethod
    def from_env(cls, **overrides: Any) -> Components:
        """The production container: settings from the environment, the system clock, uuid ids."""
        from functions.domain.clock import SystemClock

        settings = overrides.pop("settings", None) or Settings.from_env()
        return cls(
            settings,
            overrides.pop("clock", None) or SystemClock(),
            overrides.pop("ids", None) or UuidIds(),
            **overrides,
        )

    def replaced(self, **changes: Any) -> Components:
        """A new container with the same settings, clock, ids and overrides but ``changes`` (nothing built yet)."""
        settings = changes.pop("settings", self.settings)
        clock = changes.pop("clock", self.clock)
        ids = changes.pop("ids", self.ids)
        return Components(settings, clock, ids, **{**self.overrides, **changes})

    @classmethod
    def names(cls) -> frozenset[str]:
        """The components a constructor may replace (every cached property)."""
        return frozenset(name for name, value in vars(cls).items() if isinstance(value, cached_property))

    # ----------------------------------------------------------------------- basics

    @cached_property
    def sleep(self) -> Callable[[float], None]:
        return time.sleep

    @cached_property
    def sink(self) -> MetricSink:
        from functions.adapters.emf import EmfSink
        from functions.services.common import METRICS_NAMESPACE

        return EmfSink(METRICS_NAMESPACE)

    @cached_property
    def forecast_config(self) -> ForecastConfig | None:
        return None

    @cached_property
    def client(self) -> Callable[..., Any]:
        return Clients(self.settings.endpoint_url)

    # ----------------------------------------------------------------------- adapters

    @cached_property
    def objects(self) -> ObjectStore:
        from functions.adapters.s3_objects import S3Objects

        return S3Objects(self.client("s3"), self.settings.bucket)

    @cached_property
    def archive(self) -> Archive:
        from functions.adapters.s3 import S3Store
        from functions.adapters.s3_objects import S3Objects

        audit_bucket = self.settings.audit_bucket
        audit = S3Objects(self.client("s3"), audit_bucket) if audit_bucket else None
        return S3Store(self.objects, audit=audit)

    @cached_property
    def operator_config(self) -> OperatorConfigStore:
        """The operator's targets object next to the deployed one (``functions.services.targets``)."""
        from functions.adapters.operator_config import S3OperatorConfig
        from functions.services.targets import operator_key

        return S3OperatorConfig(self.client("s3"), self.settings.bucket, operator_key(self.settings.targets_key))

    @cached_property
    def tracker_records(self) -> TrackerRecords:
        from functions.adapters.tracker_records import S3TrackerRecords

        return S3TrackerRecords(self.client("s3"), self.settings.bucket)

    @cached_property
    def state_store(self) -> StateStore:
        from functions.adapters.dynamodb import DynamoStateStore, TableNames

        s = self.settings
        names = TableNames(s.state_table, s.audit_table, s.business_events_table, s.model_registry_table)
        return DynamoStateStore(self.client("dynamodb"), names)

    @cached_property
    def metrics_source(self) -> MetricsSource:
        """The metric stream's objects when one is configured (GetMetricData for what it cannot answer)."""
        from functions.adapters.cloudwatch import CloudWatchMetricsSource

        get_metric_data = CloudWatchMetricsSource(self.client("cloudwatch"))
        prefix = self.settings.metric_stream_prefix
        if prefix is None:
            return get_metric_data
        from functions.adapters.metric_stream import StreamMetricsSource
        from functions.adapters.s3_objects import S3Objects

        return StreamMetricsSource(
            S3Objects(self.client("s3"), self.settings.bucket), fallback=get_metric_data, prefix=prefix
        )

    @cached_property
    def metrics_publisher(self) -> MetricsPublisher:
        from functions.adapters.cloudwatch import CloudWatchMetricsPublisher

        return CloudWatchMetricsPublisher(self.client("cloudwatch"))

    @cached_property
    def publisher(self) -> EventPublisher:
        from functions.adapters.eventbridge import EventBridgePublisher

        return EventBridgePublisher(self.client("events"), bus_name=self.settings.event_bus, sleep=self.sleep)

    @cached_property
    def capacity(self) -> CapacityApi:
        from functions.adapters.capacity import AsgCapacity, CapacityRouter, EcsCapacity

        return CapacityRouter(
            asg=AsgCapacity(self.client("autoscaling", retries=1)),
            ecs=EcsCapacity(self.client("ecs", retries=1), self.client("application-autoscaling", retries=1)),
        )

    @cached_property
    def discovery(self) -> TargetDiscovery | None:
        from functions.adapters.discovery import AwsTagDiscovery, parse_tag_filter

        tag = self.settings.discovery_tag
        if tag is None:
            return None
        return AwsTagDiscovery(
            self.client("autoscaling"), self.client("resourcegroupstaggingapi"), tag=parse_tag_filter(tag)
        )

    @cached_property
    def invoker(self) -> Invoker:
        from functions.adapters.invoke import LambdaInvoker

        return LambdaInvoker(self.client("lambda"))

    @cached_property
    def idempotency_store(self) -> BasePersistenceLayer:
        """The executor's idempotency records (DynamoDB); :mod:`functions.handlers.idempotency` uses them."""
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        return DynamoDBPersistenceLayer(
            table_name=self.settings.idempotency_table, boto3_client=self.client("dynamodb")
        )

    # ----------------------------------------------------------------------- services

    @cached_property
    def catalog(self) -> TargetCatalog:
        from functions.services.targets import TargetCatalog

        return TargetCatalog(
            self.objects, self.settings.targets_key, self.clock, self.discovery, operator=self.operator_config
        )

    @cached_property
    def model_loader(self) -> ModelLoader:
        from functions.services.model_registry import ModelLoader, unfitted_service

        return ModelLoader(self.state_store, self.archive, unfitted_service(self.forecast_config))

    @cached_property
    def retrier(self) -> Retrier:
        from functions.services.common import Retrier

        return Retrier(sleep=self.sleep)

    @cached_property
    def collector(self) -> CollectorService:
        from functions.services.collector import CollectorService

        s = self.settings
        return CollectorService(
            catalog=self.catalog,
            metrics=self.metrics_source,
            capacity=self.capacity,
            archive=self.archive,
            publisher=self.publisher,
            clock=self.clock,
            ids=self.ids,
            invoker=self.invoker,
            sink=self.sink,
            batch_size=s.batch_size,
            shard_size=s.shard_size,
            collect_every_seconds=s.collect_every_seconds,
        )

    @cached_property
    def forecaster(self) -> ForecasterService:
        from functions.domain.decision import DecisionPolicy
        from functions.services.forecaster import ForecasterService

        return ForecasterService(
            catalog=self.catalog,
            store=self.state_store,
            archive=self.archive,
            publisher=self.publisher,
            models=self.model_loader,
            clock=self.clock,
            ids=self.ids,
            sink=self.sink,
            history_days=self.settings.forecast_history_days,
            # every round: the decider observes each datapoint for the SLO budget (and target tracking)
            every_round=True,
            surprise_decisions=DecisionPolicy().surprise_decisions,
        )

    @cached_property
    def decider(self) -> DeciderService:
        from functions.domain.decision import DecisionPolicy
        from functions.services.decider import DeciderService

        return DeciderService(
            catalog=self.catalog,
            store=self.state_store,
            archive=self.archive,
            records=self.tracker_records,
            publisher=self.publisher,
            clock=self.clock,
            ids=self.ids,
            sink=self.sink,
            policy=DecisionPolicy(stale_after_seconds=self.settings.forecast_stale_seconds),
            forecast_error_threshold_pct=self.settings.forecast_error_threshold_percent,
        )

    @cached_property
    def executor(self) -> ExecutorService:
        from functions.services.executor import ExecutorService

        return ExecutorService(
            catalog=self.catalog,
            store=self.state_store,
            archive=self.archive,
            publisher=self.publisher,
            capacity=self.capacity,
            clock=self.clock,
            retrier=self.retrier,
            sink=self.sink,
        )

    @cached_property
    def intake(self) -> IntakeService:
        from functions.services.intake import IntakeService

        return IntakeService(self.catalog, self.state_store, self.clock)

    @cached_property
    def alarm_responder(self) -> AlarmResponderService:
        from functions.services.alarms import AlarmResponderService

        return AlarmResponderService(
            catalog=self.catalog,
            store=self.state_store,
            archive=self.archive,
            publisher=self.publisher,
            capacity=self.capacity,
            clock=self.clock,
            ids=self.ids,
            retrier=self.retrier,
        )

    @cached_property
    def trainer(self) -> TrainerService:
        from functions.services.trainer import TrainerService

        return TrainerService(
            catalog=self.catalog,
            store=self.state_store,
            archive=self.archive,
            publisher=self.publisher,
            metrics=self.metrics_publisher,
            models=self.model_loader,
            clock=self.clock,
            config=self.forecast_config,
            invoker=self.invoker,
        )

    @cached_property
    def operator(self) -> OperatorService:
        from functions.services.operator import OperatorService

        return OperatorService(self.catalog, self.state_store, self.publisher, self.clock, config=self.operator_config)

    @cached_property
    def widget(self) -> WidgetService:
        from functions.services.widget import WidgetService

        return WidgetService(catalog=self.catalog, store=self.state_store, archive=self.archive, clock=self.clock)


# --------------------------------------------------------------------------- the handlers' container

#: the handlers' container, once built (a one-element list: replaced in place, no ``global``)
_current: list[Components] = []


def components() -> Components:
    """The handlers' container: built from the environment on the first call of a cold start."""
    if not _current:
        _current.append(Components.from_env())
    return _current[0]


def installed() -> Components | None:
    """The handlers' container if one is built or installed (None: the next call builds it)."""
    return _current[0] if _current else None


def install(container: Components | None) -> None:
    """Make ``container`` the handlers' container (None: build it from the environment on the next call)."""
    _current[:] = [] if container is None else [container]


@contextmanager
def use(container: Components) -> Iterator[Components]:
    """Make ``container`` the handlers' container while the block runs (tests that invoke handlers)."""
    previous = installed()
    install(container)
    try:
        yield container
    finally:
        install(previous)
