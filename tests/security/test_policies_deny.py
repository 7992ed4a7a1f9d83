"""Least privilege proven by denial: the synthesized policies, evaluated the way IAM evaluates them, refuse what
forescale must never do.

``tests/infra/test_permissions_match_calls.py`` shows each function is *allowed* every call it makes;
here every role, the bucket policy and the bus policy are asked about requests that must be *refused*:
capacity changes of resources without the consent tag, or by any function but the executor; rewriting or
deleting the audit trail; privilege escalation and self-modification; business events from other
accounts or with another source. And the shape checks that no evaluation covers: no wildcard action,
IAM auth on the operator API, encryption at rest on every resource that stores data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from events.contracts import ALL_CONTRACTS, BusinessEvent
from tests.infra.conftest import STATEFUL, STATELESS, TRUSTED_ACCOUNT, as_list, function_ids, role_statements
from tests.infra.iam_support import (
    ACCOUNT,
    COMMON_CONTEXT,
    Deployment,
    IamRequest,
    ResourceFacts,
    Statement,
    arn,
    evaluate,
    iam_requests,
)

BUCKET = "forescale-bucket"
AUDIT_BUCKET = "forescale-audit"
BUS = "forescale-bus"
STRANGER = "999988887777"
ENABLED = {"forescale:enabled": "true"}


class Policies:
    """Every function's identity statements, the bucket and bus policies, resolved to one deployment."""

    def __init__(self, stateful: dict[str, Any], stateless: dict[str, Any]) -> None:
        self.deployment = Deployment([stateful, stateless])
        for logical, resource in stateful["Resources"].items():
            kind = resource["Type"]
            if kind == "AWS::DynamoDB::Table":
                self.deployment.names[logical] = f"forescale-{logical}"
            elif kind == "AWS::S3::Bucket":
                self.deployment.names[logical] = (
                    BUCKET
                    if "StorageBucket" in logical
                    else AUDIT_BUCKET
                    if "StorageAuditBucket" in logical
                    else f"logs-{logical}".lower()
                )
            elif kind == "AWS::Events::EventBus":
                self.deployment.names[logical] = BUS
        self.functions = function_ids(stateless)
        for name, logical in self.functions.items():
            self.deployment.names[logical] = name
        self.identity: dict[str, list[Statement]] = {}
        #: each function role's ARN (its path as the template sets it, named by its logical id)
        self.role_arns: dict[str, str] = {}
        for name, logical in self.functions.items():
            role = stateless["Resources"][logical]["Properties"]["Role"]["Fn::GetAtt"][0]
            path = self.deployment.resolve(stateless["Resources"][role]["Properties"].get("Path", "/"))
            self.role_arns[name] = f"arn:aws:iam::{ACCOUNT}:role{path}{role}"
            self.identity[name] = [
                Statement.from_template(raw, self.deployment, origin=f"{name} role")
                for raw in role_statements(stateless, role)
            ]
        self.bucket: list[Statement] = []
        self.bus: list[tuple[Statement, Any]] = []
        for logical, resource in stateful["Resources"].items():
            bucket = str(resource.get("Properties", {}).get("Bucket"))
            if resource["Type"] == "AWS::S3::BucketPolicy" and (
                "StorageBucket" in bucket or "StorageAuditBucket" in bucket
            ):
                for raw in resource["Properties"]["PolicyDocument"]["Statement"]:
                    self.bucket.append(Statement.from_template(raw, self.deployment, origin=f"bucket policy {logical}"))
            if resource["Type"] == "AWS::Events::EventBusPolicy":
                raw = resource["Properties"]["Statement"]
                statement = Statement.from_template(raw, self.deployment, origin=f"bus policy {logical}")
                self.bus.append((statement, self.deployment.resolve(raw["Principal"]["AWS"])))

    def table(self, fragment: str) -> str:
        (name,) = [n for logical, n in self.deployment.names.items() if fragment in logical and "Table" in logical]
        return arn("dynamodb", f"table/{name}")


@pytest.fixture(scope="module")
def policies(synthesized: Any) -> Policies:
    return Policies(synthesized.templates[STATEFUL], synthesized.templates[STATELESS])


