"""IAM statements without wildcard actions, and cdk-nag acknowledgments that sit on the resource.

:class:`RolePolicy` refuses any action containing ``*`` at synth, and requires a reason for every
resource containing ``*`` (``Describe*`` calls and X-Ray have no resource-level permissions; object
prefixes end in ``/*``). It acknowledges exactly those cdk-nag ``AwsSolutions-IAM5`` findings on the
role, with the reason; any wildcard added elsewhere stays an unacknowledged finding and fails synth.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``construct`` (and its children) with a reason."""
    if len(reason) < 10:
        raise ValueError(f"{rule_id}: the reason for acknowledging a finding must say why")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def flatten_reference(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag prints it in a finding (``<Logical.Arn>/x/*``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return delimiter.join(flatten_reference(item) for item in items)
        if "Fn::Sub" in value:
            return flatten_reference(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{flatten_reference(resource)}.{flatten_reference(attribute)}>"
        if "Fn::ImportValue" in value:
            return flatten_reference(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{flatten_reference(value['Ref'])}>"
    raise ValueError(f"cannot flatten {value!r} the way cdk-nag does")


class RolePolicy:
    """Collects the statements of one role; :meth:`attach` writes them and the acknowledgments."""

    def __init__(self, role: iam.Role) -> None:
        self._role = role
        self._statements: list[iam.PolicyStatement] = []
        self._wildcard_reasons: dict[str, list[str]] = {}

    def allow(
        self,
        actions: Iterable[str],
        resources: Sequence[str],
        *,
        reason: str | None = None,
        conditions: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        action_list = list(dict.fromkeys(actions))
        wildcard_actions = [a for a in action_list if "*" in a]
        if wildcard_actions:
            raise ValueError(f"actions: wildcard actions are not allowed ({wildcard_actions})")
        if not action_list or not resources:
            raise ValueError("actions/resources: a statement needs at least one of each")
        stack = Stack.of(self._role)
        for resource in resources:
            flat = flatten_reference(stack.resolve(resource))
            if "*" in flat:
                if not reason:
                    raise ValueError(f"resources: {flat!r} contains a wildcard; give the reason it is needed")
                self._wildcard_reasons.setdefault(flat, []).append(reason)
        self._statements.append(
            iam.PolicyStatement(
                actions=action_list,
                resources=list(resources),
                conditions=dict(conditions) if conditions else None,
            )
        )

    def expect_wildcard(self, flat_resource: str, reason: str) -> None:
        """Acknowledge a wildcard resource that CDK itself adds to this role (e.g. X-Ray for tracing)."""
        self._wildcard_reasons.setdefault(flat_resource, []).append(reason)

    def attach(self, policy_id: str = "Access") -> iam.Policy | None:
        if not self._statements:
            return None
        policy = iam.Policy(self._role, policy_id, statements=self._statements)
        policy.attach_to_role(self._role)
        for flat, reasons in self._wildcard_reasons.items():
            acknowledge(self._role, f"AwsSolutions-IAM5[Resource::{flat}]", "; ".join(dict.fromkeys(reasons)))
        return policy
