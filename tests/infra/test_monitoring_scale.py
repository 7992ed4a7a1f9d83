"""Alarms, dashboard widgets and rules do not grow with the fleet: 10 and 1,000 targets synthesize the same ones.

Per-target observability lives in the records forescale already stores (rendered by the dashboard's custom
widget) and per-target alerts are bus events naming the target, so the monitoring resources are fixed per
deployment; every event pattern stays under EventBridge's 2,048-character quota.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App

from functions.domain.target import ScalingTarget, parse_targets
from infra_cdk.stacks import ForescaleStatefulStack, ForescaleStatelessStack
from tests.infra.conftest import render

#: EventBridge's default quota on the size of an event pattern
PATTERN_LIMIT = 2048


def fleet(count: int) -> list[ScalingTarget]:
    """``count`` targets of both kinds, a third of them learning their capacity per instance."""
    raw: list[dict[str, Any]] = []
    for index in range(count):
        target: dict[str, Any] = {
            "target_id": f"service-{index:05d}-{'asg' if index % 2 else 'ecs'}",
            "metric": {
                "namespace": "AWS/ApplicationELB",
                "name": "RequestCount",
                "dimensions": {"LoadBalancer": f"app/lb-{index}/0123456789abcdef"},
            },
            "capacity_per_instance": "learn" if index % 3 == 0 else 100 + index,
            "max_capacity": 40,
        }
        if index % 2:
            target |= {"kind": "asg", "asg_name": f"group-{index}"}
        else:
            target |= {"kind": "ecs", "ecs_cluster": "prod", "ecs_service": f"svc-{index}"}
        raw.append(target)
    return parse_targets(raw)


def synth(count: int) -> dict[str, Any]:
    app = App()
    stateful = ForescaleStatefulStack(app, "ScaleStateful")
    stack = ForescaleStatelessStack(app, "ScaleStateless", stateful=stateful, targets=fleet(count))
    return dict(app.synth().get_stack_by_name(stack.stack_name).template)


@pytest.fixture(scope="module")
def templates() -> dict[int, dict[str, Any]]:
    return {count: synth(count) for count in (10, 1000)}


def _of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == resource_type}


def _widgets(template: dict[str, Any]) -> list[dict[str, Any]]:
    (dashboard,) = _of_type(template, "AWS::CloudWatch::Dashboard").values()
    widgets: list[dict[str, Any]] = json.loads(render(dashboard["Properties"]["DashboardBody"]))["widgets"]
    return widgets


def test_alarms_and_rules_are_the_same_resources_for_10_and_1000_targets(templates):
    # GIVEN the stateless stack synthesized for 10 and for 1,000 targets
    small, large = templates[10], templates[1000]
    # THEN the alarms and the rules are the same resources, by logical id
    for resource_type in ("AWS::CloudWatch::Alarm", "AWS::Events::Rule"):
        assert sorted(_of_type(small, resource_type)) == sorted(_of_type(large, resource_type)), resource_type


def test_the_dashboard_has_the_same_widgets_for_10_and_1000_targets(templates):
    # GIVEN the dashboards of both fleets WHEN their widgets are listed THEN they are the same, type and title
    def shape(template: dict[str, Any]) -> list[tuple[str, str]]:
        return [(w["type"], json.dumps(w["properties"].get("title", ""))) for w in _widgets(template)]

    assert shape(templates[10]) == shape(templates[1000])
    assert len(_widgets(templates[1000])) < 30


def test_every_event_pattern_stays_under_the_eventbridge_quota(templates):
    # GIVEN 1,000 targets WHEN every rule's pattern is serialised THEN each is under 2,048 characters
    for logical, rule in _of_type(templates[1000], "AWS::Events::Rule").items():
        pattern = rule["Properties"].get("EventPattern")
        if pattern is not None:
            assert len(json.dumps(pattern, separators=(",", ":"))) < PATTERN_LIMIT, logical


def test_no_custom_metric_of_the_dashboard_or_alarms_names_a_target(templates):
    # GIVEN the 1,000-target stack THEN no alarm and no dashboard metric carries a TargetId dimension
    body = json.dumps(_widgets(templates[1000]))
    assert "TargetId" not in body
    for alarm in _of_type(templates[1000], "AWS::CloudWatch::Alarm").values():
        assert "TargetId" not in json.dumps(alarm["Properties"])
