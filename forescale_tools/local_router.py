"""The local event router: the whole pipeline on one machine, events routed as the deployed rules route them.

One source of truth: the rules are built from :data:`functions.routing.ROUTES` (the contract's
``event_pattern``), exactly as the CDK stack builds its EventBridge rules.

Two transports:

- :class:`MotoTransport` (local runs, end-to-end tests): the handlers' publisher really calls
  ``PutEvents`` on moto's server; the router has created one EventBridge rule per route on the bus,
  each targeting an SQS queue of the consuming function, so moto
  matches the patterns and delivers the envelopes; the router polls the queues and invokes the handler.
- :class:`MemoryTransport` (load tests): :class:`~forescale_tools.memory.InMemoryEventBus` hands each
  envelope to the router, which matches the same patterns itself.

Handlers are invoked as Lambda invokes them: the event dict and a :class:`LambdaContext` stand-in. A
failing invocation is retried twice (Lambda's asynchronous retries) and then kept in
:attr:`LocalRouter.dead_letters`, as the function's dead-letter queue would keep it.
"""

from __future__ import annotations

import importlib
import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from functions.ports.capacity import CONSENT_TAG_KEY, CONSENT_TAG_VALUE
from functions.routing import ROUTES

ACCOUNT = "123456789012"
REGION = "us-east-1"
#: Asynchronous invocations are tried this many times in all before the dead-letter queue (Lambda's default).
ATTEMPTS = 3

Handler = Callable[[dict[str, Any], Any], Any]


# --------------------------------------------------------------------------- Lambda stand-ins


@dataclass
class LambdaContext:
    """What a handler reads from Lambda's context object."""

    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 512
    timeout_seconds: int = 900
    function_version: str = "$LATEST"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


def load_handler(function: str) -> Handler:
    """``functions.handlers.<function>.handler`` (what the catalogue's handler string names)."""
    module = importlib.import_module(f"functions.handlers.{function}")
    handler: Handler = module.handler
    return handler


def pattern_matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """EventBridge matching for the patterns forescale uses: lists of allowed values, nested objects."""
    for key, allowed in pattern.items():
        value = event.get(key)
        if isinstance(allowed, Mapping):
            if not isinstance(value, Mapping) or not pattern_matches(allowed, value):
                return False
        elif isinstance(value, list):
            if not any(v in allowed for v in value):
                return False
        elif value not in allowed:
            return False
    return True


def subscriptions() -> list[tuple[str, dict[str, Any], bool]]:
    """``(function, pattern, on the default bus)`` for every rule the stack creates."""
    return [(route.function, dict(route.pattern), False) for route in ROUTES]


# --------------------------------------------------------------------------- transports


@dataclass(frozen=True)
class Message:
    function: str
    envelope: dict[str, Any]
    receipt: str = ""


class Transport(Protocol):
    def receive(self) -> list[Message]:
        """Messages waiting for the functions (empty when none)."""
        ...

    def done(self, message: Message) -> None:
        """The message was handled (or given up): remove it."""
        ...