def request(action: str, resource: str, **context: str) -> IamRequest:
    return IamRequest(action, resource, {**COMMON_CONTEXT, **context}, action)


def group_arn(name: str) -> str:
    return arn("autoscaling", f"autoScalingGroup:0f6e2b1c-aaaa-bbbb-cccc-1234567890ab:autoScalingGroupName/{name}")


def capacity_requests(kind: str, name: str, tags: dict[str, str]) -> list[IamRequest]:
    """Every capacity-changing call on one group or service, as IAM sees it."""

    def lookup(what: str, identifier: str) -> ResourceFacts | None:
        if what == "asg":
            return ResourceFacts(group_arn(identifier), tags)
        if what == "ecs-service":
            return ResourceFacts(arn("ecs", f"service/{identifier}"), tags)
        return ResourceFacts(arn("application-autoscaling", f"scalable-target/{name.replace('/', '')}"), tags)

    if kind == "asg":
        calls = [
            ("SetDesiredCapacity", {"AutoScalingGroupName": name}),
            ("UpdateAutoScalingGroup", {"AutoScalingGroupName": name}),
        ]
        return [r for op, params in calls for r in iam_requests("autoscaling", op, params, lookup)]
    cluster, service = name.split("/")
    out = iam_requests("ecs", "UpdateService", {"cluster": cluster, "service": service}, lookup)
    out += iam_requests(
        "application-autoscaling",
        "RegisterScalableTarget",
        {
            "ServiceNamespace": "ecs",
            "ResourceId": f"service/{cluster}/{service}",
            "ScalableDimension": "ecs:service:DesiredCount",
        },
        lookup,
    )
    return out


def verdicts(policies: Policies, requests: list[IamRequest]) -> Iterator[tuple[str, IamRequest, bool]]:
    for function, statements in policies.identity.items():
        for one in requests:
            yield function, one, evaluate(one, statements, policies.bucket).allowed


# --------------------------------------------------------------------------- capacity


@pytest.mark.parametrize(
    ("kind", "name", "tags", "executor_may"),
    [
        ("asg", "web-asg-prod", {}, False),  # configured acting target (floor) without the consent tag
        ("asg", "web-asg-prod", ENABLED, True),  # ... with it
        ("asg", "discovered-asg", ENABLED, True),  # opted in by tag
        ("asg", "batch-workers", {}, False),  # a forecast_only target: never acted on
        ("asg", "someone-elses-asg", {}, False),
        ("asg", "someone-elses-asg", {"forescale:enabled": "false"}, False),
        ("ecs", "prod/api", {}, False),  # configured acting target (direct) without the consent tag
        ("ecs", "prod/api", ENABLED, True),
        ("ecs", "prod/discovered", ENABLED, True),
        ("ecs", "prod/payments", {}, False),
        ("ecs", "other/api", {}, False),  # same service name, another cluster
    ],
)
def test_only_the_executor_changes_capacity_and_only_of_tagged_targets(
    policies, figures, kind, name, tags, executor_may
):
    # GIVEN every capacity-changing call on the group or service, asked of every function's role
    requests = [
        r
        for r in capacity_requests(kind, name, tags)
        if r.action != "application-autoscaling:RegisterScalableTarget" or tags
    ]
    results = list(verdicts(policies, requests))
    wrong = [
        (function, r.describe())
        for function, r, allowed in results
        if allowed != (executor_may and function == "executor")
    ]
    figures.add(
        "security",
        "capacity changes: only the executor, only of tagged targets (one per target case)",
        checks=1,
        properties=[f"{kind} {name} {tags or 'untagged'}: {'executor only' if executor_may else 'nobody'}"],
        evaluated=len(results),
        unit="(role, request) evaluations",
        violations=int(bool(wrong)),
    )
    # THEN the executor may exactly when the resource carries the consent tag, and nobody else ever may
    assert not wrong, wrong


# --------------------------------------------------------------------------- audit trail, escalation


