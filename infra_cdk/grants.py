"""IAM of the functions: each role gets exactly what its row of :mod:`infra_cdk.access` says.

Statements go through :class:`~infra_cdk.policies.RolePolicy` (no wildcard actions; every wildcard
resource carries its reason into the cdk-nag acknowledgment). Scaling rights name the configured
targets that act, or require the ``forescale:enabled=true`` tag.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Annotations, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from functions.adapters.capacity import ECS_DIMENSION
from functions.adapters.tables import ALL_TABLES
from functions.catalog import FunctionSpec
from functions.domain.target import ScalingTarget
from infra_cdk import telemetry
from infra_cdk.access import AUDIT_PREFIX, ENABLED_TAG_KEY, ENABLED_TAG_VALUE, TARGETS_KEY, FunctionAccess
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
    targets: Sequence[ScalingTarget],
    tag_discovery: bool,
) -> None:
    """Attach the function's policy, make the function wait for it, and let it invoke itself if it does."""
    policy = RolePolicy(role)
    policy.expect_wildcard("*", NO_RESOURCE_LEVEL.format(actions="X-Ray PutTraceSegments/PutTelemetryRecords"))
    _grant(scope, policy, spec, access, storage=storage, targets=targets, tag_discovery=tag_discovery)
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
    targets: Sequence[ScalingTarget],
    tag_discovery: bool,
) -> None:
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
        _grant_scaling(scope, policy, targets, tag_discovery)


def _grant_scaling(scope: Construct, policy: RolePolicy, targets: Sequence[ScalingTarget], tag_discovery: bool) -> None:
    """Change only groups/services tagged ``forescale:enabled=true`` or configured to be acted on."""
    stack = Stack.of(scope)
    partition, region, account = stack.partition, stack.region, stack.account
    asg_actions = ["autoscaling:SetDesiredCapacity", "autoscaling:UpdateAutoScalingGroup"]
    acting = [target for target in targets if target.mode != "forecast_only"]
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
    if tag_discovery:
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
        Annotations.of(scope).add_warning_v2(
            "forescale:ecsScalableTargetNeedsTag",
            f"ECS targets {acting_ecs} change capacity: tag their Application Auto Scaling scalable targets "
            f"{ENABLED_TAG_KEY}={ENABLED_TAG_VALUE} (IAM cannot name a scalable target by service), or floor "
            "mode and scale-in below the scalable target's minimum are refused",
        )
    if tag_discovery or acting_ecs:
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
