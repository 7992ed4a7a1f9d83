"""A small model of IAM, enough to ask "would this role allow this call?" of a synthesized template.

Three parts:

- :func:`iam_requests` turns one botocore call (service, operation, parameters) into the requests IAM
  authorizes for it: the action (``lambda:Invoke`` is ``lambda:InvokeFunction``, ``s3:ListObjectsV2`` is
  ``s3:ListBucket``...), the resource ARN and the condition keys the call carries (``events:source``,
  ``s3:prefix``, ``cloudwatch:namespace``, resource tags...). A call it has no model for raises
  :class:`UnmodelledCallError`: a new kind of call must be described here before it can be checked.
- :class:`Deployment` resolves CloudFormation values (``Ref``, ``Fn::GetAtt``, ``Fn::ImportValue``,
  ``Fn::Join``) to the names and ARNs of one concrete deployment (here: the tables, bucket and bus of a
  test run on moto's server).
- :func:`evaluate` applies identity statements and resource-policy denials to a request the way IAM
  does for one account: allowed when an ``Allow`` statement matches and no ``Deny`` does. Conditions
  support the operators forescale's templates use; any other operator raises rather than guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"

#: IAM service prefix where it differs from botocore's service name.
IAM_PREFIX = {"resourcegroupstaggingapi": "tag"}
#: IAM action where it differs from the API operation's name.
IAM_ACTION = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("lambda", "Invoke"): "lambda:InvokeFunction",
}
#: Condition keys every request carries (HTTPS, and a principal of this account).
COMMON_CONTEXT = {"aws:SecureTransport": "true", "aws:PrincipalAccount": ACCOUNT}


class UnmodelledCallError(LookupError):
    """A botocore call this module cannot turn into IAM requests yet."""


@dataclass(frozen=True)
class IamRequest:
    """One authorization IAM makes for a call: the action on one resource, with the call's condition keys."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)
    #: botocore's name of the call, for messages (``s3.PutObject``)
    call: str = ""

    def key(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        return self.action, self.resource, tuple(sorted(self.context.items()))

    def describe(self) -> str:
        keys = ", ".join(f"{k}={v}" for k, v in sorted(self.context.items()) if k not in COMMON_CONTEXT)
        return f"{self.action} on {self.resource}" + (f" [{keys}]" if keys else "")


@dataclass(frozen=True)
class ResourceFacts:
    """What IAM knows about a resource that the call's parameters do not say: its ARN and tags."""

    arn: str
    tags: Mapping[str, str] = field(default_factory=dict)


#: ``lookup(kind, identifier)`` -> facts; kinds: ``asg`` (group name), ``ecs-service``
#: (``cluster/service``), ``scalable-target`` (``service/cluster/service``; None when not registered).
FactLookup = Callable[[str, str], ResourceFacts | None]


def arn(service: str, resource: str, *, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


def _tag_context(prefixes: Sequence[str], tags: Mapping[str, str]) -> dict[str, str]:
    return {f"{prefix}:ResourceTag/{key}": value for prefix in prefixes for key, value in tags.items()}


def iam_requests(service: str, operation: str, params: Mapping[str, Any], lookup: FactLookup) -> list[IamRequest]:
    """The IAM requests of one call (module docstring); raises :class:`UnmodelledCallError`."""
    call = f"{service}.{operation}"
    action = IAM_ACTION.get((service, operation), f"{IAM_PREFIX.get(service, service)}:{operation}")

    def one(resource: str, **context: str) -> list[IamRequest]:
        return [IamRequest(action, resource, {**COMMON_CONTEXT, **context}, call)]

    if service == "s3" and operation in ("GetObject", "HeadObject", "PutObject"):
        context = {}
        if operation == "PutObject" and params.get("IfNoneMatch") is not None:
            context["s3:if-none-match"] = str(params["IfNoneMatch"])
        if operation == "PutObject" and params.get("IfMatch") is not None:
            context["s3:if-match"] = str(params["IfMatch"])
        return one(f"arn:{PARTITION}:s3:::{params['Bucket']}/{params['Key']}", **context)
    if service == "s3" and operation in ("ListObjectsV2", "ListObjects"):
        return one(f"arn:{PARTITION}:s3:::{params['Bucket']}", **{"s3:prefix": str(params.get("Prefix", ""))})
    if service == "dynamodb" and operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan"):
        resource = f"table/{params['TableName']}"
        if params.get("IndexName"):
            resource += f"/index/{params['IndexName']}"
        return one(arn("dynamodb", resource))
    if service == "events" and operation == "PutEvents":
        # EventBridge authorizes each entry on its own, with that entry's source and detail-type.
        out = []
        for entry in params["Entries"]:
            bus = str(entry.get("EventBusName") or "default")
            bus_arn = bus if bus.startswith("arn:") else arn("events", f"event-bus/{bus}")
            context = {"events:source": str(entry["Source"]), "events:detail-type": str(entry["DetailType"])}
            out += one(bus_arn, **context)
        return out
    if service == "cloudwatch" and operation == "GetMetricData":
        return one("*")
    if service == "cloudwatch" and operation == "PutMetricData":
        return one("*", **{"cloudwatch:namespace": str(params["Namespace"])})
    if service == "resourcegroupstaggingapi" and operation == "GetResources":
        return one("*")
    if service == "autoscaling" and operation == "DescribeAutoScalingGroups":
        return one("*")
    if service == "autoscaling" and operation in ("SetDesiredCapacity", "UpdateAutoScalingGroup"):
        facts = lookup("asg", str(params["AutoScalingGroupName"]))
        if facts is None:
            raise UnmodelledCallError(f"{call}: group {params['AutoScalingGroupName']!r} is unknown")
        return one(facts.arn, **_tag_context(("autoscaling", "aws"), facts.tags))
    if service == "ecs" and operation == "DescribeServices":
        cluster = str(params.get("cluster") or "default")
        return [
            request
            for name in params["services"]
            for request in one(arn("ecs", f"service/{cluster}/{name.rsplit('/', 1)[-1]}"))
        ]
    if service == "ecs" and operation == "UpdateService":
        cluster, name = str(params.get("cluster") or "default"), str(params["service"])
        facts = lookup("ecs-service", f"{cluster}/{name}")
        tags = facts.tags if facts is not None else {}
        return one(arn("ecs", f"service/{cluster}/{name}"), **_tag_context(("aws", "ecs"), tags))
    if service == "application-autoscaling" and operation == "DescribeScalableTargets":
        return one("*")
    if service == "application-autoscaling" and operation == "RegisterScalableTarget":
        facts = lookup("scalable-target", str(params["ResourceId"]))
        # A new registration creates a scalable target: it has no tags yet, and an ARN nobody knows.
        resource = facts.arn if facts is not None else arn("application-autoscaling", "scalable-target/new")
        context = {
            "application-autoscaling:service-namespace": str(params["ServiceNamespace"]),
            "application-autoscaling:scalable-dimension": str(params["ScalableDimension"]),
            **_tag_context(("aws",), facts.tags if facts is not None else {}),
        }
        return one(resource, **context)
    if service == "lambda" and operation == "Invoke":
        name = str(params["FunctionName"])
        return one(name if name.startswith("arn:") else arn("lambda", f"function:{name}"))
    raise UnmodelledCallError(f"{call}: no IAM model; describe it in tests/infra/iam_support.py")


# --------------------------------------------------------------------------------------------- resolving


@dataclass
class Deployment:
    """CloudFormation values of two stacks resolved to one concrete deployment's names and ARNs.

    ``names`` maps logical ids (of either template) to physical names; ARNs follow from each resource's
    type. ``Fn::ImportValue`` is looked up in the exporting template's outputs.
    """

    templates: Sequence[Mapping[str, Any]]
    names: dict[str, str] = field(default_factory=dict)

    def _exports(self) -> dict[str, tuple[Mapping[str, Any], Any]]:
        out = {}
        for template in self.templates:
            for output in template.get("Outputs", {}).values():
                if "Export" in output:
                    out[output["Export"]["Name"]] = (template, output["Value"])
        return out

    def _type(self, logical: str) -> str:
        for template in self.templates:
            if logical in template.get("Resources", {}):
                return str(template["Resources"][logical]["Type"])
        raise KeyError(f"{logical}: not a resource of the templates")

    def import_target(self, export: str) -> str:
        """The logical id an export's value refers to (``Ref`` or ``Fn::GetAtt``)."""
        _, value = self._exports()[export]
        if "Ref" in value:
            return str(value["Ref"])
        return str(value["Fn::GetAtt"][0])

    def arn_of(self, logical: str) -> str:
        name = self.names.get(logical)
        if name is None:
            return f"unresolved:{logical}"
        kind = self._type(logical)
        if kind == "AWS::DynamoDB::Table":
            return arn("dynamodb", f"table/{name}")
        if kind == "AWS::S3::Bucket":
            return f"arn:{PARTITION}:s3:::{name}"
        if kind == "AWS::Events::EventBus":
            return arn("events", f"event-bus/{name}")
        if kind == "AWS::Lambda::Function":
            return arn("lambda", f"function:{name}")
        raise KeyError(f"{logical}: no ARN format for {kind}")

    def resolve(self, value: Any) -> Any:
        """A string (or list of strings) for a CloudFormation value; unknown intrinsics raise."""
        if isinstance(value, str | int | float | bool):
            return str(value).lower() if isinstance(value, bool) else str(value)
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if isinstance(value, dict) and len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref":
                pseudo = {"AWS::Partition": PARTITION, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
                if argument in pseudo:
                    return pseudo[argument]
                return self.names.get(argument, f"unresolved:{argument}")
            if function == "Fn::GetAtt":
                logical, attribute = argument
                if attribute != "Arn":
                    raise KeyError(f"Fn::GetAtt {logical}.{attribute}: only Arn is modelled")
                return self.arn_of(logical)
            if function == "Fn::ImportValue":
                _, exported = self._exports()[argument]
                return self.resolve(exported)
            if function == "Fn::Join":
                delimiter, parts = argument
                return delimiter.join(self.resolve(part) for part in parts)
        raise KeyError(f"cannot resolve {value!r}")


# --------------------------------------------------------------------------------------------- evaluating


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]]
    #: where it comes from, for messages
    origin: str = ""

    @classmethod
    def from_template(cls, statement: Mapping[str, Any], deployment: Deployment, origin: str = "") -> Statement:
        def strings(value: Any) -> tuple[str, ...]:
            resolved = deployment.resolve(value)
            return tuple(resolved) if isinstance(resolved, list) else (resolved,)

        if "NotAction" in statement or "NotResource" in statement:
            raise KeyError(f"{origin}: NotAction/NotResource are not modelled")
        conditions = {
            operator: {key: strings(values) for key, values in keys.items()}
            for operator, keys in statement.get("Condition", {}).items()
        }
        return cls(
            effect=str(statement["Effect"]),
            actions=strings(statement["Action"]),
            resources=strings(statement["Resource"]),
            conditions=conditions,
            origin=origin,
        )

    def matches(self, request: IamRequest) -> bool:
        return (
            any(_like(pattern, request.action, case=False) for pattern in self.actions)
            and any(_like(pattern, request.resource) for pattern in self.resources)
            and conditions_hold(self.conditions, request.context)
        )


@lru_cache(maxsize=4096)
def _pattern(pattern: str, case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", 0 if case else re.IGNORECASE)


def _like(pattern: str, value: str, *, case: bool = True) -> bool:
    """IAM wildcard matching: ``*`` any run of characters (``/`` and ``:`` included), ``?`` one."""
    return bool(_pattern(pattern, case).match(value))


def _condition(operator: str, wanted: tuple[str, ...], present: str | None) -> bool:
    base, if_exists = (operator[: -len("IfExists")], True) if operator.endswith("IfExists") else (operator, False)
    if present is None and base != "Null":
        # A missing key: negated operators hold, positive ones fail, unless ...IfExists (then it holds).
        return if_exists or base.startswith(("StringNot", "ArnNot"))
    if base == "Null":
        return (present is None) == (wanted[0] == "true")
    if base == "StringEquals":
        return present in wanted
    if base == "StringNotEquals":
        return present not in wanted
    if base in ("StringLike", "ArnLike", "ArnEquals"):
        return any(_like(w, present or "") for w in wanted)
    if base in ("StringNotLike", "ArnNotLike"):
        return not any(_like(w, present or "") for w in wanted)
    if base == "Bool":
        return present in wanted
    raise KeyError(f"condition operator {operator}: not modelled")


def conditions_hold(conditions: Mapping[str, Mapping[str, Iterable[str]]], context: Mapping[str, str]) -> bool:
    """Every operator and every key must hold; any listed value may match (IAM's AND of keys, OR of values)."""
    lowered = {k.lower(): v for k, v in context.items()}
    return all(
        _condition(operator, tuple(values), lowered.get(key.lower()))
        for operator, keys in conditions.items()
        for key, values in keys.items()
    )


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str


def evaluate(request: IamRequest, identity: Sequence[Statement], resource_policies: Sequence[Statement]) -> Verdict:
    """One account's evaluation: an explicit ``Deny`` anywhere wins; else an identity ``Allow`` is needed.

    (Resource policies only contribute their denials here: forescale's functions get nothing from a
    resource policy's ``Allow``.)
    """
    for statement in (*identity, *resource_policies):
        if statement.effect == "Deny" and statement.matches(request):
            return Verdict(False, f"denied by {statement.origin}")
    for statement in identity:
        if statement.effect == "Allow" and statement.matches(request):
            return Verdict(True, f"allowed by {statement.origin}")
    return Verdict(False, "no statement of the role allows it")
