"""What tells an operator the pipeline and the fleet are healthy: fleet alarms with their encrypted
notification topic, the SLO breach notifications, and the dashboard.

Nothing here is per target: the alarms read fleet aggregates (:mod:`infra_cdk.telemetry`), a target's SLO
breach and a target's degraded forecasts are bus events naming it (:class:`~events.contracts.SloBreached`,
:class:`~events.contracts.ForecastDegraded`, each sent to the topic by one rule), and
the dashboard shows each target through one custom widget that renders the records forescale stores
(``functions/handlers/widget.py``). The resources are the same for 10 targets or 10,000.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from events.contracts import ForecastDegraded, SloBreached
from functions.catalog import FUNCTIONS
from infra_cdk import telemetry
from infra_cdk.names import pascal

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
    """What the fleet alarms and the dashboard watch."""

    functions: Mapping[str, lambda_.Function]
    dead_letter_queues: Mapping[str, sqs.Queue]
    stale_after_minutes: int
    forecast_error_threshold_percent: float
    #: the custom widget's function (per-target views); None leaves the widget out
    widget: lambda_.IFunction | None = None


def forescale_metric(
    spec: telemetry.MetricSpec, *, statistic: str, period: Duration, label: str | None = None
) -> cw.Metric:
    """A fleet metric of :mod:`infra_cdk.telemetry`."""
    return cw.Metric(
        namespace=telemetry.NAMESPACE,
        metric_name=spec.name,
        dimensions_map=telemetry.dimensions(),
        statistic=statistic,
        period=period,
        label=label or spec.name,
    )


def pipeline_alarms(scope: Construct, pipeline: Monitored, topic: sns.ITopic) -> dict[str, cw.Alarm]:
    """Stale pipeline, executor failures, unrecorded decisions, dead letters, SLO breaches and the fleet's
    forecast error, each notifying ``topic`` when it fires and when it clears."""
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
    alarms["ExecutorFailures"] = _any_in_period(
        scope,
        "ExecutorFailures",
        description="forescale: the executor failed (errors after retries or ScalingFailed published)",
        metric=cw.MathExpression(
            expression="FILL(errors, 0) + FILL(failures, 0)",
            using_metrics={
                "errors": pipeline.functions["executor"].metric_errors(period=period, statistic="Sum"),
                "failures": forescale_metric(telemetry.SCALING_FAILURES, statistic="Sum", period=period),
            },
            period=period,
            label="executor failures",
        ),
    )
    alarms["DecisionsUnrecorded"] = _any_in_period(
        scope,
        "DecisionsUnrecorded",
        description=(
            "forescale: the executor refused a ScalingDecided the decider never recorded (a forged or corrupt "
            "event on the bus); the audit trail's refusal rows name it"
        ),
        metric=forescale_metric(telemetry.DECISIONS_UNRECORDED, statistic="Sum", period=period),
    )
    alarms["SloBreaches"] = _any_in_period(
        scope,
        "SloBreaches",
        description=(
            "forescale: targets breached their SLO (utilisation above slo_utilization in 2 of 3 periods); each "
            "breach is also sent to this topic as an SloBreached event naming the target"
        ),
        metric=forescale_metric(telemetry.SLO_BREACHES, statistic="Sum", period=period),
    )
    threshold = pipeline.forecast_error_threshold_percent
    alarms["ForecastsDegraded"] = _any_in_period(
        scope,
        "ForecastsDegraded",
        description=(
            f"forescale: targets' recent forecast error above {threshold:g}% (it clears below 80 % of that); "
            "each target is also sent to this topic as a ForecastDegraded event naming it"
        ),
        metric=forescale_metric(telemetry.FORECASTS_DEGRADED, statistic="Maximum", period=period),
    )
    alarms["ForecastError"] = cw.Alarm(
        scope,
        "ForecastError",
        alarm_description=(
            f"forescale: the fleet's mean forecast error above {threshold:g}% for 3 hours; the dashboard's "
            "target view lists the targets over the threshold"
        ),
        metric=forescale_metric(telemetry.FORECAST_ERROR, statistic="Average", period=Duration.hours(1)),
        threshold=threshold,
        comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=3,
        treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
    )
    for function_name, queue in pipeline.dead_letter_queues.items():
        key = f"DeadLetters{pascal(function_name)}"
        alarms[key] = _any_in_period(
            scope,
            f"{key}Alarm",
            description=f"forescale: events of the {function_name} function reached its dead-letter queue",
            metric=queue.metric_approximate_number_of_messages_visible(period=period, statistic="Maximum"),
        )
    action = cw_actions.SnsAction(topic)
    for alarm in alarms.values():
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
    return alarms


def breach_notifications(scope: Construct, bus: events.IEventBus, topic: sns.ITopic) -> events.Rule:
    """One rule: every ``SloBreached`` on the bus to ``topic``, as a message naming the target."""
    field = events.EventField.from_path
    message = events.RuleTargetInput.from_text(
        f"forescale: target {field('$.detail.target_id')} breached its SLO: utilisation "
        f"{field('$.detail.datapoints')} above {field('$.detail.slo_utilization')} at "
        f"{field('$.detail.datapoint_at')} with {field('$.detail.in_service_capacity')} in service; "
        f"the alarm responder scales out (breach {field('$.detail.breach_id')})"
    )
    return _to_topic(scope, bus, topic, SloBreached, message)


def degraded_notifications(scope: Construct, bus: events.IEventBus, topic: sns.ITopic) -> events.Rule:
    """One rule: every ``ForecastDegraded`` on the bus to ``topic``, as a message naming the target."""
    field = events.EventField.from_path
    message = events.RuleTargetInput.from_text(
        f"forescale: the forecasts of target {field('$.detail.target_id')} are degraded: error "
        f"{field('$.detail.error_percent')} % (seasonal naive {field('$.detail.naive_error_percent')} %) "
        f"above {field('$.detail.threshold_percent')} % over {field('$.detail.scored_steps')} steps of the last "
        f"{field('$.detail.window_seconds')} s; it clears below {field('$.detail.clear_below_percent')} % "
        f"({field('$.detail.degraded_id')})"
    )
    return _to_topic(scope, bus, topic, ForecastDegraded, message)


def _to_topic(
    scope: Construct,
    bus: events.IEventBus,
    topic: sns.ITopic,
    contract: type[SloBreached] | type[ForecastDegraded],
    message: events.RuleTargetInput,
) -> events.Rule:
    """The rule sending every event of ``contract`` on the bus to ``topic`` as ``message``."""
    name = contract.DETAIL_TYPE
    return events.Rule(
        scope,
        f"{name}ToNotificationsRule",
        description=f"{name} -> notification topic",
        event_bus=bus,
        event_pattern=events.EventPattern(source=[contract.SOURCE], detail_type=[contract.DETAIL_TYPE]),
        targets=[events_targets.SnsTopic(topic, message=message)],
    )


def _any_in_period(scope: Construct, construct_id: str, *, description: str, metric: cw.IMetric) -> cw.Alarm:
    """An alarm on a count: it fires when one period counts anything (no data means nothing happened)."""
    return cw.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=metric,
        threshold=1,
        comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluation_periods=1,
        treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
    )


def notification_topic(scope: Construct) -> sns.ITopic:
    """An SNS topic encrypted with its own key, which CloudWatch alarms and the breach rule may use (and nothing
    else)."""
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
            iam.PolicyStatement(
                sid="EventBridgeBreachNotificationsPublish",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
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
    """Pipeline health (invocations, errors, duration, dead letters, rejected events, forecast age), the fleet
    (SLO breaches, targets over the SLO, stale targets, forecast error, budgets overspent, scaling), the alarms,
    then the per-target view: one custom widget, whatever the number of targets."""
    board = cw.Dashboard(scope, "Dashboard", default_interval=Duration.hours(6))
    names = [spec.name for spec in FUNCTIONS if spec.name in pipeline.functions]
    five, minute = Duration.minutes(5), Duration.minutes(1)
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
            left=[forescale_metric(telemetry.REJECTED_EVENTS, statistic="Sum", period=five)],
            width=8,
        ),
        cw.GraphWidget(
            title="Oldest forecast at decision (s)",
            left=[forescale_metric(telemetry.FORECAST_AGE, statistic="Maximum", period=five)],
            left_annotations=[cw.HorizontalAnnotation(value=60 * pipeline.stale_after_minutes, label="stale")],
            width=8,
        ),
    )
    board.add_widgets(cw.TextWidget(markdown="# the fleet", width=24, height=1))
    board.add_widgets(
        cw.GraphWidget(
            title="SLO: breaches begun, targets over the SLO (per round)",
            left=[
                forescale_metric(telemetry.SLO_BREACHES, statistic="Sum", period=five, label="breaches (5 min)"),
                forescale_metric(telemetry.TARGETS_OVER_SLO, statistic="Sum", period=minute, label="over the SLO"),
            ],
            width=8,
        ),
        cw.GraphWidget(
            title="Targets stale or over their SLO budget (per round)",
            left=[
                forescale_metric(telemetry.STALE_TARGETS, statistic="Sum", period=minute, label="no fresh load"),
                forescale_metric(
                    telemetry.SLO_BUDGET_OVERSPENT, statistic="Sum", period=minute, label="budget overspent"
                ),
            ],
            width=8,
        ),
        cw.GraphWidget(
            title="Forecast error of the fleet (%)",
            left=[
                forescale_metric(telemetry.FORECAST_ERROR, statistic="Average", period=Duration.hours(1), label="mean"),
                forescale_metric(telemetry.FORECAST_ERROR, statistic="p90", period=Duration.hours(1), label="p90"),
            ],
            left_annotations=[
                cw.HorizontalAnnotation(value=pipeline.forecast_error_threshold_percent, label="error alarm")
            ],
            right=[
                forescale_metric(
                    telemetry.FORECASTS_DEGRADED, statistic="Maximum", period=minute, label="targets degraded"
                )
            ],
            width=8,
        ),
    )
    board.add_widgets(
        cw.GraphWidget(
            title="Scaling: decisions, alarm responses, failures",
            left=[
                pipeline.functions["decider"].metric_invocations(period=five, label="decider rounds"),
                forescale_metric(telemetry.SCALING_FAILURES, statistic="Sum", period=five),
                forescale_metric(telemetry.LEVEL_SHIFT, statistic="Sum", period=five, label="level shifts followed"),
            ],
            width=12,
        ),
        cw.AlarmStatusWidget(
            title="Fleet alarms",
            alarms=list(pipeline_alarm_list(scope)),
            width=12,
        ),
    )
    if pipeline.widget is not None:
        board.add_widgets(
            cw.CustomWidget(
                function_arn=pipeline.widget.function_arn,
                title="Targets: load against the forecast band, capacity, forecast error, SLO budget",
                params={"forecastErrorThresholdPercent": pipeline.forecast_error_threshold_percent},
                width=24,
                height=16,
                update_on_refresh=True,
                update_on_resize=False,
                update_on_time_range_change=True,
            )
        )
    return board


def pipeline_alarm_list(scope: Construct) -> list[cw.IAlarm]:
    """The fleet alarms created in ``scope`` (in creation order)."""
    return [child for child in scope.node.children if isinstance(child, cw.Alarm)]
