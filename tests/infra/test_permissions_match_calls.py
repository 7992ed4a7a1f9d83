"""Each function's role allows every AWS call its code makes, and nothing it never makes; its environment holds
what its code reads.

How: the real handlers run against moto's server, each with exactly the environment the synthesized
stateless template gives it (``Fn::ImportValue`` resolved to this run's tables, bucket and bus). A botocore
hook on boto3's default session (every client ``functions.wiring`` builds comes from it) records each call
a handler makes, turned into the IAM requests AWS would authorize (``iam_support.iam_requests``: action,
resource ARN, condition keys, resource tags at the time of the call). The scenario drives every function
through its calls: configured and tag-discovered targets of both kinds and every mode, a collection round
fanned out over self-invocations, the trainer's fan-out, forecasts from trained models, decisions,
executions (floor and direct, scale-out and scale-in below the minimum), an SLO alarm, business events from
the bus and from the operator API, and the API's reads.

Then, per function: every recorded request must be allowed by its role's statements (and not denied by the
bucket or bus policy), read from the template; every statement of the role must be used by some request
(the exceptions, paths this scenario does not reach, are listed with the reason); every setting the code
read whose right value depends on the deployment must come from the function's environment.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest

from events.base import BusEvent, to_put_events_entry
from events.contracts import BusinessEvent, ScalingDecided, SloBreached
from forescale_tools.local_router import ACCOUNT, REGION, Delivery, LambdaContext, LocalAws, LocalRouter, load_handler
from forescale_tools.metric_stream import FirehoseDelivery, stream_line
from functions import wiring
from functions.adapters import tracker_codec
from functions.adapters.capacity import ECS_DIMENSION
from functions.adapters.discovery import ENABLED_TAG, target_from_tags
from functions.adapters.dynamodb import DynamoStateStore
from functions.adapters.s3 import S3Store
from functions.adapters.s3_objects import S3Objects
from functions.adapters.tracker_records import S3TrackerRecords
from functions.catalog import FUNCTIONS
from functions.domain.clock import FixedClock, SequentialIds
from functions.domain.decision import tracker_for
from functions.domain.target import ScalingTarget, parse_targets
from functions.services.common import RecordingSink
from functions.settings import MissingSettingError, Settings
from functions.wiring import Components
from infra_cdk.policies import flatten_reference
from models.api import ForecastPath
from models.config import ForecastConfig
from tests.infra.conftest import STATEFUL, STATELESS, Synthesized, as_list, function_ids, role_statements
from tests.infra.iam_support import (
    Deployment,
    IamRequest,
    ResourceFacts,
    Statement,
    UnmodelledCallError,
    evaluate,
    iam_requests,
)
from tests.infra.targets_asset import targets_object
from tests.support.decisions import record
from tests.support.function_url import url_event

pytestmark = pytest.mark.integration

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
#: Forecasting quality is not the point here: one cheap model keeps training and forecasting quick.
CHEAP = ForecastConfig(
    models=("SeasonalNaive",), backtest_every_minutes=360, holdout_days=1.0, horizon_minutes=(5, 15, 60, 240)
)
#: Test-only settings on top of the deployed environment; they change how much work there is, never which
#: calls are made: two targets per collector shard (so a round of six fans out to self-invocations) and
#: three days of history per forecast.
TEST_ONLY_ENV = {"FORESCALE_SHARD_SIZE": "2", "FORESCALE_FORECAST_HISTORY_DAYS": "3"}
#: Calls Lambda itself makes with the function's role (its logs, its dead-letter queue, the X-Ray daemon).
PLATFORM_ACTIONS = frozenset(
    {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
)
#: Settings whose right value depends on the deployment (names, stack name, cadence, tag discovery), and the
#: variable each comes from (``functions.settings.Settings.from_env``): a function whose code reads one must
#: get it from its environment, never fall back to the code's default; an optional one is set only where read.
DEPLOYMENT_SETTINGS = {
    "state_table": "STATE_TABLE",
    "audit_table": "AUDIT_TABLE",
    "business_events_table": "BUSINESS_EVENTS_TABLE",
    "model_registry_table": "MODEL_REGISTRY_TABLE",
    "idempotency_table": "IDEMPOTENCY_TABLE",
    "bucket": "BUCKET_NAME",
    "audit_bucket": "AUDIT_BUCKET_NAME",
    "event_bus": "EVENT_BUS_NAME",
    "targets_key": "TARGETS_CONFIG_KEY",
    "discovery_tag": "FORESCALE_DISCOVERY_TAG",
    "forecast_stale_seconds": "FORECAST_STALE_SECONDS",
    "collect_every_seconds": "FORESCALE_COLLECT_EVERY_SECONDS",
    "metric_stream_prefix": "FORESCALE_METRIC_STREAM_PREFIX",
}
OPTIONAL_SETTINGS = frozenset(
    {"targets_key", "discovery_tag", "forecast_stale_seconds", "collect_every_seconds", "metric_stream_prefix"}
)
#: Statements of a role this scenario never exercises, each with the path that needs it.
NOT_EXERCISED: dict[tuple[str, str, str], str] = {
    ("executor", "dynamodb:GetItem", "TestForescaleStateful-IdempotencyTableArn"): (
        "Powertools' idempotency layer reads a record back when a conditional put does not return the old "
        "item; its documentation lists GetItem with PutItem, UpdateItem and DeleteItem"
    ),
}


# --------------------------------------------------------------------------------------------- recording


@dataclass
class RecordedCall:
    function: str
    call: str
    requests: list[IamRequest] | UnmodelledCallError
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recorder:
    """Records the calls of whichever handler is running (the collector's worker threads included)."""

    lookup: Callable[[str, str], ResourceFacts | None]
    function: str | None = None
    calls: list[RecordedCall] = field(default_factory=list)
    settings_read: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def before_parameter_build(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        """botocore's ``before-parameter-build``: once per API call, with the caller's parameters."""
        function = self.function
        if function is None:
            return
        service, operation = model.service_model.service_name, model.name
        requests: list[IamRequest] | UnmodelledCallError
        try:
            requests = iam_requests(service, operation, params, self.lookup)
        except UnmodelledCallError as error:
            requests = error
        kept = dict(params) if (service, operation) == ("lambda", "Invoke") else {}
        with self._lock:
            self.calls.append(RecordedCall(function, f"{service}.{operation}", requests, kept))

    @property
    def requests(self) -> dict[str, list[IamRequest]]:
        out: dict[str, list[IamRequest]] = defaultdict(list)
        for call in self.calls:
            if isinstance(call.requests, list):
                out[call.function] += call.requests
        return out


_FIELDS = frozenset(f.name for f in dataclasses.fields(Settings))


class RecordingSettings(Settings):
    """:class:`Settings` that notes which fields the running function's code reads."""

    recorder: Recorder | None = None

    def __getattribute__(self, name: str) -> Any:
        if name in _FIELDS:
            recorder = type(self).recorder
            if recorder is not None and recorder.function is not None:
                recorder.settings_read[recorder.function].add(name)
        return super().__getattribute__(name)


class Facts:
    """ARNs and tags of the resources calls name, asked of moto through a session the hook does not record."""

    def __init__(self, endpoint: str) -> None:
        session = boto3.session.Session(region_name=REGION)
        self._client: dict[str, Any] = {
            name: session.client(name, endpoint_url=endpoint)
            for name in ("autoscaling", "ecs", "application-autoscaling")
        }
        #: Tags the operator put on scalable targets (moto's Application Auto Scaling keeps none).
        self.scalable_target_tags: dict[str, dict[str, str]] = {}

    def __call__(self, kind: str, identifier: str) -> ResourceFacts | None:
        if kind == "asg":
            groups = self._client["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=[identifier])
            for group in groups["AutoScalingGroups"]:
                tags = {t["Key"]: t["Value"] for t in group.get("Tags", [])}
                return ResourceFacts(group["AutoScalingGroupARN"], tags)
            return None
        if kind == "ecs-service":
            cluster, service = identifier.split("/", 1)
            found = self._client["ecs"].describe_services(cluster=cluster, services=[service])["services"]
            if not found:
                return None
            service_arn = found[0]["serviceArn"]
            listed = self._client["ecs"].list_tags_for_resource(resourceArn=service_arn).get("tags", [])
            return ResourceFacts(service_arn, {t["key"]: t["value"] for t in listed})
        if kind == "scalable-target":
            targets = self._client["application-autoscaling"].describe_scalable_targets(
                ServiceNamespace="ecs", ResourceIds=[identifier], ScalableDimension=ECS_DIMENSION
            )["ScalableTargets"]
            if not targets:
                return None
            return ResourceFacts(targets[0]["ScalableTargetARN"], self.scalable_target_tags.get(identifier, {}))
        raise KeyError(kind)


# --------------------------------------------------------------------------------------------- the run


@dataclass
class Run:
    recorder: Recorder
    environments: dict[str, dict[str, str]]
    deliveries: list[Delivery]
    api_answers: dict[str, int]
    targets: dict[str, ScalingTarget]
    discovered: set[str]
    identity: dict[str, list[Statement]]
    resource_policies: list[Statement]
    statement_sources: dict[str, list[tuple[Statement, str]]]
    #: each function's role ARN, with the path the template gives it (``aws:PrincipalArn`` of its calls)
    principals: dict[str, str]

    def results(self, function: str) -> list[Any]:
        return [d.result for d in self.deliveries if d.function == function and d.error is None]


def _lambda_config(endpoint: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """moto's Lambda configuration (set it when ``config`` is given). moto runs an invoked function in Docker
    unless ``use_docker`` is false; then it only accepts the invocation (202), and the test runs it."""
    body = None if config is None else json.dumps({"lambda": config}).encode()
    request = urllib.request.Request(f"{endpoint}/moto-api/config", data=body, method="GET" if body is None else "POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read())["lambda"])


def _resolve_environments(deployment: Deployment, stateless: dict[str, Any]) -> dict[str, dict[str, str]]:
    out = {}
    for name, logical in function_ids(stateless).items():
        variables = stateless["Resources"][logical]["Properties"]["Environment"]["Variables"]
        out[name] = {key: deployment.resolve(value) for key, value in variables.items()}
    return out


def _statements(
    deployment: Deployment, stateful: dict[str, Any], stateless: dict[str, Any]
) -> tuple[dict[str, list[Statement]], list[Statement], dict[str, list[tuple[Statement, str]]]]:
    identity: dict[str, list[Statement]] = {}
    sources: dict[str, list[tuple[Statement, str]]] = {}
    for name, logical in function_ids(stateless).items():
        role = stateless["Resources"][logical]["Properties"]["Role"]["Fn::GetAtt"][0]
        identity[name], sources[name] = [], []
        for index, raw in enumerate(role_statements(stateless, role)):
            statement = Statement.from_template(raw, deployment, origin=f"{name} role statement {index}")
            identity[name].append(statement)
            shown = " ".join(flatten_reference(r) for r in as_list(raw["Resource"]))
            sources[name].append((statement, shown))
    resource_policies = []
    for logical, resource in stateful["Resources"].items():
        if resource["Type"] == "AWS::S3::BucketPolicy":
            for raw in resource["Properties"]["PolicyDocument"]["Statement"]:
                resource_policies.append(Statement.from_template(raw, deployment, origin=f"bucket policy {logical}"))
        if resource["Type"] == "AWS::Events::EventBusPolicy":
            resource_policies.append(
                Statement.from_template(resource["Properties"]["Statement"], deployment, origin=f"bus policy {logical}")
            )
    return identity, resource_policies, sources


def _role_arns(deployment: Deployment, stateless: dict[str, Any]) -> dict[str, str]:
    """``function -> role ARN``: the role's path as the template sets it, the role named by its logical id."""
    out = {}
    for name, logical in function_ids(stateless).items():
        role = stateless["Resources"][logical]["Properties"]["Role"]["Fn::GetAtt"][0]
        path = deployment.resolve(stateless["Resources"][role]["Properties"].get("Path", "/"))
        out[name] = f"arn:aws:iam::{ACCOUNT}:role{path}{role}"
    return out


def _deployment(synthesized: Synthesized, aws: LocalAws) -> Deployment:
    """The two templates resolved to this run: each stateful resource the functions' environment names is
    the run's resource of that variable; each function is named as the local router names it."""
    stateful, stateless = synthesized.templates[STATEFUL], synthesized.templates[STATELESS]
    deployment = Deployment([stateful, stateless])
    local = aws.environment()
    for name, logical in function_ids(stateless).items():
        deployment.names[logical] = name
        for key, value in stateless["Resources"][logical]["Properties"]["Environment"]["Variables"].items():
            if isinstance(value, dict) and "Fn::ImportValue" in value:
                deployment.names[deployment.import_target(value["Fn::ImportValue"])] = local[key]
    return deployment


def _history(archive: S3Store, target: ScalingTarget, level: float) -> None:
    """Three days of a daily cycle around ``level`` up to noon, as the collector would have written it."""
    step = target.metric.period_seconds
    ds = pd.date_range((NOON - timedelta(days=3)).replace(tzinfo=None), NOON.replace(tzinfo=None), freq=f"{step}s")
    hours = ds.hour + ds.minute / 60
    y = level * (1.0 + 0.3 * np.sin(2 * np.pi * hours / 24))
    archive.write_history(target.target_id, pd.DataFrame({"ds": ds, "y": y}), part_id="00000000T000000Z-seed")


def _seed_forecast_record(records: S3TrackerRecords, target: ScalingTarget) -> None:
    tracker = tracker_for(target)
    issued = NOON - timedelta(seconds=3 * target.metric.period_seconds)
    ds = pd.date_range(issued.replace(tzinfo=None), periods=2, freq=f"{target.metric.period_seconds}s")
    p50 = np.full(len(ds), 300.0)
    path = ForecastPath(target.target_id, issued, ds, p50, p50 * 1.1, p50 * 1.2, 0.8, "seed")
    tracker.record(path, now_ns=int(pd.Timestamp(issued).value), bias=1.0)
    records.put(target.target_id, tracker_codec.encode(tracker.to_state()), None)


def _put_load(aws: LocalAws, target: ScalingTarget, value: float) -> None:
    metric = target.metric
    if metric.expression:
        return  # a metric-math load: CloudWatch computes it; nothing to put
    # the metric stream's objects too (the collector lists and reads them; these lag, so it asks GetMetricData)
    delivery = FirehoseDelivery(
        S3Objects(aws.client("s3"), aws.bucket),
        name="stream-" + "".join(c if c.isalnum() else "-" for c in target.target_id),
    )
    for minutes in range(5, 30, 5):
        at = NOON - timedelta(minutes=minutes)
        delivery.deliver(
            at + timedelta(minutes=2),
            [stream_line(metric.namespace or "", metric.name or "", metric.dimensions, at, [value])],
        )
        aws.client("cloudwatch").put_metric_data(
            Namespace=metric.namespace,
            MetricData=[
                {
                    "MetricName": metric.name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in metric.dimensions.items()],
                    "Timestamp": NOON - timedelta(minutes=minutes),
                    "Value": value,
                }
            ],
        )


def _decision(target: ScalingTarget, sequence: int, *, previous: int, desired: int) -> ScalingDecided:
    return ScalingDecided(
        decision_id=f"decision-permissions-{sequence}-{target.target_id.replace('/', '-')}",
        target_id=target.target_id,
        kind=target.kind,
        mode=target.mode,
        decided_at=NOON,
        valid_until=NOON + timedelta(minutes=7),
        sequence=sequence,
        previous_desired=previous,
        desired_capacity=desired,
        min_capacity=target.min_capacity,
        max_capacity=target.max_capacity,
        action="scale_out" if desired > previous else "scale_in",
        confidence=0.9,
        reason="permissions test decision",
    )


@pytest.fixture(scope="module")
def run(moto_endpoint: str, synthesized: Synthesized) -> Iterator[Run]:
    stateful, stateless = synthesized.templates[STATEFUL], synthesized.templates[STATELESS]
    aws = LocalAws(moto_endpoint, prefix=f"perm-{uuid.uuid4().hex[:10]}")
    aws.create()
    deployment = _deployment(synthesized, aws)
    environments = _resolve_environments(deployment, stateless)
    identity, resource_policies, sources = _statements(deployment, stateful, stateless)

    # The configuration object exactly as the deployment writes it.
    key, body = targets_object(synthesized)
    aws.client("s3").put_object(Bucket=aws.bucket, Key=key, Body=json.dumps(body).encode())
    targets = {t.target_id: t for t in parse_targets(body)}

    # The fleet: the configured groups and services, plus a tagged group and a tagged service to discover.
    facts = Facts(moto_endpoint)
    enabled = environments["collector"]["FORESCALE_DISCOVERY_TAG"].split("=", 1)
    assert enabled[0] == ENABLED_TAG
    # The acting ones carry the consent tag (the executor's permission follows it); forecast_only batch does not.
    consent = {enabled[0]: enabled[1]}
    aws.create_asg("web-asg-prod", desired=2, min_size=2, max_size=20, tags=consent)
    aws.create_asg("batch-workers", desired=1, min_size=1, max_size=10)
    aws.create_ecs_service("prod", "api", desired=3, tags=consent)
    aws.create_ecs_service("prod", "worker", desired=2, tags=consent)
    # worker-ecs is in floor mode: its reactive scaling (a scalable target) exists, tagged as the README asks.
    aws.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="ecs", ResourceId="service/prod/worker", ScalableDimension=ECS_DIMENSION, MinCapacity=1,
        MaxCapacity=30,
    )  # fmt: skip
    facts.scalable_target_tags["service/prod/worker"] = {enabled[0]: enabled[1]}
    # api-ecs is direct; its own scalable target keeps a minimum of 3 (a scale-in below it lowers it first).
    aws.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="ecs", ResourceId="service/prod/api", ScalableDimension=ECS_DIMENSION, MinCapacity=3,
        MaxCapacity=50,
    )  # fmt: skip
    facts.scalable_target_tags["service/prod/api"] = {enabled[0]: enabled[1]}
    tagged_asg, tagged_cluster = f"{aws.prefix}-tagged-asg", f"{aws.prefix}-tagged"
    discovery_tags = {
        enabled[0]: enabled[1],
        "forescale:metric.namespace": "Permissions/Load",
        "forescale:metric.name": "Requests",
        "forescale:capacity_per_instance": "100",
        "forescale:max_capacity": "40",
        "forescale:mode": "direct",
        "team": "shop",
    }
    discovered_resources = [
        ("asg", {"asg_name": tagged_asg}, {**discovery_tags, "forescale:metric.dimensions": f"Resource={tagged_asg}"}),
        ("ecs", {"ecs_cluster": tagged_cluster, "ecs_service": "svc"}, {**discovery_tags, "forescale:metric.dimensions": "Resource=svc"}),
    ]  # fmt: skip
    aws.create_asg(tagged_asg, desired=4, min_size=3, max_size=40, tags=discovered_resources[0][2])
    aws.create_ecs_service(tagged_cluster, "svc", desired=2, tags=discovered_resources[1][2])
    discovered_ids = {tagged_asg, f"{tagged_cluster}/svc"}
    # A tagged group whose capacity per instance is learned: the collector reads its CPU too, the trainer
    # stores what it could learn (not enough utilisation yet here), and the decider skips it meanwhile.
    learning_asg = f"{aws.prefix}-learning-asg"
    learning_tags = {**discovery_tags, "forescale:capacity_per_instance": "learn",
                     "forescale:metric.dimensions": f"Resource={learning_asg}"}  # fmt: skip
    discovered_resources.append(("asg", {"asg_name": learning_asg}, learning_tags))
    aws.create_asg(learning_asg, desired=2, min_size=1, max_size=40, tags=learning_tags)

    recorder = Recorder(facts)
    RecordingSettings.recorder = recorder
    clock = FixedClock(NOON + timedelta(seconds=10))
    ids = SequentialIds()
    router = LocalRouter(aws.transport())

    def wrap(name: str) -> Callable[[dict[str, Any], Any], Any]:
        handler = load_handler(name)
        env = {**environments[name], "AWS_ENDPOINT_URL": moto_endpoint, **TEST_ONLY_ENV}

        def run_as_deployed(event: dict[str, Any], context: Any) -> Any:
            deployed = Components(
                RecordingSettings.from_env(env),
                clock,
                ids,
                sleep=lambda _seconds: None,
                sink=RecordingSink(),
                forecast_config=CHEAP,
            )
            first = len(recorder.calls)
            recorder.function = name
            try:
                with wiring.use(deployed):
                    return handler(event, context)
            finally:
                recorder.function = None
                # Lambda runs what was invoked asynchronously (moto only accepts the invocation).
                for call in recorder.calls[first:]:
                    if call.call == "lambda.Invoke":
                        router.invoke_async(call.params["FunctionName"], json.loads(call.params["Payload"]))

        return run_as_deployed

    router.handlers.update({spec.name: wrap(spec.name) for spec in FUNCTIONS})
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    session_events = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
    session_events.register("before-parameter-build", recorder.before_parameter_build, unique_id="permissions")
    lambda_config = _lambda_config(moto_endpoint)
    _lambda_config(moto_endpoint, {**lambda_config, "use_docker": False})
    api_answers: dict[str, int] = {}
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
            patch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
            patch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
            archive = S3Store.for_bucket(aws.client("s3"), aws.bucket)
            everything = {**targets}
            for kind, resource, tags in discovered_resources:
                target = target_from_tags(kind, resource, tags)
                everything[target.target_id] = target
            for target in everything.values():
                _history(archive, target, level=300.0)
                _put_load(aws, target, 300.0)

            # A business event announced on the bus (intake), for a window in the past (the trainer learns it).
            announced = BusinessEvent(
                name="spring sale",
                event_type="campaign",
                targets=["web-asg"],
                start=NOON - timedelta(days=1, hours=2),
                end=NOON - timedelta(days=1),
                expected_multiplier=1.5,
            )
            _put_events(aws, announced)
            (intake,) = router.pump()
            # EventBridge delivers at least once: the same envelope again is a retry, not a conflict.
            router.invoke("intake", intake.event)
            # The trainer's daily round: one batch per metric period, fanned out to self-invocations; the
            # next round (an hour later here) weighs its challengers against the champions it stored.
            for _ in range(2):
                router.invoke("trainer", {})
                router.pump()
                clock.advance(timedelta(hours=1))
            clock.current = NOON + timedelta(seconds=10)
            # The decider ran a round before: its forecast record holds a forecast of steps now past, which
            # this round's decision scores against the stored history.
            _seed_forecast_record(S3TrackerRecords(aws.client("s3"), aws.bucket), everything["web-asg"])
            # A collection round fanned out over shards; forecasts, decisions and executions follow.
            router.invoke("collector", {})
            router.pump()
            # Decisions that take every capacity path: floor (listed group, tagged scalable target), direct
            # scale-out (tagged service) and scale-in below the minimum (tagged group, listed service).
            web, api, worker = everything["web-asg"], everything["api-ecs"], everything["worker-ecs"]
            # SLO breaches on both kinds: the alarm responder decides at once, the executor applies it.
            for target_id in ("web-asg", "worker-ecs"):
                _breach(aws, target_id)
                router.pump()
            decisions = [
                _decision(web, 100, previous=2, desired=6),
                _decision(worker, 100, previous=2, desired=5),
                _decision(api, 100, previous=3, desired=2),
                _decision(everything[tagged_asg], 100, previous=4, desired=2),
                _decision(everything[f"{tagged_cluster}/svc"], 100, previous=2, desired=5),
            ]
            # The executor acts only on decisions the decider recorded, the newest of each target.
            store = DynamoStateStore(aws.client("dynamodb"), aws.table_names())
            stale = _decision(worker, 99, previous=2, desired=3)
            record(store, stale, *decisions)
            _put_events(aws, *decisions)
            router.pump()
            # EventBridge delivers at least once: a second delivery gets the first one's stored outcome.
            _put_events(aws, decisions[0])
            router.pump()
            # A decision delivered after a newer one was recorded is refused, naming the newer one.
            _put_events(aws, stale)
            (superseded,) = router.pump()
            assert superseded.result["refused"] == "superseded", superseded
            # Another executor holds batch/asg:1's lease past every wait: the execution raises, and the
            # idempotency layer removes its in-progress record so that Lambda's retry can run it again.
            assert store.acquire_lease("web-asg", "another-executor", now=clock.now(), seconds=3600)
            held = _decision(web, 101, previous=6, desired=7)
            record(store, held)
            _put_events(aws, held)
            (busy,) = router.pump()
            assert "another executor holds its lease" in str(busy.error), busy
            store.release_lease("web-asg", "another-executor")
            # The operator API: every read, and a business event submitted through it (then the intake).
            api_handler = router.handler("api")
            requests = {
                "GET /health": url_event("GET", "/health"),
                "GET /targets": url_event("GET", "/targets"),
                "GET /targets/web-asg": url_event("GET", "/targets/web-asg"),
                "GET /targets/web-asg/forecast": url_event("GET", "/targets/web-asg/forecast"),
                "GET /targets/web-asg/decisions": url_event("GET", "/targets/web-asg/decisions"),
                "GET /events": url_event("GET", "/events"),
                "POST /events": url_event(
                    "POST",
                    "/events",
                    body=announced.model_copy(
                        update={"start": NOON + timedelta(days=1), "end": NOON + timedelta(days=1, hours=2)}
                    ).model_dump_json(),
                ),
                # changes without a deploy (the operator's targets object, the kill switch), none of which
                # alters what the scenario did: web-asg is in floor mode already, and the switch is released
                "PUT /targets/web-asg/mode": url_event("PUT", "/targets/web-asg/mode", body='{"mode": "floor"}'),
                "PUT /kill-switch": url_event(
                    "PUT", "/kill-switch", body='{"engaged": false, "reason": "drill", "target_id": "web-asg"}'
                ),
            }
            for label, event in requests.items():
                api_answers[label] = int(api_handler(event, LambdaContext("api", f"req-{label}"))["statusCode"])
            router.pump()
            # The dashboard's custom widget: a page of the fleet, then one target's view over the last hours.
            widget = router.handler("widget")
            shown = {"timeRange": {"start": int((NOON - timedelta(hours=6)).timestamp() * 1000),
                                   "end": int((NOON + timedelta(hours=1)).timestamp() * 1000)}}  # fmt: skip
            for params in ({}, {"target": "web-asg"}):
                html = widget({**params, "widgetContext": shown}, LambdaContext("widget", "req-widget"))
                assert "<table>" in html or "<svg" in html, html[:300]
        yield Run(
            recorder=recorder,
            environments=environments,
            deliveries=router.deliveries,
            api_answers=api_answers,
            targets=everything,
            discovered=discovered_ids,
            identity=identity,
            resource_policies=resource_policies,
            statement_sources=sources,
            principals=_role_arns(deployment, stateless),
        )
    finally:
        session_events.unregister("before-parameter-build", unique_id="permissions")
        RecordingSettings.recorder = None
        _lambda_config(moto_endpoint, lambda_config)


def _put_events(aws: LocalAws, *events: BusEvent) -> None:
    entries = [to_put_events_entry(e, bus_name=aws.bus) for e in events]
    response = aws.client("events").put_events(Entries=entries)
    assert response["FailedEntryCount"] == 0, response


def _breach(aws: LocalAws, target_id: str) -> None:
    """An ``SloBreached`` on the forescale bus, as the decider publishes it."""
    breach = SloBreached(
        breach_id=f"breach-{target_id}", target_id=target_id, detected_at=NOON, datapoint_at=NOON,
        slo_utilization=0.85, datapoints=[1.05, 1.2], evaluation_periods=3, datapoints_to_alarm=2,
        in_service_capacity=2, desired_capacity=2,
    )  # fmt: skip
    response = aws.client("events").put_events(Entries=[to_put_events_entry(breach, bus_name=aws.bus)])
    assert response["FailedEntryCount"] == 0


# --------------------------------------------------------------------------------------------- the checks


def test_the_scenario_reaches_every_function_and_every_capacity_path(run: Run) -> None:
    # GIVEN the scenario above WHEN it ran THEN no invocation failed, every function made calls ...
    failed = [f"{d.function}: {d.error!r}" for d in run.deliveries if d.error is not None]
    assert failed == ["executor: TargetBusyError('target web-asg: another executor holds its lease')"], failed
    assert {c.function for c in run.recorder.calls} == {spec.name for spec in FUNCTIONS}
    # ... the fan-outs happened, tag-discovered targets went through the whole chain ...
    invoked = [c.function for c in run.recorder.calls if c.call == "lambda.Invoke"]
    assert invoked.count("collector") >= 2 and invoked.count("trainer") >= 2
    executed = {r["target_id"] for r in run.results("executor") if r["status"] == "executed"}
    # ... and every acting target was changed (floor and direct, both kinds, configured and discovered),
    # the forecast-only one never; the API answered every request. (Other tests' tagged groups on the same
    # moto server may be discovered too: only this scenario's targets are looked at.)
    acting = {"web-asg", "api-ecs", "worker-ecs", *run.discovered}
    assert executed & set(run.targets) == acting, run.results("executor")
    assert run.api_answers == {label: 202 if label.startswith("POST") else 200 for label in run.api_answers}
    unmodelled = sorted({str(c.requests) for c in run.recorder.calls if isinstance(c.requests, Exception)})
    assert not unmodelled, unmodelled


def test_every_call_a_function_makes_is_allowed_by_its_role(run: Run) -> None:
    problems = set()
    for function, requests in run.recorder.requests.items():
        for request in requests:
            # a function's calls carry its role's ARN (the bus takes pipeline events only from those roles)
            signed = dataclasses.replace(
                request, context={**request.context, "aws:PrincipalArn": run.principals[function]}
            )
            verdict = evaluate(signed, run.identity[function], run.resource_policies)
            if not verdict.allowed:
                problems.add(f"{function}: {request.call} needs {request.describe()}: {verdict.reason}")
    assert not problems, "\n".join(sorted(problems))


def test_every_statement_of_a_role_is_used_by_some_call(run: Run) -> None:
    # A statement (action by action) that no recorded request needs is a permission the code never uses.
    unused = {}
    for function, pairs in run.statement_sources.items():
        requests = run.recorder.requests.get(function, [])
        for statement, shown in pairs:
            for action in statement.actions:
                if action in PLATFORM_ACTIONS:
                    continue
                narrowed = dataclasses.replace(statement, actions=(action,))
                if not any(narrowed.matches(r) for r in requests):
                    unused[(function, action, shown)] = statement.origin
    unexplained = {key: origin for key, origin in unused.items() if key not in NOT_EXERCISED}
    assert not unexplained, "granted but never called:\n" + "\n".join(
        f"{f}: {a} on {r}" for f, a, r in sorted(unexplained)
    )
    stale = sorted(set(NOT_EXERCISED) - set(unused))
    assert not stale, f"NOT_EXERCISED lists statements the scenario now uses (remove them): {stale}"


def test_the_variable_names_this_test_checks_are_the_ones_the_settings_loader_reads() -> None:
    # GIVEN the required variables only, and then each deployment variable with a sample value
    required = {var: "x" for name, var in DEPLOYMENT_SETTINGS.items() if name not in OPTIONAL_SETTINGS}
    defaults = Settings.from_env(required)
    samples = {"targets_key": "k/t.json", "discovery_tag": "k=v", "forecast_stale_seconds": "123",
               "collect_every_seconds": "120", "metric_stream_prefix": "stream/"}  # fmt: skip
    assert set(samples) == OPTIONAL_SETTINGS
    for name in OPTIONAL_SETTINGS:
        loaded = Settings.from_env({**required, DEPLOYMENT_SETTINGS[name]: samples[name]})
        # THEN the loader takes exactly that field from that variable
        assert str(getattr(loaded, name)) == samples[name] != str(getattr(defaults, name)), name
    for name in set(DEPLOYMENT_SETTINGS) - OPTIONAL_SETTINGS:
        with pytest.raises(MissingSettingError, match=DEPLOYMENT_SETTINGS[name]):
            Settings.from_env({k: v for k, v in required.items() if k != DEPLOYMENT_SETTINGS[name]})


def test_each_function_environment_sets_exactly_the_settings_its_code_reads(run: Run) -> None:
    # GIVEN which Settings fields each function's code read while it ran
    assert set(run.recorder.settings_read) == {spec.name for spec in FUNCTIONS}
    problems = []
    for function, read in run.recorder.settings_read.items():
        env = run.environments[function]
        Settings.from_env(env)  # THEN every required variable is there ...
        for name, variable in DEPLOYMENT_SETTINGS.items():
            if name in read and not env.get(variable):
                problems.append(f"{function} reads settings.{name}, its environment has no {variable}")
            if name in OPTIONAL_SETTINGS and name not in read and variable in env:
                problems.append(f"{function} sets {variable}, its code never reads settings.{name}")
    # ... each setting whose value the deployment decides comes from the environment where it is read, and
    # no optional variable is set where nothing reads it
    assert not problems, "\n".join(sorted(problems))