class MotoTransport:
    """Rules on moto's EventBridge whose targets are SQS queues, one queue per consuming function."""

    def __init__(self, events: Any, sqs: Any, *, bus_name: str, prefix: str = "forescale-local") -> None:
        self._events = events
        self._sqs = sqs
        self._bus = bus_name
        self._prefix = prefix
        self.queues: dict[str, str] = {}

    def setup(self) -> None:
        for function, pattern, default_bus in subscriptions():
            if function not in self.queues:
                url = self._sqs.create_queue(QueueName=f"{self._prefix}-{function}")["QueueUrl"]
                self.queues[function] = url
            arn = self._sqs.get_queue_attributes(QueueUrl=self.queues[function], AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            name = f"{self._prefix}-{function}-rule"
            bus: dict[str, str] = {} if default_bus else {"EventBusName": self._bus}
            self._events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED", **bus)
            self._events.put_targets(Rule=name, Targets=[{"Id": function, "Arn": arn}], **bus)

    def receive(self) -> list[Message]:
        out: list[Message] = []
        for function, url in self.queues.items():
            response = self._sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            for item in response.get("Messages", []):
                envelope = json.loads(item["Body"])
                # moto leaves out ``account`` when it forwards to SQS; EventBridge always sets it.
                envelope.setdefault("account", ACCOUNT)
                envelope.pop("ingestion-time", None)
                out.append(Message(function, envelope, item["ReceiptHandle"]))
        return out

    def done(self, message: Message) -> None:
        self._sqs.delete_message(QueueUrl=self.queues[message.function], ReceiptHandle=message.receipt)


class MemoryTransport:
    """In-process delivery from an :class:`~forescale_tools.memory.InMemoryEventBus` (same patterns)."""

    def __init__(self, bus: Any) -> None:
        self._waiting: deque[dict[str, Any]] = deque()
        bus.subscribe(self._waiting.append)
        self._subscriptions = subscriptions()

    def publish_aws_event(self, envelope: dict[str, Any]) -> None:
        """Deliver an AWS-owned event (an alarm state change) as the default bus would."""
        self._waiting.append(envelope)

    def receive(self) -> list[Message]:
        out: list[Message] = []
        while self._waiting:
            envelope = self._waiting.popleft()
            out += [
                Message(fn, envelope) for fn, pattern, _ in self._subscriptions if pattern_matches(pattern, envelope)
            ]
        return out

    def done(self, message: Message) -> None:
        return None


# --------------------------------------------------------------------------- the router


@dataclass
class Delivery:
    """One handler invocation: what it was given and what it returned (or raised, after every attempt)."""

    function: str
    event: dict[str, Any]
    result: Any = None
    error: BaseException | None = None
    attempts: int = 1

    @property
    def detail_type(self) -> str:
        return str(self.event.get("detail-type", "invocation"))


@dataclass
class LocalRouter:
    transport: Transport
    handlers: dict[str, Handler] = field(default_factory=dict)
    #: Called after every delivery (the local CLI prints from it).
    on_delivery: Callable[[Delivery], None] | None = None
    dead_letters: list[Delivery] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    keep_history: bool = True
    _direct: deque[tuple[str, dict[str, Any]]] = field(default_factory=deque, init=False)
    _requests: Iterator[int] = field(default_factory=lambda: itertools.count(1), init=False)

    def handler(self, function: str) -> Handler:
        if function not in self.handlers:
            self.handlers[function] = load_handler(function)
        return self.handlers[function]

    def invoke(self, function: str, event: dict[str, Any]) -> Delivery:
        """One asynchronous-style invocation: tried up to 3 times, then dead-lettered."""
        delivery = Delivery(function, event)
        for attempt in range(1, ATTEMPTS + 1):
            delivery.attempts = attempt
            context = LambdaContext(function_name=function, aws_request_id=f"local-{next(self._requests):08d}")
            try:
                delivery.result = self.handler(function)(event, context)
                delivery.error = None
                break
            except Exception as error:  # a Lambda invocation error of any kind: retried, then dead-lettered
                delivery.error = error
        if delivery.error is not None:
            self.dead_letters.append(delivery)
        if self.keep_history:
            self.deliveries.append(delivery)
        if self.on_delivery is not None:
            self.on_delivery(delivery)
        return delivery

    def invoke_async(self, function: str, payload: Mapping[str, Any]) -> None:
        """:class:`~functions.adapters.invoke.Invoker`: queue an invocation (name or ARN) for :meth:`pump`."""
        self._direct.append((function.rsplit(":", 1)[-1], dict(payload)))

    def pump(self, *, max_messages: int = 1_000_000) -> list[Delivery]:
        """Deliver until no event and no queued invocation is left; returns this call's deliveries (none when
        ``keep_history`` is off: a long run keeps no per-event record, ``on_delivery`` sees each one)."""
        done: list[Delivery] = []
        handled = 0
        while handled < max_messages:
            if self._direct:
                function, payload = self._direct.popleft()
                delivery = self.invoke(function, payload)
                if self.keep_history:
                    done.append(delivery)
                handled += 1
                continue
            messages = self.transport.receive()
            if not messages:
                break
            for message in messages:
                delivery = self.invoke(message.function, message.envelope)
                if self.keep_history:
                    done.append(delivery)
                self.transport.done(message)
                handled += 1
        return done


# --------------------------------------------------------------------------- resources of a local run


@dataclass
class LocalAws:
    """forescale's tables, bucket and bus on a local endpoint (moto's server), named ``<prefix>-...``."""

    endpoint: str
    prefix: str = "forescale-local"
    _clients: dict[str, Any] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.prefix != self.prefix.lower():
            raise ValueError("prefix: must be lower case (it names an S3 bucket)")

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3

            self._clients[service] = boto3.client(  # type: ignore[call-overload]
                service, endpoint_url=self.endpoint, region_name=REGION
            )
        return self._clients[service]

    @property
    def bucket(self) -> str:
        return f"{self.prefix}-bucket"

    @property
    def audit_bucket(self) -> str:
        return f"{self.prefix}-audit"

    @property
    def bus(self) -> str:
        return f"{self.prefix}-bus"

    @property
    def idempotency_table(self) -> str:
        return f"{self.prefix}-Idempotency"

    def table_names(self) -> Any:
        from functions.adapters.dynamodb import TableNames

        return TableNames.with_prefix(self.prefix)

    def environment(self) -> dict[str, str]:
        """The variables the CDK stack gives every function (``functions.settings.Settings.from_env``)."""
        from functions.adapters import tables

        names = self.table_names()
        return {
            tables.STATE.env_var: names.state,
            tables.AUDIT.env_var: names.audit,
            tables.BUSINESS_EVENTS.env_var: names.business_events,
            tables.MODEL_REGISTRY.env_var: names.model_registry,
            tables.IDEMPOTENCY.env_var: self.idempotency_table,
            "BUCKET_NAME": self.bucket,
            "AUDIT_BUCKET_NAME": self.audit_bucket,
            "EVENT_BUS_NAME": self.bus,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }

    def create(self) -> None:
        from functions.adapters import tables
        from functions.adapters.dynamodb import create_tables

        dynamodb = self.client("dynamodb")
        create_tables(dynamodb, self.table_names())
        dynamodb.create_table(**tables.create_table_kwargs(tables.IDEMPOTENCY, self.idempotency_table))
        from functions.adapters.s3 import DEFAULT_AUDIT_RETENTION_DAYS

        s3 = self.client("s3")
        s3.create_bucket(Bucket=self.bucket)
        # as deployed: Object Lock in compliance mode, every audit version locked when written
        s3.create_bucket(Bucket=self.audit_bucket, ObjectLockEnabledForBucket=True)
        retention = {"Mode": "COMPLIANCE", "Days": DEFAULT_AUDIT_RETENTION_DAYS}
        s3.put_object_lock_configuration(
            Bucket=self.audit_bucket,
            ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": retention}},
        )
        self.client("events").create_event_bus(Name=self.bus)

    def put_targets(self, targets: list[Any], key: str = "config/targets.json") -> None:
        """Write the targets configuration object (what the CDK deployment writes)."""
        body = json.dumps([t.model_dump(mode="json") for t in targets], indent=1)
        self.client("s3").put_object(Bucket=self.bucket, Key=key, Body=body.encode())

    def transport(self) -> MotoTransport:
        transport = MotoTransport(self.client("events"), self.client("sqs"), bus_name=self.bus, prefix=self.prefix)
        transport.setup()
        return transport

    # ----------------------------------------------------------------- simulated fleets

    def create_asg(
        self, name: str, *, desired: int, min_size: int, max_size: int, tags: dict[str, str] | None = None
    ) -> None:
        """A group; ``tags`` default to the consent tag ``forescale:enabled=true`` (pass ``{}`` for none)."""
        tags = {CONSENT_TAG_KEY: CONSENT_TAG_VALUE} if tags is None else tags
        ec2 = self.client("ec2")
        subnets = [
            s["SubnetId"]
            for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        ]
        template = f"{name}-lt"
        ec2.create_launch_template(
            LaunchTemplateName=template, LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
        )
        self.client("autoscaling").create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": template, "Version": "$Latest"},
            MinSize=min_size,
            MaxSize=max_size,
            DesiredCapacity=desired,
            VPCZoneIdentifier=",".join(subnets[:2]),
            Tags=[
                {
                    "Key": k,
                    "Value": v,
                    "PropagateAtLaunch": False,
                    "ResourceId": name,
                    "ResourceType": "auto-scaling-group",
                }
                for k, v in tags.items()
            ],
        )

    def create_ecs_service(
        self, cluster: str, service: str, *, desired: int, tags: dict[str, str] | None = None
    ) -> None:
        """A service; ``tags`` default to the consent tag ``forescale:enabled=true`` (pass ``{}`` for none)."""
        tags = {CONSENT_TAG_KEY: CONSENT_TAG_VALUE} if tags is None else tags
        ecs = self.client("ecs")
        ecs.create_cluster(clusterName=cluster)
        task = ecs.register_task_definition(
            family=f"{cluster}-{service}", containerDefinitions=[{"name": "app", "image": "nginx", "memory": 128}]
        )["taskDefinition"]["taskDefinitionArn"]
        extra = {"tags": [{"key": k, "value": v} for k, v in tags.items()]} if tags else {}
        ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=task, desiredCount=desired, **extra)
        # moto starts a service with runningCount 0; an update brings it to a steady state.
        ecs.update_service(cluster=cluster, service=service, desiredCount=desired)

    def asg_desired(self, name: str) -> tuple[int, int, int]:
        """(desired, min, max) of a group."""
        group = self.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
            "AutoScalingGroups"
        ][0]
        return int(group["DesiredCapacity"]), int(group["MinSize"]), int(group["MaxSize"])

    def ecs_floor(self, cluster: str, service: str) -> int | None:
        """The scalable target's minimum (forescale's floor), None when none is registered."""
        found = self.client("application-autoscaling").describe_scalable_targets(
            ServiceNamespace="ecs", ResourceIds=[f"service/{cluster}/{service}"]
        )["ScalableTargets"]
        return int(found[0]["MinCapacity"]) if found else None

    def ecs_desired(self, cluster: str, service: str) -> int:
        found = self.client("ecs").describe_services(cluster=cluster, services=[service])["services"][0]
        return int(found["desiredCount"])


