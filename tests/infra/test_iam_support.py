"""The IAM model behind test_permissions_match_calls: calls become the right requests, and the evaluator says
no where IAM says no (wrong resource, unmet condition, missing tag, an explicit Deny)."""

from __future__ import annotations

import pytest

from tests.infra.iam_support import (
    ACCOUNT,
    Deployment,
    ResourceFacts,
    Statement,
    UnmodelledCallError,
    conditions_hold,
    evaluate,
    iam_requests,
)

GROUP_ARN = f"arn:aws:autoscaling:us-east-1:{ACCOUNT}:autoScalingGroup:1234:autoScalingGroupName/web"


def _facts(kind: str, identifier: str) -> ResourceFacts | None:
    if kind == "asg" and identifier == "web":
        return ResourceFacts(GROUP_ARN, {"forescale:enabled": "true"})
    return None


def _allow(actions: list[str], resources: list[str], condition: dict | None = None) -> Statement:
    raw = {"Effect": "Allow", "Action": actions, "Resource": resources, "Condition": condition or {}}
    return Statement.from_template(raw, Deployment([]), origin="test")


def test_calls_become_iam_requests_with_their_action_resource_and_condition_keys() -> None:
    (listing,) = iam_requests("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "history/t=1/"}, _facts)
    assert (listing.action, listing.resource, listing.context["s3:prefix"]) == (
        "s3:ListBucket",
        "arn:aws:s3:::b",
        "history/t=1/",
    )
    (invoke,) = iam_requests("lambda", "Invoke", {"FunctionName": "collector", "Payload": b"{}"}, _facts)
    assert invoke.action == "lambda:InvokeFunction"
    assert invoke.resource == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:collector"
    entries = [{"Source": "a", "DetailType": "A"}, {"Source": "b", "DetailType": "B", "EventBusName": "bus"}]
    first, second = iam_requests("events", "PutEvents", {"Entries": entries}, _facts)
    assert first.resource.endswith(":event-bus/default") and second.resource.endswith(":event-bus/bus")
    assert (second.context["events:source"], second.context["events:detail-type"]) == ("b", "B")
    (scale,) = iam_requests("autoscaling", "SetDesiredCapacity", {"AutoScalingGroupName": "web"}, _facts)
    assert scale.resource == GROUP_ARN and scale.context["autoscaling:ResourceTag/forescale:enabled"] == "true"
    (tagging,) = iam_requests("resourcegroupstaggingapi", "GetResources", {}, _facts)
    assert tagging.action == "tag:GetResources"
    with pytest.raises(UnmodelledCallError, match=r"s3\.DeleteObject"):
        iam_requests("s3", "DeleteObject", {"Bucket": "b", "Key": "k"}, _facts)


def test_resources_match_with_iam_wildcards_only() -> None:
    (get,) = iam_requests("s3", "GetObject", {"Bucket": "b", "Key": "history/x/1.parquet"}, _facts)
    assert evaluate(get, [_allow(["s3:GetObject"], ["arn:aws:s3:::b/history/*"])], []).allowed
    assert not evaluate(get, [_allow(["s3:GetObject"], ["arn:aws:s3:::b/audit/*"])], []).allowed
    assert not evaluate(get, [_allow(["s3:PutObject"], ["arn:aws:s3:::b/history/*"])], []).allowed
    assert not evaluate(get, [_allow(["s3:GetObject"], ["arn:aws:s3:::b/history/?"])], []).allowed


def test_conditions_must_all_hold_and_a_missing_key_fails_a_positive_operator() -> None:
    (put,) = iam_requests(
        "events", "PutEvents", {"Entries": [{"Source": "forescale.decider", "DetailType": "X"}]}, _facts
    )
    bus = put.resource
    right = {"StringEquals": {"events:source": ["forescale.decider"], "events:detail-type": ["X", "Y"]}}
    wrong = {"StringEquals": {"events:source": ["forescale.decider"], "events:detail-type": ["Y"]}}
    assert evaluate(put, [_allow(["events:PutEvents"], [bus], right)], []).allowed
    assert not evaluate(put, [_allow(["events:PutEvents"], [bus], wrong)], []).allowed
    assert not conditions_hold({"StringEquals": {"aws:ResourceTag/forescale:enabled": ["true"]}}, {})
    assert conditions_hold({"StringNotEquals": {"events:source": ["x"]}}, {})
    assert conditions_hold({"StringEqualsIfExists": {"events:source": ["x"]}}, {})
    assert conditions_hold({"Null": {"s3:if-none-match": ["true"]}}, {})
    assert not conditions_hold({"Null": {"s3:if-none-match": ["true"]}}, {"s3:if-none-match": "*"})


def test_a_group_without_the_tag_is_refused_by_a_tag_conditioned_grant() -> None:
    untagged = lambda kind, name: ResourceFacts(GROUP_ARN, {})  # noqa: E731
    (scale,) = iam_requests("autoscaling", "SetDesiredCapacity", {"AutoScalingGroupName": "web"}, untagged)
    grant = _allow(
        ["autoscaling:SetDesiredCapacity"],
        ["arn:aws:autoscaling:us-east-1:*:autoScalingGroup:*:autoScalingGroupName/*"],
        {"StringEquals": {"autoscaling:ResourceTag/forescale:enabled": ["true"]}},
    )
    assert not evaluate(scale, [grant], []).allowed
    (tagged,) = iam_requests("autoscaling", "SetDesiredCapacity", {"AutoScalingGroupName": "web"}, _facts)
    assert evaluate(tagged, [grant], []).allowed


def test_an_explicit_deny_in_a_resource_policy_wins_over_an_allow() -> None:
    # GIVEN a role allowed to put audit objects, and the bucket's denial of puts without If-None-Match
    grant = _allow(["s3:PutObject"], ["arn:aws:s3:::b/audit/*"])
    deny = Statement.from_template(
        {
            "Effect": "Deny",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::b/audit/*",
            "Condition": {"Null": {"s3:if-none-match": "true"}},
        },
        Deployment([]),
        origin="bucket policy",
    )
    (overwrite,) = iam_requests("s3", "PutObject", {"Bucket": "b", "Key": "audit/1"}, _facts)
    (create,) = iam_requests("s3", "PutObject", {"Bucket": "b", "Key": "audit/1", "IfNoneMatch": "*"}, _facts)
    assert evaluate(overwrite, [grant], [deny]).reason == "denied by bucket policy"
    assert evaluate(create, [grant], [deny]).allowed


def test_cloudformation_values_resolve_to_the_deployment_names() -> None:
    stateful = {
        "Resources": {"Table1": {"Type": "AWS::DynamoDB::Table"}},
        "Outputs": {"A": {"Value": {"Fn::GetAtt": ["Table1", "Arn"]}, "Export": {"Name": "S-TableArn"}}},
    }
    deployment = Deployment([stateful], names={"Table1": "run-State"})
    assert (
        deployment.resolve({"Fn::ImportValue": "S-TableArn"}) == f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/run-State"
    )
    joined = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":x:", {"Ref": "AWS::Region"}]]}
    assert deployment.resolve(joined) == "arn:aws:x:us-east-1"
    with pytest.raises(KeyError, match="cannot resolve"):
        deployment.resolve({"Fn::Sub": "x"})
