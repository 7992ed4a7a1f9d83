"""The guards behind "no wildcard actions" and "every acknowledgment has a reason", on a tiny stack."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from aws_cdk import App, Stack, Validations
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks

from infra_cdk.policies import RolePolicy, acknowledge, flatten_reference


def _role(app: App) -> iam.Role:
    stack = Stack(app, "PolicyTest")
    return iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))


def test_wildcard_actions_are_refused_at_synth():
    policy = RolePolicy(_role(App()))
    with pytest.raises(ValueError, match="wildcard actions are not allowed"):
        policy.allow(["s3:Get*"], ["arn:aws:s3:::bucket/key"])


def test_a_wildcard_resource_needs_a_reason():
    policy = RolePolicy(_role(App()))
    with pytest.raises(ValueError, match="give the reason"):
        policy.allow(["s3:GetObject"], ["arn:aws:s3:::bucket/history/*"])


def test_an_acknowledgment_without_a_real_reason_is_refused():
    with pytest.raises(ValueError, match="must say why"):
        acknowledge(_role(App()), "AwsSolutions-IAM5[Resource::*]", "ok")


def test_flatten_reference_renders_intrinsics_as_cdk_nag_prints_them():
    joined = {"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket1", "Arn"]}, "/history/*"]]}
    assert flatten_reference(joined) == "<Bucket1.Arn>/history/*"
    assert flatten_reference({"Fn::Join": ["", [{"Fn::ImportValue": "S-BucketArn"}, "/a/*"]]}) == "S-BucketArn/a/*"
    assert flatten_reference({"Fn::Join": [":", ["arn", {"Ref": "AWS::Partition"}]]}) == "arn:<AWS::Partition>"


def test_nag_fails_synth_on_an_unacknowledged_wildcard_and_passes_once_acknowledged_with_reason(tmp_path):
    # GIVEN a role with a wildcard resource granted behind RolePolicy's back
    app = App(outdir=str(tmp_path / "bad"))
    role = _role(app)
    role.add_to_policy(iam.PolicyStatement(actions=["xray:PutTraceSegments"], resources=["*"]))
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    # WHEN synthesized THEN cdk-nag stops synth
    with pytest.raises(RuntimeError, match=r"ValidationFailed(.|\n)*AwsSolutions-IAM5\[Resource::\*\]"):
        app.synth()
    # GIVEN the same grant through RolePolicy, which acknowledges it on the role with its reason
    app = App(outdir=str(tmp_path / "good"))
    policy = RolePolicy(_role(app))
    policy.allow(["xray:PutTraceSegments"], ["*"], reason="X-Ray has no resource-level permissions")
    policy.attach()
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    # THEN synth passes
    app.synth()