# --------------------------------------------------------------------------- in-memory mode


def memory_idempotency_store() -> Any:
    """A Powertools idempotency persistence layer in a dict (the DynamoDB layer's conditions, in Python)."""
    import threading
    from datetime import datetime as _datetime

    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyItemAlreadyExistsError,
        IdempotencyItemNotFoundError,
    )
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

    class MemoryPersistenceLayer(BasePersistenceLayer):
        def __init__(self) -> None:
            super().__init__()
            self.records: dict[str, DataRecord] = {}
            self._lock = threading.Lock()

        def _get_record(self, idempotency_key: str) -> DataRecord:
            record = self.records.get(idempotency_key)
            if record is None:
                raise IdempotencyItemNotFoundError
            return record

        def _put_record(self, data_record: DataRecord) -> None:
            with self._lock:
                old = self.records.get(data_record.idempotency_key)
                now_ms = int(_datetime.now().timestamp() * 1000)
                in_progress_lapsed = (
                    old is not None
                    and old.status == "INPROGRESS"
                    and old.in_progress_expiry_timestamp is not None
                    and old.in_progress_expiry_timestamp < now_ms
                )
                if old is not None and not old.is_expired and not in_progress_lapsed:
                    raise IdempotencyItemAlreadyExistsError(old_data_record=old)
                self.records[data_record.idempotency_key] = data_record

        def _update_record(self, data_record: DataRecord) -> None:
            self.records[data_record.idempotency_key] = data_record

        def _delete_record(self, data_record: DataRecord) -> None:
            self.records.pop(data_record.idempotency_key, None)

    return MemoryPersistenceLayer()


