"""CloudWatch metrics of one scaling target: its load, its capacity, its utilisation, its forecasts.

Load comes from the target's own metric (its configuration); capacity from the service's metrics
(Auto Scaling group metrics must be enabled on the group; ECS needs Container Insights); forecast,
decision and accuracy from the forescale metrics in :mod:`infra_cdk.telemetry`.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw

from functions.domain.target import ScalingTarget
from infra_cdk import telemetry


def _period(target: ScalingTarget) -> Duration:
    return Duration.seconds(target.metric.period_seconds)


def load_metric(target: ScalingTarget) -> cw.IMetric:
    metric = target.metric
    label = f"load ({metric.unit_label})"
    if metric.expression is not None:
        return cw.MathExpression(expression=metric.expression, using_metrics={}, period=_period(target), label=label)
    assert metric.namespace is not None and metric.name is not None  # guaranteed by LoadMetric
    return cw.Metric(
        namespace=metric.namespace,
        metric_name=metric.name,
        dimensions_map=dict(metric.dimensions),
        statistic=metric.statistic,
        period=_period(target),
        label=label,
    )


def capacity_metrics(target: ScalingTarget) -> tuple[cw.Metric, cw.Metric]:
    """(desired, in service) as the scaled service reports them."""
    period = _period(target)
    if target.kind == "asg":
        dims = {"AutoScalingGroupName": target.asg_name or ""}
        return (
            cw.Metric(
                namespace="AWS/AutoScaling",
                metric_name="GroupDesiredCapacity",
                dimensions_map=dims,
                statistic="Maximum",
                period=period,
                label="desired",
            ),
            cw.Metric(
                namespace="AWS/AutoScaling",
                metric_name="GroupInServiceInstances",
                dimensions_map=dims,
                statistic="Minimum",
                period=period,
                label="in service",
            ),
        )
    dims = {"ClusterName": target.ecs_cluster or "", "ServiceName": target.ecs_service or ""}
    return (
        cw.Metric(
            namespace="ECS/ContainerInsights",
            metric_name="DesiredTaskCount",
            dimensions_map=dims,
            statistic="Maximum",
            period=period,
            label="desired",
        ),
        cw.Metric(
            namespace="ECS/ContainerInsights",
            metric_name="RunningTaskCount",
            dimensions_map=dims,
            statistic="Minimum",
            period=period,
            label="in service",
        ),
    )


def forescale_metric(
    spec: telemetry.MetricSpec,
    target: ScalingTarget | None,
    *,
    statistic: str,
    period: Duration | None = None,
    label: str | None = None,
) -> cw.Metric:
    return cw.Metric(
        namespace=telemetry.NAMESPACE,
        metric_name=spec.name,
        dimensions_map=telemetry.dimensions(target.target_id if target is not None else None),
        statistic=statistic,
        period=period or (_period(target) if target is not None else Duration.minutes(5)),
        label=label or spec.name,
    )


def utilization_metric(target: ScalingTarget) -> cw.IMetric:
    """Load over what the in-service capacity can serve; computed in CloudWatch when it can be.

    With a fixed capacity per instance and a plain load metric the alarm needs nothing from the
    pipeline (it still fires when forescale itself is down); otherwise the collector's
    ``Utilization`` metric is used.
    """
    per_instance = target.capacity_per_instance
    if isinstance(per_instance, int | float) and target.metric.expression is None:
        _, in_service = capacity_metrics(target)
        return cw.MathExpression(
            expression=f"load / (inservice * {float(per_instance)!r})",
            using_metrics={"load": load_metric(target), "inservice": in_service},
            period=_period(target),
            label="utilisation",
        )
    return forescale_metric(telemetry.UTILIZATION, target, statistic="Maximum", label="utilisation")