def dangerous_requests(policies: Policies) -> list[IamRequest]:
    audit = policies.table("Audit")
    bucket = f"arn:aws:s3:::{BUCKET}"
    audit_bucket = f"arn:aws:s3:::{AUDIT_BUCKET}"
    functions = [arn("lambda", f"function:{name}") for name in policies.functions]
    out = [
        request("dynamodb:DeleteItem", audit),
        request("dynamodb:UpdateItem", audit),
        request("dynamodb:BatchWriteItem", audit),
        request("dynamodb:DeleteTable", audit),
        request("s3:DeleteObject", f"{audit_bucket}/audit/target=web/2026/03/10/decision-1.parquet"),
        request("s3:DeleteObjectVersion", f"{audit_bucket}/audit/target=web/2026/03/10/decision-1.parquet"),
        # a write that may replace an existing audit object (no If-None-Match)
        request("s3:PutObject", f"{audit_bucket}/audit/target=web/2026/03/10/decision-1.parquet"),
        request("s3:PutBucketPolicy", bucket),
        request("s3:PutBucketVersioning", bucket),
        request("s3:DeleteBucket", bucket),
        request("s3:PutObject", f"{bucket}/config/targets.json", **{"s3:if-none-match": "*"}),
        request("iam:PassRole", arn("iam", "role/anything").replace(":us-east-1:", "::")),
        request("iam:PutRolePolicy", "*"),
        request("iam:AttachRolePolicy", "*"),
        request("iam:CreateAccessKey", "*"),
        request("sts:AssumeRole", "*"),
        request("events:PutRule", arn("events", f"rule/{BUS}/anything")),
        request("events:PutTargets", arn("events", f"rule/{BUS}/anything")),
        request("events:DeleteArchive", arn("events", "archive/forescale")),
        request("logs:DeleteLogGroup", arn("logs", "log-group:/aws/lambda/executor")),
        request("cloudwatch:DeleteAlarms", "*"),
        request("cloudwatch:DisableAlarmActions", "*"),
        request("kms:ScheduleKeyDeletion", arn("kms", "key/anything")),
        request("ec2:TerminateInstances", "*"),
        request("ecs:DeleteService", arn("ecs", "service/prod/api")),
        request("autoscaling:DeleteAutoScalingGroup", group_arn("web-asg-prod")),
        request("autoscaling:TerminateInstanceInAutoScalingGroup", "*"),
        # bounds of a scalable target that is not tagged forescale:enabled=true (anyone's ECS service)
        request(
            "application-autoscaling:RegisterScalableTarget",
            arn("application-autoscaling", "scalable-target/0ec5a1b2c3d4e5f60718293a4b5c6d7e"),
            **{
                "application-autoscaling:service-namespace": "ecs",
                "application-autoscaling:scalable-dimension": "ecs:service:DesiredCount",
            },
        ),
    ]
    for function in functions:
        out += [
            request("lambda:UpdateFunctionCode", function),
            request("lambda:UpdateFunctionConfiguration", function),
            request("lambda:AddPermission", function),
        ]
    return out


def test_only_the_operator_api_writes_the_operators_targets_object_and_nobody_the_deployed_one(policies):
    # GIVEN writes of the two targets objects, plain and conditional (as the API's compare-and-swap sends them)
    bucket = f"arn:aws:s3:::{BUCKET}"
    for key, writers in (("config/operator-targets.json", {"api"}), ("config/targets.json", set())):
        for condition in ({}, {"s3:if-match": '"0a1b"'}, {"s3:if-none-match": "*"}):
            put = request("s3:PutObject", f"{bucket}/{key}", **condition)
            # THEN only the operator API may write the operator's object, no function the deployed one ...
            assert {f for f, _, ok in verdicts(policies, [put]) if ok} == writers, (key, condition)
        # ... and every function may read both (its catalogue merges them)
        get = request("s3:GetObject", f"{bucket}/{key}")
        assert {f for f, _, ok in verdicts(policies, [get]) if ok} == set(policies.functions), key


def test_no_function_can_rewrite_the_audit_trail_escalate_or_modify_itself(policies, figures):
    requests = dangerous_requests(policies)
    results = list(verdicts(policies, requests))
    allowed = [(function, r.describe()) for function, r, ok in results if ok]
    figures.add(
        "security",
        "no function's role may do a dangerous request (one per request of dangerous_requests)",
        checks=len({r.describe() for r in requests}),
        properties=sorted({r.describe() for r in requests}),
        evaluated=len(results),
        unit="(role, request) evaluations",
        violations=len({what for _, what in allowed}),
    )
    assert not allowed, allowed