@dataclass
class MemoryWorld:
    """The in-memory twins a memory-mode run wires into the handlers (inspect them after a run), and the
    container built on them."""

    store: Any
    objects: Any
    archive: Any
    bus: Any
    cloudwatch: Any
    capacity: Any
    router: LocalRouter
    tracker_records: Any = None
    components: Any = None

    def rewire(self, **changes: Any) -> Any:
        """Rebuild the container with ``changes`` (``forecast_config=...``, a replaced service); the
        handlers use the new one if they used the old one."""
        from functions import wiring

        old, self.components = self.components, self.components.replaced(**changes)
        if wiring.installed() is old:
            wiring.install(self.components)
        return self.components


def memory_world(
    targets: list[Any],
    *,
    clock: Any,
    ids: Any = None,
    sink: Any = None,
    forecast_config: Any = None,
    **settings_changes: Any,
) -> MemoryWorld:
    """In-memory twins (no endpoint at all), a memory router, and a container of every component on them.

    The targets configuration object is written to the in-memory bucket; fleets are added to
    ``world.capacity`` (:class:`~forescale_tools.memory.InMemoryCapacity`) by the caller;
    ``settings_changes`` override :class:`~functions.settings.Settings` fields (``shard_size=...``).
    Nothing is installed: the handlers use ``world.components`` inside ``wiring.use(world.components)``.
    """
    from dataclasses import replace

    from forescale_tools.memory import (
        InMemoryCapacity,
        InMemoryCloudWatch,
        InMemoryEventBus,
        InMemoryEventPublisher,
        InMemoryObjects,
        InMemoryOperatorConfig,
        InMemoryStateStore,
        InMemoryTrackerRecords,
    )
    from functions.adapters.cloudwatch import CloudWatchMetricsPublisher, CloudWatchMetricsSource
    from functions.adapters.s3 import S3Store
    from functions.domain.clock import SequentialIds
    from functions.services.common import NullSink
    from functions.settings import Settings
    from functions.wiring import Components

    settings = Settings(
        state_table="memory-State",
        audit_table="memory-Audit",
        business_events_table="memory-BusinessEvents",
        model_registry_table="memory-ModelRegistry",
        idempotency_table="memory-Idempotency",
        bucket="forescale-memory",
        event_bus="forescale",
    )
    settings = replace(settings, **settings_changes)
    objects = InMemoryObjects(settings.bucket)
    objects.put_new(settings.targets_key, json.dumps([t.model_dump(mode="json") for t in targets]).encode())
    bus = InMemoryEventBus(account=ACCOUNT, region=REGION)
    cloudwatch = InMemoryCloudWatch()
    world = MemoryWorld(
        store=InMemoryStateStore(),
        objects=objects,
        archive=S3Store(objects),
        bus=bus,
        cloudwatch=cloudwatch,
        capacity=InMemoryCapacity(),
        router=LocalRouter(MemoryTransport(bus)),
        tracker_records=InMemoryTrackerRecords(),
    )
    world.components = Components(
        settings,
        clock,
        ids or SequentialIds(),
        sleep=lambda _seconds: None,
        sink=sink or NullSink(),
        forecast_config=forecast_config,
        objects=objects,
        archive=world.archive,
        state_store=world.store,
        tracker_records=world.tracker_records,
        operator_config=InMemoryOperatorConfig(),
        publisher=InMemoryEventPublisher(bus, bus_name=settings.event_bus),
        metrics_source=CloudWatchMetricsSource(cloudwatch),
        metrics_publisher=CloudWatchMetricsPublisher(cloudwatch),
        capacity=world.capacity,
        invoker=world.router,
        idempotency_store=memory_idempotency_store(),
    )
    return world
