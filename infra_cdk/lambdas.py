"""The functions of :data:`functions.catalog.FUNCTIONS`: layers, role, log group, dead-letter queue,
environment and the function itself. Every function is a zip function on layers; the code and layer assets
are built at synth (:mod:`infra_cdk.staging`).

Every construct is created in the ``Forescale`` construct's scope with the id it has always had, so the
logical ids (and the deployed resources) do not depend on which module builds them. What a function
may reach is :mod:`infra_cdk.grants`; what invokes it is :mod:`infra_cdk.triggers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.adapters.tables import ALL_TABLES
from functions.catalog import FUNCTIONS, FunctionSpec
from infra_cdk import staging, telemetry
from infra_cdk.access import (
    ENABLED_TAG_KEY,
    ENABLED_TAG_VALUE,
    METRIC_STREAM,
    SETTING_VARIABLES,
    SYNCHRONOUS,
    TARGETS_KEY,
    FunctionAccess,
)
from infra_cdk.names import pascal
from infra_cdk.policies import acknowledge
from infra_cdk.storage import StorageRef

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
ML_LAYERS = frozenset({"statsforecast", "lightgbm"})


@dataclass(frozen=True)
class PipelineFunction:
    """One function as created, with the role its grants go to and its dead-letter queue (asynchronous only)."""

    function: lambda_.Function
    role: iam.Role
    dead_letter_queue: sqs.Queue | None


@dataclass(frozen=True, kw_only=True)
class FunctionSettings:
    """The deployment values a function's environment carries (see :func:`environment`)."""

    storage: StorageRef
    forecast_stale_seconds: int
    collect_every_seconds: int
    tag_discovery: bool
    #: the collector reads the metric stream's objects (``infra_cdk.metric_stream``)
    metric_stream: bool = False
    #: the decider's per-target forecast error alert, the same threshold as the fleet's alarm
    forecast_error_threshold_percent: float = 35.0


def layers(scope: Construct, layers_dir: Path | None = None) -> dict[str, lambda_.ILayerVersion]:
    """The layers the functions use, built from ``uv.lock`` for :data:`ARCHITECTURE` at synth; from
    ``layers_dir`` as they are when given (tests' stand-ins)."""
    built_layers: dict[str, lambda_.ILayerVersion] = {}
    needed = sorted({layer for spec in FUNCTIONS for layer in spec.layers})
    for name in needed:
        built_layers[name] = lambda_.LayerVersion(
            scope,
            f"{pascal(name)}Layer",
            code=(
                staging.layer_asset(name, ARCHITECTURE.name)
                if layers_dir is None
                else staging.prebuilt_layer_asset(layers_dir, name)
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=f"forescale {name} dependencies",
        )
    return built_layers


def pipeline_function(
    scope: Construct,
    spec: FunctionSpec,
    access: FunctionAccess,
    *,
    settings: FunctionSettings,
    code: lambda_.Code,
    function_layers: dict[str, lambda_.ILayerVersion],
    log_retention: logs.RetentionDays,
) -> PipelineFunction:
    """Role, log group, dead-letter queue (asynchronous triggers) and the function; no grants yet."""
    name = pascal(spec.name)
    role = iam.Role(
        scope,
        f"{name}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"forescale {spec.name}: {spec.purpose}"[:1000],
        # the bus takes pipeline events only from roles under this path
        path=settings.storage.function_role_path,
    )
    log_group = logs.LogGroup(scope, f"{name}Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
    log_group.grant_write(role)
    asynchronous = access.trigger not in SYNCHRONOUS
    queue = None
    if asynchronous:
        queue = sqs.Queue(
            scope,
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

    options: dict[str, Any] = {
        "description": spec.purpose[:256],
        "architecture": ARCHITECTURE,
        "memory_size": spec.memory_mb,
        "timeout": Duration.seconds(spec.timeout_seconds),
        "role": role,
        "log_group": log_group,
        "tracing": lambda_.Tracing.ACTIVE,
        "environment": environment(spec, access, settings),
        "dead_letter_queue": queue,
        "retry_attempts": 2 if asynchronous else None,
        "max_event_age": Duration.minutes(access.max_event_age_minutes) if asynchronous else None,
    }
    function = lambda_.Function(
        scope,
        f"{name}Function",
        runtime=RUNTIME,
        handler=spec.handler,
        code=code,
        layers=[function_layers[layer] for layer in spec.layers],
        **options,
    )
    acknowledge(
        function,
        "AwsSolutions-L1",
        "Pinned to python3.12: the layers' compiled wheels and bytecode are built for this runtime.",
    )
    return PipelineFunction(function=function, role=role, dead_letter_queue=queue)


def environment(spec: FunctionSpec, access: FunctionAccess, settings: FunctionSettings) -> dict[str, str]:
    """What ``functions.settings.Settings.from_env`` requires (every function), the optional settings the
    function's code reads (``access.settings`` and the catalogue's), and Powertools' configuration."""
    storage = settings.storage
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
        "forecast_stale_seconds": str(settings.forecast_stale_seconds),
        "collect_every_seconds": str(settings.collect_every_seconds),
        "forecast_error_threshold_percent": str(float(settings.forecast_error_threshold_percent)),
    }
    if settings.metric_stream:
        values["metric_stream_prefix"] = METRIC_STREAM
    names = [name for name in access.settings if name in values]
    if access.uses_catalog:
        names += ["targets_key", "discovery_tag"] if settings.tag_discovery else ["targets_key"]
    for name in dict.fromkeys(names):
        env[SETTING_VARIABLES[name]] = values[name]
    if ML_LAYERS.intersection(spec.layers):
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env