def test_the_bucket_refuses_audit_deletion_and_overwrite_to_everyone_and_plain_http(policies, synthesized, figures):
    # GIVEN the bucket policy alone, asked about an administrator of the account (who has every permission)
    key = f"arn:aws:s3:::{AUDIT_BUCKET}/audit/target=web/2026/03/10/decision-1.parquet"
    administrator = [Statement("Allow", ("*",), ("*",), {}, origin="an administrator")]
    cases = {
        "delete an audit object": (request("s3:DeleteObject", key), False),
        "delete an audit object version": (request("s3:DeleteObjectVersion", key), False),
        "shorten its retention": (request("s3:PutObjectRetention", key), False),
        "overwrite an audit object": (request("s3:PutObject", key), False),
        "write a new audit object (If-None-Match)": (request("s3:PutObject", key, **{"s3:if-none-match": "*"}), True),
        "anything over plain HTTP": (
            IamRequest("s3:GetObject", f"arn:aws:s3:::{BUCKET}/config/targets.json", {"aws:SecureTransport": "false"}),
            False,
        ),
    }
    wrong = [
        what
        for what, (one, expected) in cases.items()
        if evaluate(one, administrator, policies.bucket).allowed != expected
    ]
    # ... and the bucket is versioned (an overwrite that got through would keep the old version)
    buckets = [
        r["Properties"]
        for logical, r in synthesized.templates[STATEFUL]["Resources"].items()
        if r["Type"] == "AWS::S3::Bucket" and ("StorageBucket" in logical or "StorageAuditBucket" in logical)
    ]
    if [b.get("VersioningConfiguration", {}).get("Status") for b in buckets] != ["Enabled", "Enabled"]:
        wrong.append("the buckets are not versioned")
    figures.add(
        "security",
        "audit objects: no deletion, no overwrite, TLS only, versioned",
        checks=len(cases) + 1,
        violations=len(wrong),
    )
    assert not wrong, wrong


# --------------------------------------------------------------------------- the bus


#: Principals of the bus's account that are not forescale's function roles.
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Administrator"
USER = f"arn:aws:iam::{ACCOUNT}:user/alice"
#: A function role of another forescale deployment in the same account.
OTHER_DEPLOYMENT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/forescale/OtherStateful/DeciderRole"


def bus_allows(policies: Policies, account: str | None, source: str, principal: str | None = ADMIN_ROLE) -> bool:
    """PutEvents on the bus by ``principal`` (the ARN IAM puts in ``aws:PrincipalArn``; a role session's is
    its role's): a caller of another account needs a bus-policy Allow naming its account, one of the bus's
    account needs its own role's Allow (granted here); any Deny wins."""
    context = {"aws:SecureTransport": "true", "events:source": source, "events:detail-type": "BusinessEvent"}
    if account is not None:
        context["aws:PrincipalAccount"] = account
    if principal is not None:
        context["aws:PrincipalArn"] = principal
    one = IamRequest("events:PutEvents", arn("events", f"event-bus/{BUS}"), context, "PutEvents")
    if any(s.effect == "Deny" and s.matches(one) for s, _ in policies.bus):
        return False
    if account in (None, ACCOUNT):
        return True
    return any(
        s.effect == "Allow" and s.matches(one) and any(f":{account}:" in p for p in as_list(principal))
        for s, principal in policies.bus
    )


def test_the_bus_takes_business_events_only_from_the_account_and_trusted_accounts(policies, figures):
    cases = {
        "own account, business event": (ACCOUNT, "forescale.business", True),
        "own account, pipeline event, not from a function role": (ACCOUNT, "forescale.decider", False),
        "own account, unknown source": (ACCOUNT, "com.example.orders", False),
        "trusted account, business event": (TRUSTED_ACCOUNT, "forescale.business", True),
        "trusted account, forged pipeline event": (TRUSTED_ACCOUNT, "forescale.decider", False),
        "trusted account, unknown source": (TRUSTED_ACCOUNT, "com.example.orders", False),
        "stranger, business event": (STRANGER, "forescale.business", False),
        "stranger, forged pipeline event": (STRANGER, "forescale.executor", False),
    }
    wrong = [
        what for what, (account, source, expected) in cases.items() if bus_allows(policies, account, source) != expected
    ]
    figures.add(
        "security",
        "bus: business events only from the account and trusted accounts",
        checks=len(cases),
        violations=len(wrong),
    )
    assert not wrong, wrong


