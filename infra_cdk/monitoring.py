"""What tells an operator the pipeline is healthy: the SLO alarms, the pipeline alarms with their
encrypted notification topic, and the dashboard.

The SLO alarms are also a trigger (the alarm responder's rule, :mod:`infra_cdk.triggers`); the
metrics come from :mod:`infra_cdk.telemetry` and :mod:`infra_cdk.target_metrics`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.catalog import FUNCTIONS
from functions.domain.reactive import SLO_ALARM_DATAPOINTS_TO_ALARM, SLO_ALARM_EVALUATION_PERIODS
from functions.domain.target import ScalingTarget
from infra_cdk import telemetry
from infra_cdk.names import logical_suffix, pascal
from infra_cdk.target_metrics import capacity_metrics, forescale_metric, load_metric, utilization_metric

KEY_ACTIONS = (
    "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:CreateGrant", "kms:Decrypt", "kms:DeleteAlias",
    "kms:DescribeKey", "kms:DisableKey", "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation",
    "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus", "kms:ListGrants", "kms:ListKeyPolicies", "kms:ListResourceTags",
    "kms:PutKeyPolicy", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:RetireGrant", "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource", "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Monitored:
    """What the pipeline alarms and the dashboard watch."""

    functions: Mapping[str, lambda_.Function]
    dead_letter_queues: Mapping[str, sqs.Queue]
    targets: Sequence[ScalingTarget]
    stale_after_minutes: int
    forecast_error_threshold_percent: float


def slo_alarm_prefix(scope: Construct) -> str:
    """The names of the SLO alarms start with this (the alarm responder recognises its alarms by it)."""
    return f"{Stack.of(scope).stack_name}-{scope.node.id}-slo-"


def slo_alarm(scope: Construct, target: ScalingTarget) -> cw.Alarm:
    """Utilisation above the target's SLO, evaluated as the replay simulates it."""
    return cw.Alarm(
        scope,
        f"Slo-{logical_suffix(target.target_id)}",
        alarm_name=f"{slo_alarm_prefix(scope)}{target.target_id}",
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


def pipeline_alarms(scope: Construct, pipeline: Monitored, topic: sns.ITopic) -> dict[str, cw.Alarm]:
    """Stale pipeline, executor failures, unrecorded decisions, dead letters and forecast error, each
    notifying ``topic`` when it fires and when it clears."""
    alarms: dict[str, cw.Alarm] = {}
    stale = pipeline.stale_after_minutes
    alarms["PipelineStale"] = cw.Alarm(
        scope,
        "PipelineStale",
        alarm_description=f"forescale: no forecast reached the decider for {stale} minutes",
        metric=pipeline.functions["decider"].metric_invocations(period=Duration.minutes(1), statistic="Sum"),
        threshold=1,
        comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluation_periods=stale,
        datapoints_to_alarm=stale,
        treat_missing_data=cw.TreatMissingData.BREACHING,
    )
    period = Duration.minutes(5)
    alarms["ExecutorFailures"] = cw.Alarm(
        scope,
        "ExecutorFailures",
        alarm_description="forescale: the executor failed (errors after retries or ScalingFailed published)",
        metric=cw.MathExpression(
            expression="FILL(errors, 0) + FILL(failures, 0)",
            using_metrics={
                "errors": pipeline.functions["executor"].metric_errors(period=period, statistic="Sum"),
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
        scope,
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
    for function_name, queue in pipeline.dead_letter_queues.items():
        key = f"DeadLetters{pascal(function_name)}"
        alarms[key] = cw.Alarm(
            scope,
            f"{key}Alarm",
            alarm_description=f"forescale: events of the {function_name} function reached its dead-letter queue",
            metric=queue.metric_approximate_number_of_messages_visible(period=period, statistic="Maximum"),
            threshold=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
    for target in pipeline.targets:
        key = f"ForecastError-{logical_suffix(target.target_id)}"
        alarms[key] = cw.Alarm(
            scope,
            key,
            alarm_description=(
                f"forescale target {target.target_id}: forecast error above "
                f"{pipeline.forecast_error_threshold_percent:g}% for 3 hours"
            ),
            metric=forescale_metric(telemetry.FORECAST_ERROR, target, statistic="Average", period=Duration.hours(1)),
            threshold=pipeline.forecast_error_threshold_percent,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
    action = cw_actions.SnsAction(topic)
    for alarm in alarms.values():
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
    return alarms


def notification_topic(scope: Construct) -> sns.ITopic:
    """An SNS topic encrypted with its own key, which CloudWatch alarms may use (and nothing else)."""
    account = Stack.of(scope).account
    key_policy = iam.PolicyDocument(
        statements=[
            iam.PolicyStatement(
                sid="KeyAdministrationThroughIam",
                principals=[iam.AccountRootPrincipal()],
                actions=list(KEY_ACTIONS),
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
        scope,
        "NotificationKey",
        description="forescale alarm notifications",
        enable_key_rotation=True,
        key_policy=key_policy,
        pending_window_in_days=30,
    )
    topic = sns.Topic(
        scope,
        "Notifications",
        display_name="forescale alarms",
        master_key=kms.Key.from_key_arn(scope, "NotificationKeyRef", cfn_key.attr_arn),
        enforce_ssl=True,
    )
    return topic


def dashboard(scope: Construct, pipeline: Monitored) -> cw.Dashboard:
    """Pipeline health (invocations, errors, duration, dead letters, rejected events, forecast age), then
    one row per target: load against the forecast band, capacity, forecast error and SLO budget."""
    board = cw.Dashboard(scope, "Dashboard", default_interval=Duration.hours(6))
    names = [spec.name for spec in FUNCTIONS]
    five = Duration.minutes(5)
    board.add_widgets(cw.TextWidget(markdown="# forescale pipeline health", width=24, height=1))
    board.add_widgets(
        cw.GraphWidget(
            title="Invocations",
            left=[pipeline.functions[n].metric_invocations(period=five, label=n) for n in names],
            width=8,
        ),
        cw.GraphWidget(
            title="Errors",
            left=[pipeline.functions[n].metric_errors(period=five, label=n) for n in names],
            width=8,
        ),
        cw.GraphWidget(
            title="Duration p95 (ms)",
            left=[pipeline.functions[n].metric_duration(period=five, statistic="p95", label=n) for n in names],
            width=8,
        ),
    )
    board.add_widgets(
        cw.GraphWidget(
            title="Dead-letter queue depth",
            left=[
                queue.metric_approximate_number_of_messages_visible(period=five, statistic="Maximum", label=name)
                for name, queue in pipeline.dead_letter_queues.items()
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
                for t in pipeline.targets
            ]
            or [forescale_metric(telemetry.FORECAST_AGE, None, statistic="Maximum", period=five)],
            left_annotations=[cw.HorizontalAnnotation(value=60 * pipeline.stale_after_minutes, label="stale")],
            width=8,
        ),
    )
    for target in pipeline.targets:
        board.add_widgets(*_target_widgets(target, pipeline.forecast_error_threshold_percent))
    return board


def _target_widgets(target: ScalingTarget, forecast_error_threshold_percent: float) -> list[cw.IWidget]:
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
        left_annotations=[cw.HorizontalAnnotation(value=forecast_error_threshold_percent, label="error alarm")],
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
