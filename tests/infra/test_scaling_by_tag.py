"""The executor's permission to change capacity follows the consent tag, never the configuration.

Switching a target to ``floor`` or ``direct`` must need a tag on the resource and a configuration change,
not a deploy: so no policy may name a target's group or service, and the synthesized policies, evaluated the
way IAM evaluates them (``iam_support``), allow every capacity call on a resource tagged
``forescale:enabled=true`` and refuse it on any resource without that tag (a configured acting target
included), with tag discovery on (the test app) and off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from functions.ports.capacity import CONSENT_TAG_KEY, CONSENT_TAG_VALUE
from infra_cdk.access import ENABLED_TAG_KEY, ENABLED_TAG_VALUE
from tests.infra.conftest import CONTEXT, STATEFUL, STATELESS, TARGETS, Synthesized, function_ids, role_statements
from tests.infra.iam_support import Deployment, ResourceFacts, Statement, arn, evaluate, iam_requests

CONSENT = {ENABLED_TAG_KEY: ENABLED_TAG_VALUE}
SCALING_ACTIONS = {
    "autoscaling:SetDesiredCapacity",
    "autoscaling:UpdateAutoScalingGroup",
    "ecs:UpdateService",
    "application-autoscaling:RegisterScalableTarget",
}


@pytest.fixture(scope="module")
def without_discovery(tmp_path_factory: pytest.TempPathFactory, layers_dir: Path) -> Synthesized:
    """The test app with ``forescale:tagDiscovery`` off (same targets and modes)."""
    from infra_cdk.app import build_app
    from tests.infra.conftest import _synthesize

    context = {**CONTEXT, "forescale:tagDiscovery": False, "forescale:layersDir": str(layers_dir)}
    return _synthesize(build_app(context, outdir=str(tmp_path_factory.mktemp("no-discovery.out"))))


@pytest.fixture(params=["tag discovery on", "tag discovery off"])
def app(request: pytest.FixtureRequest, synthesized: Synthesized) -> Synthesized:
    if request.param == "tag discovery on":
        return synthesized
    return request.getfixturevalue("without_discovery")


def _executor_statements(synthesized: Synthesized) -> list[Statement]:
    stateful, stateless = synthesized.templates[STATEFUL], synthesized.templates[STATELESS]
    deployment = Deployment([stateful, stateless])
    executor = function_ids(stateless)["executor"]
    role = stateless["Resources"][executor]["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        Statement.from_template(raw, deployment, origin="executor role") for raw in role_statements(stateless, role)
    ]


def _capacity_requests(kind: str, name: str, tags: dict[str, str]) -> list[Any]:
    """Every capacity-changing call the executor makes on one group or service (``functions.adapters.capacity``)."""

    def lookup(what: str, identifier: str) -> ResourceFacts:
        if what == "asg":
            return ResourceFacts(
                arn("autoscaling", f"autoScalingGroup:0f6e2b1c:autoScalingGroupName/{identifier}"), tags
            )
        if what == "ecs-service":
            return ResourceFacts(arn("ecs", f"service/{identifier}"), tags)
        return ResourceFacts(arn("application-autoscaling", "scalable-target/0ec5a1b2c3d4e5f6"), tags)

    if kind == "asg":
        return [
            request
            for operation in ("SetDesiredCapacity", "UpdateAutoScalingGroup")
            for request in iam_requests("autoscaling", operation, {"AutoScalingGroupName": name}, lookup)
        ]
    cluster, service = name.split("/")
    resource_id = f"service/{cluster}/{service}"
    return [
        *iam_requests("ecs", "UpdateService", {"cluster": cluster, "service": service}, lookup),
        *iam_requests(
            "application-autoscaling",
            "RegisterScalableTarget",
            {"ServiceNamespace": "ecs", "ResourceId": resource_id, "ScalableDimension": "ecs:service:DesiredCount"},
            lookup,
        ),
    ]


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("asg", "web-asg-prod"),  # configured, floor
        ("asg", "batch-workers"),  # configured, forecast_only
        ("asg", "added-later-asg"),  # no target yet: an operator may add it without a deploy
        ("ecs", "prod/api"),  # configured, direct
        ("ecs", "prod/worker"),  # configured, floor
        ("ecs", "other/new-service"),
    ],
)
def test_a_tagged_group_or_service_may_be_changed_and_an_untagged_one_never(app, kind, name):
    # GIVEN the executor's policies of the synthesized app
    statements = _executor_statements(app)
    # WHEN every capacity call on the resource is evaluated, with the consent tag and without it
    tagged = [(r.describe(), evaluate(r, statements, []).allowed) for r in _capacity_requests(kind, name, CONSENT)]
    untagged = [(r.describe(), evaluate(r, statements, []).allowed) for r in _capacity_requests(kind, name, {})]
    refused_tag = [
        (r.describe(), evaluate(r, statements, []).allowed)
        for r in _capacity_requests(kind, name, {ENABLED_TAG_KEY: "false"})
    ]
    # THEN the tagged resource gets every call, whether or not it is configured, and without the tag (or with
    # another value) none, even for a target configured in floor or direct mode
    assert tagged and all(allowed for _, allowed in tagged), tagged
    assert not any(allowed for _, allowed in untagged), untagged
    assert not any(allowed for _, allowed in refused_tag), refused_tag


def test_no_policy_names_a_target_and_every_scaling_grant_requires_the_tag(app):
    # GIVEN every statement of every role and policy of the stateless stack
    stateless = app.templates[STATELESS]
    names = {t.get("asg_name") or f"service/{t['ecs_cluster']}/{t['ecs_service']}" for t in TARGETS}
    # THEN no target's group or service appears anywhere in the template's policies ...
    policies = [r for r in stateless["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    assert policies
    for name in names:
        assert all(name not in str(p) for p in policies), name
    # ... and every Allow of a scaling action carries the consent tag as a condition
    scaling = [
        s
        for p in policies
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
        and SCALING_ACTIONS & set(s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert {
        a for s in scaling for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    } == SCALING_ACTIONS
    for statement in scaling:
        condition = statement["Condition"]["StringEquals"]
        assert ENABLED_TAG_VALUE in [v for k, v in condition.items() if k.endswith(f"ResourceTag/{ENABLED_TAG_KEY}")]


def test_iam_and_the_executor_read_the_same_consent_tag():
    # GIVEN the tag IAM conditions on and the tag the executor checks THEN they are one tag
    assert (ENABLED_TAG_KEY, ENABLED_TAG_VALUE) == (CONSENT_TAG_KEY, CONSENT_TAG_VALUE)