def test_pipeline_events_are_taken_only_from_forescales_function_roles(policies, figures):
    # GIVEN every pipeline source, and principals of the bus's own account
    pipeline = sorted({c.SOURCE for c in ALL_CONTRACTS} - {BusinessEvent.SOURCE})
    strangers = {
        "an administrator role": ADMIN_ROLE,
        "a user": USER,
        "another deployment's role": OTHER_DEPLOYMENT_ROLE,
    }
    cases: dict[str, tuple[str | None, str, bool]] = {}
    for source in pipeline:
        # WHEN each function role puts it THEN the bus takes it (its own role's Allow decides which it may send)
        for function, role in sorted(policies.role_arns.items()):
            cases[f"{function} role, {source}"] = (role, source, True)
        # ... and any other principal of the account, or none named, is refused
        for who, principal in strangers.items():
            cases[f"{who}, {source}"] = (principal, source, False)
        cases[f"no principal ARN, {source}"] = (None, source, False)
    # ... while business events keep their rules: any principal of the account may send them
    for who, principal in strangers.items():
        cases[f"{who}, business event"] = (principal, BusinessEvent.SOURCE, True)
    wrong = [
        what
        for what, (principal, source, expected) in cases.items()
        if bus_allows(policies, ACCOUNT, source, principal) != expected
    ]
    figures.add(
        "security",
        "bus: pipeline events only from forescale's function roles",
        checks=len(cases),
        violations=len(wrong),
    )
    assert len(policies.role_arns) >= 8 and not wrong, wrong


# --------------------------------------------------------------------------- shape checks


