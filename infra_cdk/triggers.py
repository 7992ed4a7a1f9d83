"""What invokes each function: its schedule, its bus rules or its operator URL.

The trigger is the function's row of :mod:`infra_cdk.access`; bus rules are the routing table
(:data:`functions.routing.ROUTES`), each rule's pattern exactly the contract's ``event_pattern``.
Asynchronous targets retry twice, give up after the row's ``max_event_age_minutes`` and send what
failed to the function's dead-letter queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.catalog import FUNCTIONS
from functions.routing import ROUTES, Route
from infra_cdk.access import FUNCTION_ACCESS
from infra_cdk.names import pascal
from infra_cdk.policies import acknowledge, flatten_reference


def add_triggers(
    scope: Construct,
    *,
    functions: Mapping[str, lambda_.Function],
    dead_letter_queues: Mapping[str, sqs.IQueue],
    bus: events.IEventBus,
    collect_every_minutes: int,
    train_at_hour_utc: int,
) -> lambda_.FunctionUrl | None:
    """Every function's trigger and one rule per route; returns the operator URL (if a function has one)."""
    api_url: lambda_.FunctionUrl | None = None
    for spec in FUNCTIONS:
        access = FUNCTION_ACCESS[spec.name]
        function = functions[spec.name]
        queue = dead_letter_queues.get(spec.name)
        name = pascal(spec.name)
        max_age = Duration.minutes(access.max_event_age_minutes)
        if access.trigger == "collect_schedule":
            every = Duration.minutes(collect_every_minutes)
            _schedule(scope, name, function, scheduler.ScheduleExpression.rate(every), queue=queue, max_age=max_age)
        elif access.trigger == "train_schedule":
            daily = scheduler.ScheduleExpression.cron(minute="0", hour=str(train_at_hour_utc))
            _schedule(scope, name, function, daily, queue=queue, max_age=max_age)
        elif access.trigger == "url":
            api_url = function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
            CfnOutput(scope, "OperatorApiUrl", value=api_url.url, description="IAM (SigV4) authenticated")
    for route in ROUTES:
        _route_rule(scope, route, bus, functions[route.function], dead_letter_queues.get(route.function))
    return api_url


def _schedule(
    scope: Construct,
    name: str,
    function: lambda_.IFunction,
    expression: scheduler.ScheduleExpression,
    *,
    queue: sqs.IQueue | None,
    max_age: Duration,
) -> None:
    stack = Stack.of(scope)
    role = iam.Role(
        scope,
        f"{name}ScheduleRole",
        assumed_by=iam.ServicePrincipal(
            "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
        ),
        description=f"EventBridge Scheduler invoking forescale {name}",
    )
    scheduler.Schedule(
        scope,
        f"{name}Schedule",
        schedule=expression,
        description=f"forescale {name}",
        target=scheduler_targets.LambdaInvoke(
            function, role=role, dead_letter_queue=queue, retry_attempts=2, max_event_age=max_age
        ),
    )
    # LambdaInvoke grants invoke on the function and its versions (``<arn>:*``): same function only.
    versions = flatten_reference(stack.resolve(f"{function.function_arn}:*"))
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::{versions}]",
        f"the scheduler may invoke the {name} function (any of its versions) and nothing else",
    )


def _route_rule(
    scope: Construct,
    route: Route,
    bus: events.IEventBus,
    function: lambda_.IFunction,
    queue: sqs.IQueue | None,
) -> events.Rule:
    """One rule per routing-table entry, its pattern exactly ``event_pattern(route.contract)``."""
    access = FUNCTION_ACCESS[route.function]
    return events.Rule(
        scope,
        f"{route.contract.DETAIL_TYPE}To{pascal(route.function)}Rule",
        description=f"{route.contract.DETAIL_TYPE} -> {route.function}",
        event_bus=bus,
        event_pattern=_pattern(route.pattern),
        targets=[
            events_targets.LambdaFunction(
                function,
                dead_letter_queue=queue,
                retry_attempts=2,
                max_event_age=Duration.minutes(access.max_event_age_minutes),
            )
        ],
    )


def _pattern(pattern: Mapping[str, Any]) -> events.EventPattern:
    """An ``EventPattern`` with exactly the keys of ``pattern`` (``detail-type`` -> ``detail_type``)."""
    return events.EventPattern(**{key.replace("-", "_"): value for key, value in pattern.items()})
