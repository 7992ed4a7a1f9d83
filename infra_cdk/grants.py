"""IAM of the functions: each role gets exactly what its row of :mod:`infra_cdk.access` says.

Statements go through :class:`~infra_cdk.policies.RolePolicy` (no wildcard actions; every wildcard
resource carries its reason into the cdk-nag acknowledgment). Scaling rights name
no target: they require the ``forescale:enabled=true`` tag on the group, service or scalable target.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from functions.adapters.capacity import ECS_DIMENSION
from functions.adapters.tables import ALL_TABLES
from functions.catalog import FunctionSpec
from infra_cdk import telemetry
from infra_cdk.access import (
    AUDIT_PREFIX,
    ENABLED_TAG_KEY,
    ENABLED_TAG_VALUE,
    OPERATOR_TARGETS_KEY,
    TARGETS_KEY,
    FunctionAccess,
)
from infra_cdk.names import pascal
from infra_cdk.policies import RolePolicy
from infra_cdk.storage import StorageRef

NO_RESOURCE_LEVEL = "{actions} support no resource-level permissions (AWS requires Resource '*')"


def grant_function(
    scope: Construct,
    spec: FunctionSpec,
    access: FunctionAccess,
    *,
    role: iam.Role,
    function: lambda_.Function,
    storage: StorageRef,
    tag_discovery: bool,
) -> None:
    """Attach the function's policy, make the function wait for it, and let it invoke itself if it does."""
    policy = RolePolicy(role)
    policy.expect_wildcard("*", NO_RESOURCE_LEVEL.format(actions="X-Ray PutTraceSegments/PutTelemetryRecords"))
    _grant(scope, policy, spec, access, storage=storage, tag_discovery=tag_discovery)
    policy.attach()
    depend_on_policies_only(function, role)
    if access.invokes_itself:
        # A separate policy the function does not wait for: it names the function's own ARN.
        iam.Policy(
            scope,
            f"{pascal(spec.name)}SelfInvoke",
            roles=[role],
            statements=[iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[function.function_arn])],
        )


def depend_on_policies_only(function: lambda_.Function, role: iam.IRole) -> None:
    """Keep a function waiting for its role's policies (Lambda checks the dead-letter permission at
    creation) without the ``DependsOn`` on the role itself, which ``Fn::GetAtt`` already implies."""
    stack = Stack.of(function)
    policies = sorted(
        stack.get_logical_id(child.node.default_child)
        for child in role.node.children
        if isinstance(child, iam.Policy) and isinstance(child.node.default_child, iam.CfnPolicy)
    )
    cfn_function = function.node.default_child
    assert isinstance(cfn_function, lambda_.CfnFunction)
    if policies:
        cfn_function.add_override("DependsOn", policies)
    else:
        cfn_function.add_deletion_override("DependsOn")


def _grant(
    scope: Construct,
    policy: RolePolicy,
    spec: FunctionSpec,
    access: FunctionAccess,
    *,
    storage: StorageRef,
    tag_discovery: bool,
) -> None:
    for spec_table in ALL_TABLES:
        table_actions = access.tables.get(spec_table.logical_name)
        if table_actions:
            policy.allow(table_actions, [storage.table_arn(spec_table)])
    targets_objects = [f"{storage.bucket_arn}/{key}" for key in (TARGETS_KEY, OPERATOR_TARGETS_KEY)]
    policy.allow(["s3:GetObject"], targets_objects)
    if access.changes_targets:
        # replaced by compare-and-swap (If-Match / If-None-Match), see functions.adapters.operator_config
        policy.allow(["s3:PutObject"], [f"{storage.bucket_arn}/{OPERATOR_TARGETS_KEY}"])
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
    listed = [prefix for prefix in access.lists if prefix != AUDIT_PREFIX]
    if listed:
        policy.allow(
            ["s3:ListBucket"],
            [storage.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in listed]}},
        )
    if AUDIT_PREFIX in access.lists:
        policy.allow(
            ["s3:ListBucket"],
            [storage.audit_bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{AUDIT_PREFIX}*"]}},
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
            reason=NO_RESOURCE_LEVEL.format(actions="cloudwatch:GetMetricData"),
        )
    if access.puts_metrics:
        policy.allow(
            ["cloudwatch:PutMetricData"],
            ["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": telemetry.NAMESPACE}},
            reason=NO_RESOURCE_LEVEL.format(actions="cloudwatch:PutMetricData")
            + f"; limited to the {telemetry.NAMESPACE} namespace",
        )
    unscoped: list[str] = []
    if access.describes_targets:
        unscoped += [
            "autoscaling:DescribeAutoScalingGroups",
            "ecs:DescribeServices",
            "application-autoscaling:DescribeScalableTargets",
        ]
    if access.uses_catalog and tag_discovery:
        # tagged groups: DescribeAutoScalingGroups filtered on the tag; tagged services: tag:GetResources
        unscoped += ["autoscaling:DescribeAutoScalingGroups", "tag:GetResources"]
    if unscoped:
        actions = list(dict.fromkeys(unscoped))
        policy.allow(actions, ["*"], reason=NO_RESOURCE_LEVEL.format(actions=", ".join(actions)))
    if access.scales_targets:
        _grant_scaling(scope, policy)


def _grant_scaling(scope: Construct, policy: RolePolicy) -> None:
    """Change only groups, services and ECS scalable targets tagged ``forescale:enabled=true``.

    The permission names no target: switching a target to ``floor`` or ``direct`` (or adding one) is a
    configuration change and a tag, not a deploy, and a resource without the tag is refused whatever the
    configuration says. Both acting modes need every call of their kind (ASG ``direct``: SetDesiredCapacity,
    and UpdateAutoScalingGroup to lower the minimum below a scale-in; ``floor``: UpdateAutoScalingGroup, and
    SetDesiredCapacity to put desired back on a rollback; ECS likewise UpdateService and
    RegisterScalableTarget), so a mode tag would narrow nothing; ``forecast_only`` is enforced by the
    executor, which never acts on it.
    """
    stack = Stack.of(scope)
    partition, region, account = stack.partition, stack.region, stack.account
    any_group = f"arn:{partition}:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/*"
    policy.allow(
        ["autoscaling:SetDesiredCapacity", "autoscaling:UpdateAutoScalingGroup"],
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
    # The executor sets an ECS service's bounds on its scalable target: always in floor mode, and in direct
    # mode when it scales in below the scalable target's minimum. IAM cannot name a scalable target by
    # service (its ARN carries a random id) and a registration that creates one has no tags yet: only an
    # existing scalable target the operator tagged can be changed.
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