def all_statements(templates: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for template in templates:
        for logical, resource in template["Resources"].items():
            props = resource.get("Properties", {})
            documents = [props.get("PolicyDocument"), props.get("KeyPolicy")]
            documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
            if resource["Type"] == "AWS::IAM::Role":
                documents.append(props["AssumeRolePolicyDocument"])
            for document in filter(None, documents):
                for statement in as_list(document["Statement"]):
                    yield logical, statement
            if resource["Type"] == "AWS::Events::EventBusPolicy":
                yield logical, props["Statement"]


def test_no_allow_statement_names_a_wildcard_action(synthesized, figures):
    allows = [
        (logical, s) for logical, s in all_statements(list(synthesized.templates.values())) if s["Effect"] == "Allow"
    ]
    wild = [
        (logical, statement["Action"])
        for logical, statement in allows
        if any("*" in str(a) for a in as_list(statement.get("Action", [])))
    ]
    figures.add(
        "security",
        "no wildcard action in any Allow statement",
        checks=1,
        evaluated=len(allows),
        unit="Allow statements",
        violations=len(wild),
    )
    assert len(allows) > 50 and not wild, wild


def test_the_operator_api_requires_iam_auth(synthesized, figures):
    stateless = synthesized.templates[STATELESS]
    urls = [r["Properties"] for r in stateless["Resources"].values() if r["Type"] == "AWS::Lambda::Url"]
    permissions = [r["Properties"] for r in stateless["Resources"].values() if r["Type"] == "AWS::Lambda::Permission"]
    problems = [u for u in urls if u["AuthType"] != "AWS_IAM"]
    problems += [p for p in permissions if p.get("Principal") == "*" or p.get("FunctionUrlAuthType") == "NONE"]
    figures.add(
        "security",
        "operator API: every function URL needs IAM auth; no Lambda permission is public",
        checks=2,
        evaluated=len(urls) + len(permissions),
        unit="function URLs and Lambda permissions",
        violations=len(problems),
    )
    assert urls and not problems, problems


#: Every resource type of the templates that keeps data: what its encryption at rest is judged by.
ENCRYPTED = {
    "AWS::DynamoDB::Table": (
        "SSESpecification.SSEEnabled",
        lambda p: p.get("SSESpecification", {}).get("SSEEnabled") is True,
    ),
    "AWS::S3::Bucket": (
        "a default server-side encryption rule",
        lambda p: bool(p.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration")),
    ),
    "AWS::SQS::Queue": (
        "SQS-managed SSE or a KMS key",
        lambda p: p.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in p,
    ),
    "AWS::SNS::Topic": ("a KMS key", lambda p: "KmsMasterKeyId" in p),
    "AWS::KMS::Key": ("key rotation enabled", lambda p: p.get("EnableKeyRotation") is True),
    # the records it buffers before writing them to the (encrypted) bucket
    "AWS::KinesisFirehose::DeliveryStream": (
        "server-side encryption of its buffer",
        lambda p: bool(p.get("DeliveryStreamEncryptionConfigurationInput", {}).get("KeyType")),
    ),
}
#: Types the service always encrypts at rest (CloudWatch Logs, EventBridge archives: AWS-owned keys by
#: default). Only a customer key named in the template can be checked; without one there is nothing to judge
#: and the resource is listed as "encrypted by the service by default", not counted as a check.
SERVICE_ENCRYPTED = {"AWS::Logs::LogGroup": "KmsKeyId", "AWS::Events::Archive": "KmsKeyIdentifier"}
#: Types that hold no data of their own.
STATELESS_TYPES = {
    "AWS::Lambda::Function", "AWS::Lambda::LayerVersion", "AWS::Lambda::Url", "AWS::Lambda::Permission",
    "AWS::Lambda::EventInvokeConfig", "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::Events::Rule",
    "AWS::Events::EventBus", "AWS::Events::EventBusPolicy", "AWS::Scheduler::Schedule", "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard", "AWS::SNS::Subscription", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy",
    "AWS::S3::BucketPolicy", "Custom::AWS", "AWS::CDK::Metadata",
    "AWS::CloudWatch::MetricStream",  # forwards CloudWatch's metrics to the delivery stream, keeps none
}  # fmt: skip


def test_every_resource_that_stores_data_is_encrypted_at_rest(synthesized, figures):
    checked: dict[str, int] = {}  # property -> resources judged by it
    by_default: dict[str, int] = {}
    problems = []
    for stack, template in synthesized.templates.items():
        for logical, resource in template["Resources"].items():
            kind, props = resource["Type"], resource.get("Properties", {})
            if kind in STATELESS_TYPES:
                continue
            if kind in SERVICE_ENCRYPTED and not props.get(SERVICE_ENCRYPTED[kind]):  # "" is the AWS-owned key
                by_default[kind] = by_default.get(kind, 0) + 1
                continue
            if kind in SERVICE_ENCRYPTED:
                what, check = (
                    f"a KMS key ({SERVICE_ENCRYPTED[kind]})",
                    lambda p, key=SERVICE_ENCRYPTED[kind]: bool(p[key]),
                )
            elif kind in ENCRYPTED:
                what, check = ENCRYPTED[kind]
            else:
                problems.append(f"{stack}/{logical}: {kind} is not known to this test: say how it is encrypted")
                continue
            name = f"{kind}: {what}"
            checked[name] = checked.get(name, 0) + 1
            if not check(props):
                problems.append(f"{stack}/{logical}: {kind} is not encrypted at rest ({what} missing)")
    figures.add(
        "security",
        "encryption at rest: each resource type that stores data, judged by its template (one per type)",
        checks=len(checked),
        properties=sorted(checked),
        evaluated=sum(checked.values()),
        unit="resources",
        violations=len(problems),
        service_default=[f"{count} {kind}" for kind, count in sorted(by_default.items())],
    )
    assert len(checked) >= 4 and not problems, problems


def test_every_log_group_expires_its_logs(synthesized, figures):
    groups = [
        (stack, logical, resource.get("Properties", {}))
        for stack, template in synthesized.templates.items()
        for logical, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Logs::LogGroup"
    ]
    endless = [f"{stack}/{logical}" for stack, logical, props in groups if "RetentionInDays" not in props]
    figures.add(
        "security",
        "every log group has a retention (RetentionInDays)",
        checks=1,
        evaluated=len(groups),
        unit="log groups",
        violations=len(endless),
    )
    assert groups and not endless, endless
