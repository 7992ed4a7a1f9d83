"""``Forescale``: the L3 construct that brings up the whole pipeline for a list of scaling targets.

Drop it into any stack::

    Forescale(self, "Forescale", targets=parse_targets(raw), cadence=Cadence(), modes={"web": "floor"})

It creates (or uses the given :class:`~infra_cdk.storage.StorageRef` of) the tables, bucket and
bus, and composes the rest, one module per concern, every construct in this construct's scope:

- :mod:`infra_cdk.lambdas`: every function of :data:`functions.catalog.FUNCTIONS` with its layers,
  log group and dead-letter queue;
- :mod:`infra_cdk.grants`: each function's IAM, from its row of :mod:`infra_cdk.access`;
- :mod:`infra_cdk.triggers`: the schedules, the rules built from the ``events/`` contracts and the
  IAM-authenticated operator URL;
- :mod:`infra_cdk.metric_stream`: the CloudWatch metric stream and its Firehose delivery into the bucket,
  which the collector reads targets' load from (``metric_stream=False``: GetMetricData alone);
- :mod:`infra_cdk.monitoring`: fleet alarms, their notification topic (which also receives every SLO
  breach, naming the target), the dashboard with its per-target custom widget.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from constructs import Construct
from pydantic import ValidationError

from events.contracts import Mode
from events.errors import ContractError
from functions.catalog import FUNCTIONS
from functions.domain.target import ScalingTarget
from infra_cdk import lambdas, monitoring, staging
from infra_cdk.access import FUNCTION_ACCESS, OPERATOR_TARGETS_KEY, TARGETS_KEY, check_access_table
from infra_cdk.grants import depend_on_policies_only, grant_function
from infra_cdk.metric_stream import MetricStream, include_filters
from infra_cdk.policies import acknowledge
from infra_cdk.storage import ForescaleStorage, StorageRef
from infra_cdk.triggers import add_triggers


@dataclass(frozen=True, kw_only=True)
class Cadence:
    """How often the pipeline runs and when it counts as stale."""

    collect_every_minutes: int = 1
    train_at_hour_utc: int = 3
    stale_after_minutes: int = 15

    def __post_init__(self) -> None:
        if not 1 <= self.collect_every_minutes <= 60:
            raise ValueError("cadence.collect_every_minutes: must be between 1 and 60")
        if not 0 <= self.train_at_hour_utc <= 23:
            raise ValueError("cadence.train_at_hour_utc: must be an hour between 0 and 23")
        if not 2 * self.collect_every_minutes <= self.stale_after_minutes <= 1440:
            raise ValueError("cadence.stale_after_minutes: must be at least two collection rounds and at most a day")


def apply_modes(targets: Sequence[ScalingTarget], modes: Mapping[str, Mode] | None) -> list[ScalingTarget]:
    """The targets with their mode replaced where ``modes`` names them (validated like the config)."""
    modes = dict(modes or {})
    known = {target.target_id for target in targets}
    unknown = sorted(set(modes) - known)
    if unknown:
        raise ValueError(f"modes: {unknown} are not configured targets")
    result = []
    for index, target in enumerate(targets):
        if target.target_id not in modes:
            result.append(target)
            continue
        try:
            result.append(ScalingTarget.model_validate({**target.model_dump(), "mode": modes[target.target_id]}))
        except ValidationError as exc:
            raise ContractError(f"modes[{target.target_id!r}] (targets[{index}])", exc) from exc
    return result


class Forescale(Construct):
    """The forescale pipeline for ``targets``; see the module docstring for what it creates."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        targets: Sequence[ScalingTarget],
        cadence: Cadence | None = None,
        modes: Mapping[str, Mode] | None = None,
        notification_topic: sns.ITopic | None = None,
        storage: StorageRef | None = None,
        tag_discovery: bool = True,
        forecast_error_threshold_percent: float = 35.0,
        layers_dir: Path | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        metric_stream: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        check_access_table()
        if not 0 < forecast_error_threshold_percent <= 1000:
            raise ValueError("forecast_error_threshold_percent: must be in (0, 1000]")
        self.cadence = cadence or Cadence()
        self.targets = apply_modes(targets, modes)
        self.tag_discovery = tag_discovery

        self.created_storage: ForescaleStorage | None = None
        if storage is None:
            self.created_storage = ForescaleStorage(self, "Storage")
            storage = self.created_storage.ref()
        self.storage = storage
        self.bus = events.EventBus.from_event_bus_arn(self, "ForescaleBus", self.storage.bus_arn)
        self.notification_topic = notification_topic or monitoring.notification_topic(self)

        # a stream only for the namespaces and metric names the targets use (with none, it would stream all)
        self.metric_stream: MetricStream | None = None
        if metric_stream and include_filters(self.targets):
            self.metric_stream = MetricStream(self, "MetricStream", storage=self.storage, targets=self.targets)

        code = staging.code_asset()
        self.layers = lambdas.layers(self, layers_dir)
        settings = lambdas.FunctionSettings(
            storage=self.storage,
            forecast_stale_seconds=60 * self.cadence.stale_after_minutes,
            collect_every_seconds=60 * self.cadence.collect_every_minutes,
            tag_discovery=tag_discovery,
            metric_stream=self.metric_stream is not None,
            forecast_error_threshold_percent=forecast_error_threshold_percent,
        )
        self.functions: dict[str, lambda_.Function] = {}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        for spec in FUNCTIONS:
            access = FUNCTION_ACCESS[spec.name]
            built = lambdas.pipeline_function(
                self,
                spec,
                access,
                settings=settings,
                code=code,
                function_layers=self.layers,
                log_retention=log_retention,
            )
            if built.dead_letter_queue is not None:
                self.dead_letter_queues[spec.name] = built.dead_letter_queue
            grant_function(
                self,
                spec,
                access,
                role=built.role,
                function=built.function,
                storage=self.storage,
                tag_discovery=tag_discovery,
            )
            self.functions[spec.name] = built.function

        self.targets_config = self._publish_targets()
        self.api_url: lambda_.FunctionUrl | None = add_triggers(
            self,
            functions=self.functions,
            dead_letter_queues=self.dead_letter_queues,
            bus=self.bus,
            collect_every_minutes=self.cadence.collect_every_minutes,
            train_at_hour_utc=self.cadence.train_at_hour_utc,
        )
        monitored = monitoring.Monitored(
            functions=self.functions,
            dead_letter_queues=self.dead_letter_queues,
            stale_after_minutes=self.cadence.stale_after_minutes,
            forecast_error_threshold_percent=forecast_error_threshold_percent,
            widget=self.functions.get("widget"),
        )
        self.alarms = monitoring.pipeline_alarms(self, monitored, self.notification_topic)
        monitoring.breach_notifications(self, self.bus, self.notification_topic)
        monitoring.degraded_notifications(self, self.bus, self.notification_topic)
        self.dashboard = monitoring.dashboard(self, monitored)
        CfnOutput(self, "DashboardName", value=self.dashboard.dashboard_name)
        CfnOutput(self, "NotificationTopicArn", value=self.notification_topic.topic_arn)

    def _publish_targets(self) -> cr.AwsCustomResource:
        """Copy the validated targets to ``s3://<bucket>/<TARGETS_KEY>`` on every deploy that changes them.

        The targets travel as an S3 asset (a file staged and uploaded by the CDK, named by its hash) that a
        custom resource copies into place: the template holds the asset's key, never the list, so 10 or
        5,000 targets give the same resources and stay far below CloudFormation's and Lambda's request
        limits. The functions read the object (``functions.settings.Settings.targets_key``); the bucket is
        versioned, so every configuration ever deployed is kept.
        """
        storage = self.storage
        body = json.dumps([t.model_dump(mode="json") for t in self.targets], sort_keys=True, separators=(",", ":"))
        with tempfile.TemporaryDirectory(prefix="forescale-targets-") as folder:
            written = Path(folder) / "targets.json"
            written.write_text(body, encoding="utf-8")
            # staged (copied into the cloud assembly, named by its hash) here, while the file exists
            asset = s3_assets.Asset(self, "TargetsAsset", path=str(written))
        copy_targets = cr.AwsSdkCall(
            service="S3",
            action="copyObject",
            parameters={
                "Bucket": storage.bucket_name,
                "Key": TARGETS_KEY,
                "CopySource": f"{asset.s3_bucket_name}/{asset.s3_object_key}",
                "ContentType": "application/json",
                "MetadataDirective": "REPLACE",
            },
            physical_resource_id=cr.PhysicalResourceId.of(TARGETS_KEY),
        )
        resource = cr.AwsCustomResource(
            self,
            "TargetsConfig",
            on_create=copy_targets,
            on_update=copy_targets,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=["s3:GetObject"], resources=[asset.bucket.arn_for_objects(asset.s3_object_key)]
                    ),
                    iam.PolicyStatement(actions=["s3:PutObject"], resources=[f"{storage.bucket_arn}/{TARGETS_KEY}"]),
                ]
            ),
            install_latest_aws_sdk=False,
        )
        # The operator's object (targets changed without a deploy): created empty once, never overwritten
        # (If-None-Match; S3's PreconditionFailed when it exists is the expected answer on a re-creation).
        create_operator_object = cr.AwsSdkCall(
            service="S3",
            action="putObject",
            parameters={
                "Bucket": storage.bucket_name,
                "Key": OPERATOR_TARGETS_KEY,
                "Body": "{}",
                "ContentType": "application/json",
                "IfNoneMatch": "*",
            },
            physical_resource_id=cr.PhysicalResourceId.of(OPERATOR_TARGETS_KEY),
            ignore_error_codes_matching="PreconditionFailed",
        )
        cr.AwsCustomResource(
            self,
            "OperatorTargetsConfig",
            on_create=create_operator_object,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=["s3:PutObject"], resources=[f"{storage.bucket_arn}/{OPERATOR_TARGETS_KEY}"]
                    )
                ]
            ),
            install_latest_aws_sdk=False,
        )
        provider = Stack.of(self).node.try_find_child(
            "AWS" + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace("-", "")
        )
        assert isinstance(provider, lambda_.Function) and provider.role is not None
        depend_on_policies_only(provider, provider.role)
        acknowledge(
            provider,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "CDK's AwsCustomResource provider (it writes the targets object at deploy) logs through the basic "
            "execution policy, which grants CloudWatch Logs writes only",
        )
        return resource
