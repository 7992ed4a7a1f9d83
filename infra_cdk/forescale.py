"""``Forescale``: the L3 construct that brings up the whole pipeline for a list of scaling targets.

Drop it into any stack::

    Forescale(self, "Forescale", targets=parse_targets(raw), cadence=Cadence(), modes={"web": "floor"})

It creates (or uses the given :class:`~infra_cdk.storage.StorageRef` of) the tables, bucket and
bus, every function of :data:`functions.catalog.FUNCTIONS` with its layers, the schedules, the
rules built from the ``events/`` contracts, dead-letter queues, alarms, a dashboard and the
IAM-authenticated operator URL. What each function may touch is :mod:`infra_cdk.access`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from constructs import Construct
from pydantic import ValidationError

from events.contracts import Mode
from events.errors import ContractError
from functions.adapters.capacity import ECS_DIMENSION
from functions.adapters.tables import ALL_TABLES
from functions.catalog import FUNCTIONS, FunctionSpec
from functions.domain.reactive import SLO_ALARM_DATAPOINTS_TO_ALARM, SLO_ALARM_EVALUATION_PERIODS
from functions.domain.target import ScalingTarget
from functions.routing import ALARM_STATE_CHANGE_PATTERN, ROUTES, Route
from infra_cdk import staging, telemetry
from infra_cdk.access import (
    AUDIT_PREFIX,
    ENABLED_TAG_KEY,
    ENABLED_TAG_VALUE,
    FUNCTION_ACCESS,
    SETTING_VARIABLES,
    TARGETS_KEY,
    FunctionAccess,
    check_access_table,
)
from infra_cdk.policies import RolePolicy, acknowledge, flatten_reference
from infra_cdk.storage import ForescaleStorage, StorageRef
from infra_cdk.target_metrics import capacity_metrics, forescale_metric, load_metric, utilization_metric
from layers.budget import IMAGE_FUNCTIONS

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
ML_LAYERS = frozenset({"statsforecast", "lightgbm"})

_NO_RESOURCE_LEVEL = "{actions} support no resource-level permissions (AWS requires Resource '*')"
_KEY_ACTIONS = (
    "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:CreateGrant", "kms:Decrypt", "kms:DeleteAlias",
    "kms:DescribeKey", "kms:DisableKey", "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation",
    "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus", "kms:ListGrants", "kms:ListKeyPolicies", "kms:ListResourceTags",
    "kms:PutKeyPolicy", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:RetireGrant", "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource", "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)  # fmt: skip


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


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


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
        require_layers: bool = False,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
        super().__init__(scope, construct_id)
        check_access_table()
        if not 0 < forecast_error_threshold_percent <= 1000:
            raise ValueError("forecast_error_threshold_percent: must be in (0, 1000]")
        self.cadence = cadence or Cadence()
        self.targets = apply_modes(targets, modes)
        self.tag_discovery = tag_discovery
        self._forecast_error_threshold = forecast_error_threshold_percent
        self._log_retention = log_retention
        self._stack = Stack.of(self)

        self.created_storage: ForescaleStorage | None = None
        if storage is None:
            self.created_storage = ForescaleStorage(self, "Storage")
            storage = self.created_storage.ref()
        self.storage = storage
        self.bus = events.EventBus.from_event_bus_arn(self, "ForescaleBus", self.storage.bus_arn)
        self.notification_topic = notification_topic or self._notification_topic()

        built_dir = layers_dir or staging.DEFAULT_LAYERS_DIR
        self._code = lambda_.Code.from_asset(str(staging.code_directory()))
        self.layers = self._layers(built_dir, require_layers)
        self._image_dir = self._image_context(built_dir, require_layers)
        self.functions: dict[str, lambda_.Function] = {}
        self.api_url: lambda_.FunctionUrl | None = None
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        for spec in FUNCTIONS:
            self._function(spec, FUNCTION_ACCESS[spec.name])

        self.targets_config = self._publish_targets()
        self.slo_alarms = {target.target_id: self._slo_alarm(target) for target in self.targets}
        self._triggers()
        self.alarms = self._pipeline_alarms()
        self.dashboard = self._dashboard()
        CfnOutput(self, "DashboardName", value=self.dashboard.dashboard_name)
        CfnOutput(self, "NotificationTopicArn", value=self.notification_topic.topic_arn)

    # ------------------------------------------------------------------ layers and code

    def _layers(self, layers_dir: Path, require_layers: bool) -> dict[str, lambda_.ILayerVersion]:
        """The layers of the zip functions (the image functions carry theirs inside the image)."""
        layers: dict[str, lambda_.ILayerVersion] = {}
        needed = sorted({layer for spec in FUNCTIONS if spec.name not in IMAGE_FUNCTIONS for layer in spec.layers})
        for name in needed:
            built = staging.built_layer_directory(layers_dir, name)
            if built is None:
                self._missing_build(layers_dir / name / "python", require_layers)
                built = staging.placeholder_layer_directory(name)
            layers[name] = lambda_.LayerVersion(
                self,
                f"{_pascal(name)}Layer",
                code=lambda_.Code.from_asset(str(built)),
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[ARCHITECTURE],
                description=f"forescale {name} dependencies",
            )
        return layers

    def _image_context(self, layers_dir: Path, require_layers: bool) -> Path:
        built = staging.built_image_directory(layers_dir)
        if built is None:
            self._missing_build(layers_dir / staging.IMAGE_DIR / "Dockerfile", require_layers)
            return staging.placeholder_image_directory()
        staging.refresh_image_code(built)
        return built

    def _missing_build(self, path: Path, require_layers: bool) -> None:
        if require_layers:
            raise ValueError(f"layers: {path} does not exist; build the layers and the image context before deploying")
        Annotations.of(self).add_warning_v2(
            f"forescale:notBuilt:{path.parent.name}",
            f"{path} is not built: synthesized with a placeholder; build it (layers/README.md) and set "
            "context forescale:requireLayers=true before deploying",
        )

    # ------------------------------------------------------------------ functions

    def _function(self, spec: FunctionSpec, access: FunctionAccess) -> None:
        name = _pascal(spec.name)
        role = iam.Role(
            self,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"forescale {spec.name}: {spec.purpose}"[:1000],
            # the bus takes pipeline events only from roles under this path
            path=self.storage.function_role_path,
        )
        log_group = logs.LogGroup(
            self, f"{name}Logs", retention=self._log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        log_group.grant_write(role)
        asynchronous = access.trigger != "url"
        queue = None
        if asynchronous:
            queue = sqs.Queue(
                self,
                f"{name}DeadLetters",
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                retention_period=Duration.days(14),
            )
            acknowledge(
                queue,
                "AwsSolutions-SQS3",
                f"This queue is itself the dead-letter queue of the {spec.name} function and its trigger.",
            )
            self.dead_letter_queues[spec.name] = queue

        options: dict[str, Any] = {
            "description": spec.purpose[:256],
            "architecture": ARCHITECTURE,
            "memory_size": spec.memory_mb,
            "timeout": Duration.seconds(spec.timeout_seconds),
            "role": role,
            "log_group": log_group,
            "tracing": lambda_.Tracing.ACTIVE,
            "environment": self._environment(spec, access),
            "dead_letter_queue": queue,
            "retry_attempts": 2 if asynchronous else None,
            "max_event_age": Duration.minutes(access.max_event_age_minutes) if asynchronous else None,
        }
        function: lambda_.Function
        if spec.name in IMAGE_FUNCTIONS:
            # One image for the forecasting functions; each picks its handler through the image command.
            code = lambda_.DockerImageCode.from_image_asset(
                str(self._image_dir), platform=ecr_assets.Platform.LINUX_ARM64, cmd=[spec.handler]
            )
            function = lambda_.DockerImageFunction(self, f"{name}Function", code=code, **options)
        else:
            function = lambda_.Function(
                self,
                f"{name}Function",
                runtime=RUNTIME,
                handler=spec.handler,
                code=self._code,
                layers=[self.layers[layer] for layer in spec.layers],
                **options,
            )
            acknowledge(
                function,
                "AwsSolutions-L1",
                "Pinned to python3.12: the layers' compiled wheels (numpy, pyarrow) are built for this runtime.",
            )
        policy = RolePolicy(role)
        policy.expect_wildcard("*", _NO_RESOURCE_LEVEL.format(actions="X-Ray PutTraceSegments/PutTelemetryRecords"))
        self._grant(policy, spec, access)
        policy.attach()
        self._depend_on_policies_only(function, role)
        if access.invokes_itself:
            # A separate policy the function does not wait for: it names the function's own ARN.
            iam.Policy(
                self,
                f"{name}SelfInvoke",
                roles=[role],
                statements=[iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[function.function_arn])],
            )
        self.functions[spec.name] = function

    def _depend_on_policies_only(self, function: lambda_.Function, role: iam.IRole) -> None:
        """Keep a function waiting for its role's policies (Lambda checks the dead-letter permission at
        creation) without the ``DependsOn`` on the role itself, which ``Fn::GetAtt`` already implies."""
        policies = sorted(
            self._stack.get_logical_id(child.node.default_child)
            for child in role.node.children
            if isinstance(child, iam.Policy) and isinstance(child.node.default_child, iam.CfnPolicy)
        )
        cfn_function = function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        if policies:
            cfn_function.add_override("DependsOn", policies)
        else:
            cfn_function.add_deletion_override("DependsOn")

    def _environment(self, spec: FunctionSpec, access: FunctionAccess) -> dict[str, str]:
        """What ``functions.settings.Settings.from_env`` requires (every function), the optional settings the
        function's code reads (``access.settings`` and the catalogue's), and Powertools' configuration."""
        storage = self.storage
        env = {
            "POWERTOOLS_SERVICE_NAME": telemetry.SERVICE,
            "POWERTOOLS_METRICS_NAMESPACE": telemetry.NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
            **{table.env_var: storage.table_name(table) for table in ALL_TABLES},
            "BUCKET_NAME": storage.bucket_name,
            "AUDIT_BUCKET_NAME": storage.audit_bucket_name,
            "EVENT_BUS_NAME": storage.bus_name,
        }
        values = {
            "targets_key": TARGETS_KEY,
            "discovery_tag": f"{ENABLED_TAG_KEY}={ENABLED_TAG_VALUE}",
            "forecast_stale_seconds": str(60 * self.cadence.stale_after_minutes),
            "collect_every_seconds": str(60 * self.cadence.collect_every_minutes),
            "slo_alarm_prefix": self._slo_alarm_prefix,
        }
        settings = list(access.settings)
        if access.uses_catalog:
            settings += ["targets_key", "discovery_tag"] if self.tag_discovery else ["targets_key"]
        for name in dict.fromkeys(settings):
            env[SETTING_VARIABLES[name]] = values[name]
        if ML_LAYERS.intersection(spec.layers):
            env["OMP_WAIT_POLICY"] = "PASSIVE"
        return env

    def _grant(self, policy: RolePolicy, spec: FunctionSpec, access: FunctionAccess) -> None:
        storage = self.storage
        for spec_table in ALL_TABLES:
            table_actions = access.tables.get(spec_table.logical_name)
            if table_actions:
                policy.allow(table_actions, [storage.table_arn(spec_table)])
        policy.allow(["s3:GetObject"], [f"{storage.bucket_arn}/{TARGETS_KEY}"])
        for prefix in dict.fromkeys((*access.reads, *access.writes)):
            object_actions = (["s3:GetObject"] if prefix in access.reads else []) + (
                ["s3:PutObject"] if prefix in access.writes else []
            )
            # the audit trail has a bucket of its own (Object Lock), under the same key layout
            bucket_arn = storage.audit_bucket_arn if prefix == AUDIT_PREFIX else storage.bucket_arn
            policy.allow(
                object_actions,
                [f"{bucket_arn}/{prefix}*"],
                reason=f"{spec.name} reaches objects under the {prefix} prefix only",
            )
        if access.lists:
            policy.allow(
                ["s3:ListBucket"],
                [storage.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in access.lists]}},
            )
        if access.publishes:
            policy.allow(
                ["events:PutEvents"],
                [storage.bus_arn],
                conditions={
                    "StringEquals": {
                        "events:source": sorted({c.SOURCE for c in access.publishes}),
                        "events:detail-type": sorted({c.DETAIL_TYPE for c in access.publishes}),
                    }
                },
            )
        if access.reads_load_metrics:
            policy.allow(
                ["cloudwatch:GetMetricData"],
                ["*"],
                reason=_NO_RESOURCE_LEVEL.format(actions="cloudwatch:GetMetricData"),
            )
        if access.puts_metrics:
            policy.allow(
                ["cloudwatch:PutMetricData"],
                ["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": telemetry.NAMESPACE}},
                reason=_NO_RESOURCE_LEVEL.format(actions="cloudwatch:PutMetricData")
                + f"; limited to the {telemetry.NAMESPACE} namespace",
            )
        unscoped: list[str] = []
        if access.describes_targets:
            unscoped += [
                "autoscaling:DescribeAutoScalingGroups",
                "ecs:DescribeServices",
                "application-autoscaling:DescribeScalableTargets",
            ]
        if access.uses_catalog and self.tag_discovery:
            # tagged groups: DescribeAutoScalingGroups filtered on the tag; tagged services: tag:GetResources
            unscoped += ["autoscaling:DescribeAutoScalingGroups", "tag:GetResources"]
        if unscoped:
            actions = list(dict.fromkeys(unscoped))
            policy.allow(actions, ["*"], reason=_NO_RESOURCE_LEVEL.format(actions=", ".join(actions)))
        if access.scales_targets:
            self._grant_scaling(policy)

    def _grant_scaling(self, policy: RolePolicy) -> None:
        """Change only groups/services tagged ``forescale:enabled=true`` or configured to be acted on."""
        partition, region, account = self._stack.partition, self._stack.region, self._stack.account
        asg_actions = ["autoscaling:SetDesiredCapacity", "autoscaling:UpdateAutoScalingGroup"]
        acting = [target for target in self.targets if target.mode != "forecast_only"]
        asg_arns = [
            f"arn:{partition}:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/{t.asg_name}"
            for t in acting
            if t.kind == "asg"
        ]
        if asg_arns:
            policy.allow(
                asg_actions,
                asg_arns,
                reason="a listed Auto Scaling group, named exactly; '*' stands for the group id, unknown at synth",
            )
        ecs_arns = [
            f"arn:{partition}:ecs:{region}:{account}:service/{t.ecs_cluster}/{t.ecs_service}"
            for t in acting
            if t.kind == "ecs"
        ]
        if ecs_arns:
            policy.allow(["ecs:UpdateService"], ecs_arns)
        if self.tag_discovery:
            any_group = f"arn:{partition}:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/*"
            policy.allow(
                asg_actions,
                [any_group],
                conditions={"StringEquals": {f"autoscaling:ResourceTag/{ENABLED_TAG_KEY}": ENABLED_TAG_VALUE}},
                reason=f"only groups tagged {ENABLED_TAG_KEY}={ENABLED_TAG_VALUE} (autoscaling:ResourceTag condition)",
            )
            any_service = f"arn:{partition}:ecs:{region}:{account}:service/*"
            policy.allow(
                ["ecs:UpdateService"],
                [any_service],
                conditions={"StringEquals": {f"aws:ResourceTag/{ENABLED_TAG_KEY}": ENABLED_TAG_VALUE}},
                reason=f"only services tagged {ENABLED_TAG_KEY}={ENABLED_TAG_VALUE} (aws:ResourceTag condition)",
            )
        # The executor sets an ECS service's bounds on its scalable target: always in floor mode, and in
        # direct mode when it scales in below the scalable target's minimum.
        acting_ecs = [t.target_id for t in acting if t.kind == "ecs"]
        if acting_ecs:
            Annotations.of(self).add_warning_v2(
                "forescale:ecsScalableTargetNeedsTag",
                f"ECS targets {acting_ecs} change capacity: tag their Application Auto Scaling scalable targets "
                f"{ENABLED_TAG_KEY}={ENABLED_TAG_VALUE} (IAM cannot name a scalable target by service), or floor "
                "mode and scale-in below the scalable target's minimum are refused",
            )
        if self.tag_discovery or acting_ecs:
            any_scalable_target = f"arn:{partition}:application-autoscaling:{region}:{account}:scalable-target/*"
            policy.allow(
                ["application-autoscaling:RegisterScalableTarget"],
                [any_scalable_target],
                conditions={
                    "StringEquals": {
                        f"aws:ResourceTag/{ENABLED_TAG_KEY}": ENABLED_TAG_VALUE,
                        "application-autoscaling:service-namespace": "ecs",
                        "application-autoscaling:scalable-dimension": ECS_DIMENSION,
                    }
                },
                reason=f"only ECS desired-count scalable targets tagged {ENABLED_TAG_KEY}={ENABLED_TAG_VALUE} "
                "(the scalable target's ARN carries a random id)",
            )

    def _publish_targets(self) -> cr.AwsCustomResource:
        """Write the validated targets to ``s3://<bucket>/<TARGETS_KEY>`` on every deploy that changes them.

        The functions read them from there (``functions.settings.Settings.targets_key``); the bucket is
        versioned, so every configuration ever deployed is kept.
        """
        storage = self.storage
        body = json.dumps([t.model_dump(mode="json") for t in self.targets], sort_keys=True, separators=(",", ":"))
        put_targets = cr.AwsSdkCall(
            service="S3",
            action="putObject",
            parameters={
                "Bucket": storage.bucket_name,
                "Key": TARGETS_KEY,
                "Body": body,
                "ContentType": "application/json",
            },
            physical_resource_id=cr.PhysicalResourceId.of(TARGETS_KEY),
        )
        resource = cr.AwsCustomResource(
            self,
            "TargetsConfig",
            on_create=put_targets,
            on_update=put_targets,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["s3:PutObject"], resources=[f"{storage.bucket_arn}/{TARGETS_KEY}"])]
            ),
            install_latest_aws_sdk=False,
        )
        provider = self._stack.node.try_find_child("AWS" + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace("-", ""))
        assert isinstance(provider, lambda_.Function) and provider.role is not None
        self._depend_on_policies_only(provider, provider.role)
        acknowledge(
            provider,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "CDK's AwsCustomResource provider (it writes the targets object at deploy) logs through the basic "
            "execution policy, which grants CloudWatch Logs writes only",
        )
        return resource

    # ------------------------------------------------------------------ triggers

    def _triggers(self) -> None:
        for spec in FUNCTIONS:
            access = FUNCTION_ACCESS[spec.name]
            function = self.functions[spec.name]
            queue = self.dead_letter_queues.get(spec.name)
            name = _pascal(spec.name)
            max_age = Duration.minutes(access.max_event_age_minutes)
            if access.trigger == "collect_schedule":
                every = Duration.minutes(self.cadence.collect_every_minutes)
                self._schedule(name, function, queue, scheduler.ScheduleExpression.rate(every), max_age)
            elif access.trigger == "train_schedule":
                daily = scheduler.ScheduleExpression.cron(minute="0", hour=str(self.cadence.train_at_hour_utc))
                self._schedule(name, function, queue, daily, max_age)
            elif access.trigger == "alarm":
                self._alarm_rule(name, function, queue, max_age)
            elif access.trigger == "url":
                self.api_url = function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
                CfnOutput(self, "OperatorApiUrl", value=self.api_url.url, description="IAM (SigV4) authenticated")
        for route in ROUTES:
            self._route_rule(route, FUNCTION_ACCESS[route.function])

    def _schedule(
        self,
        name: str,
        function: lambda_.IFunction,
        queue: sqs.IQueue | None,
        expression: scheduler.ScheduleExpression,
        max_age: Duration,
    ) -> None:
        role = iam.Role(
            self,
            f"{name}ScheduleRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": self._stack.account}}
            ),
            description=f"EventBridge Scheduler invoking forescale {name}",
        )
        scheduler.Schedule(
            self,
            f"{name}Schedule",
            schedule=expression,
            description=f"forescale {name}",
            target=scheduler_targets.LambdaInvoke(
                function, role=role, dead_letter_queue=queue, retry_attempts=2, max_event_age=max_age
            ),
        )
        # LambdaInvoke grants invoke on the function and its versions (``<arn>:*``): same function only.
        versions = flatten_reference(self._stack.resolve(f"{function.function_arn}:*"))
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{versions}]",
            f"the scheduler may invoke the {name} function (any of its versions) and nothing else",
        )

    def _route_rule(self, route: Route, access: FunctionAccess) -> events.Rule:
        """One rule per routing-table entry, its pattern exactly ``event_pattern(route.contract)``."""
        name = _pascal(route.function)
        return events.Rule(
            self,
            f"{route.contract.DETAIL_TYPE}To{name}Rule",
            description=f"{route.contract.DETAIL_TYPE} -> {route.function}",
            event_bus=self.bus,
            event_pattern=_pattern(route.pattern),
            targets=[
                events_targets.LambdaFunction(
                    self.functions[route.function],
                    dead_letter_queue=self.dead_letter_queues.get(route.function),
                    retry_attempts=2,
                    max_event_age=Duration.minutes(access.max_event_age_minutes),
                )
            ],
        )

    def _alarm_rule(self, name: str, function: lambda_.IFunction, queue: sqs.IQueue | None, max_age: Duration) -> None:
        if not self.slo_alarms:
            return
        pattern: dict[str, Any] = {
            **ALARM_STATE_CHANGE_PATTERN,
            "resources": [alarm.alarm_arn for alarm in self.slo_alarms.values()],
        }
        events.Rule(
            self,
            f"{name}Rule",
            description="utilisation above SLO on a forescale target -> alarm responder (default bus)",
            event_pattern=_pattern(pattern),
            targets=[
                events_targets.LambdaFunction(
                    function, dead_letter_queue=queue, retry_attempts=2, max_event_age=max_age
                )
            ],
        )

    # ------------------------------------------------------------------ alarms

    @property
    def _slo_alarm_prefix(self) -> str:
        return f"{self._stack.stack_name}-{self.node.id}-slo-"

    def _slo_alarm(self, target: ScalingTarget) -> cw.Alarm:
        return cw.Alarm(
            self,
            f"Slo-{_logical_suffix(target.target_id)}",
            alarm_name=f"{self._slo_alarm_prefix}{target.target_id}",
            alarm_description=(
                f"forescale target {target.target_id}: utilisation above the SLO "
                f"({target.slo_utilization:.0%}); the alarm responder scales out at once"
            ),
            metric=utilization_metric(target),
            threshold=target.slo_utilization,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=SLO_ALARM_EVALUATION_PERIODS,  # the replay simulates the same alarm
            datapoints_to_alarm=SLO_ALARM_DATAPOINTS_TO_ALARM,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )

    def _pipeline_alarms(self) -> dict[str, cw.Alarm]:
        alarms: dict[str, cw.Alarm] = {}
        stale = self.cadence.stale_after_minutes
        alarms["PipelineStale"] = cw.Alarm(
            self,
            "PipelineStale",
            alarm_description=f"forescale: no forecast reached the decider for {stale} minutes",
            metric=self.functions["decider"].metric_invocations(period=Duration.minutes(1), statistic="Sum"),
            threshold=1,
            comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=stale,
            datapoints_to_alarm=stale,
            treat_missing_data=cw.TreatMissingData.BREACHING,
        )
        period = Duration.minutes(5)
        alarms["ExecutorFailures"] = cw.Alarm(
            self,
            "ExecutorFailures",
            alarm_description="forescale: the executor failed (errors after retries or ScalingFailed published)",
            metric=cw.MathExpression(
                expression="FILL(errors, 0) + FILL(failures, 0)",
                using_metrics={
                    "errors": self.functions["executor"].metric_errors(period=period, statistic="Sum"),
                    "failures": forescale_metric(telemetry.SCALING_FAILURES, None, statistic="Sum", period=period),
                },
                period=period,
                label="executor failures",
            ),
            threshold=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarms["DecisionsUnrecorded"] = cw.Alarm(
            self,
            "DecisionsUnrecorded",
            alarm_description=(
                "forescale: the executor refused a ScalingDecided the decider never recorded (a forged or corrupt "
                "event on the bus); the audit trail's refusal rows name it"
            ),
            metric=forescale_metric(telemetry.DECISIONS_UNRECORDED, None, statistic="Sum", period=period),
            threshold=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        for function_name, queue in self.dead_letter_queues.items():
            key = f"DeadLetters{_pascal(function_name)}"
            alarms[key] = cw.Alarm(
                self,
                f"{key}Alarm",
                alarm_description=f"forescale: events of the {function_name} function reached its dead-letter queue",
                metric=queue.metric_approximate_number_of_messages_visible(period=period, statistic="Maximum"),
                threshold=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
        for target in self.targets:
            key = f"ForecastError-{_logical_suffix(target.target_id)}"
            alarms[key] = cw.Alarm(
                self,
                key,
                alarm_description=(
                    f"forescale target {target.target_id}: forecast error above "
                    f"{self._forecast_error_threshold:g}% for 3 hours"
                ),
                metric=forescale_metric(
                    telemetry.FORECAST_ERROR, target, statistic="Average", period=Duration.hours(1)
                ),
                threshold=self._forecast_error_threshold,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
        action = cw_actions.SnsAction(self.notification_topic)
        for alarm in alarms.values():
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
        return alarms

    def _notification_topic(self) -> sns.ITopic:
        """An SNS topic encrypted with its own key, which CloudWatch alarms may use (and nothing else)."""
        account = self._stack.account
        key_policy = iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="KeyAdministrationThroughIam",
                    principals=[iam.AccountRootPrincipal()],
                    actions=list(_KEY_ACTIONS),
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="CloudWatchAlarmsPublish",
                    principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=["*"],
                    conditions={"StringEquals": {"aws:SourceAccount": account}},
                ),
            ]
        )
        cfn_key = kms.CfnKey(
            self,
            "NotificationKey",
            description="forescale alarm notifications",
            enable_key_rotation=True,
            key_policy=key_policy,
            pending_window_in_days=30,
        )
        topic = sns.Topic(
            self,
            "Notifications",
            display_name="forescale alarms",
            master_key=kms.Key.from_key_arn(self, "NotificationKeyRef", cfn_key.attr_arn),
            enforce_ssl=True,
        )
        return topic

    # ------------------------------------------------------------------ dashboard

    def _dashboard(self) -> cw.Dashboard:
        dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.hours(6))
        names = [spec.name for spec in FUNCTIONS]
        five = Duration.minutes(5)
        dashboard.add_widgets(cw.TextWidget(markdown="# forescale pipeline health", width=24, height=1))
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Invocations",
                left=[self.functions[n].metric_invocations(period=five, label=n) for n in names],
                width=8,
            ),
            cw.GraphWidget(
                title="Errors",
                left=[self.functions[n].metric_errors(period=five, label=n) for n in names],
                width=8,
            ),
            cw.GraphWidget(
                title="Duration p95 (ms)",
                left=[self.functions[n].metric_duration(period=five, statistic="p95", label=n) for n in names],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Dead-letter queue depth",
                left=[
                    queue.metric_approximate_number_of_messages_visible(period=five, statistic="Maximum", label=name)
                    for name, queue in self.dead_letter_queues.items()
                ],
                width=8,
            ),
            cw.GraphWidget(
                title="Rejected events (each attempt)",
                left=[forescale_metric(telemetry.REJECTED_EVENTS, None, statistic="Sum", period=five)],
                width=8,
            ),
            cw.GraphWidget(
                title="Forecast age at decision (s)",
                left=[
                    forescale_metric(telemetry.FORECAST_AGE, t, statistic="Maximum", period=five, label=t.target_id)
                    for t in self.targets
                ]
                or [forescale_metric(telemetry.FORECAST_AGE, None, statistic="Maximum", period=five)],
                left_annotations=[cw.HorizontalAnnotation(value=60 * self.cadence.stale_after_minutes, label="stale")],
                width=8,
            ),
        )
        for target in self.targets:
            dashboard.add_widgets(*self._target_widgets(target))
        return dashboard

    def _target_widgets(self, target: ScalingTarget) -> list[cw.IWidget]:
        desired, in_service = capacity_metrics(target)
        resource = target.asg_name if target.kind == "asg" else f"{target.ecs_cluster}/{target.ecs_service}"
        header = cw.TextWidget(
            markdown=f"## {target.target_id} — {target.kind} `{resource}`, mode **{target.mode}**",
            width=24,
            height=1,
        )
        load = cw.GraphWidget(
            title=f"{target.target_id}: load vs forecast band",
            left=[
                load_metric(target),
                forescale_metric(telemetry.FORECAST_P50, target, statistic="Average", label="forecast p50"),
                forescale_metric(telemetry.FORECAST_P90, target, statistic="Average", label="forecast p90"),
            ],
            right=[forescale_metric(telemetry.LEVEL_SHIFT, target, statistic="Maximum", label="level shift followed")],
            width=8,
        )
        capacity = cw.GraphWidget(
            title=f"{target.target_id}: capacity and decisions",
            left=[
                desired,
                in_service,
                forescale_metric(telemetry.DECIDED_CAPACITY, target, statistic="Maximum", label="decided"),
            ],
            left_annotations=[
                cw.HorizontalAnnotation(value=target.min_capacity, label="min"),
                cw.HorizontalAnnotation(value=target.max_capacity, label="max"),
            ],
            width=8,
        )
        accuracy = cw.GraphWidget(
            title=f"{target.target_id}: forecast error (%) and utilisation",
            left=[
                forescale_metric(
                    telemetry.FORECAST_ERROR,
                    target,
                    statistic="Average",
                    period=Duration.hours(1),
                    label="forecast error %",
                )
            ],
            right=[utilization_metric(target)],
            left_annotations=[cw.HorizontalAnnotation(value=self._forecast_error_threshold, label="error alarm")],
            right_annotations=[cw.HorizontalAnnotation(value=target.slo_utilization, label="SLO")],
            width=8,
        )
        budget = cw.GraphWidget(
            title=f"{target.target_id}: SLO budget and spend (% of minutes under-provisioned)",
            left=[
                forescale_metric(telemetry.SLO_BUDGET, target, statistic="Average", label="budget %"),
                forescale_metric(telemetry.SLO_BUDGET_SPENT, target, statistic="Average", label="spent %"),
            ],
            right=[forescale_metric(telemetry.SLO_BUDGET_MARGIN, target, statistic="Average", label="margin")],
            right_annotations=[cw.HorizontalAnnotation(value=1.0, label="no margin")],
            width=8,
        )
        return [header, load, capacity, accuracy, budget]


def _pattern(pattern: Mapping[str, Any]) -> events.EventPattern:
    """An ``EventPattern`` with exactly the keys of ``pattern`` (``detail-type`` -> ``detail_type``)."""
    return events.EventPattern(**{key.replace("-", "_"): value for key, value in pattern.items()})


def _logical_suffix(target_id: str) -> str:
    """A construct id part for a target: ``/`` separates construct paths, so it is replaced."""
    return target_id.replace("/", "__")
