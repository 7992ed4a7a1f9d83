"""Synthesize the CDK app once per session (synth takes ~15 s) and hand its templates to the tests.

The test app has four targets that exercise every branch: an ASG switched to ``floor`` through
``forescale:modes``, an ECS service in ``direct`` mode with a learned capacity per instance, an
ASG with a metric-math load and an id containing ``/`` and ``:`` that stays ``forecast_only``, and an
ECS service in ``floor`` mode with a 5-minute metric (a second metric period: the trainer splits its
round into one batch per period). The
layers come from tiny stand-ins in a temporary directory (``forescale:layersDir``, for tests only), so synth
builds no layer; the code asset is bundled as in a deploy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

STATEFUL = "TestForescaleStateful"
STATELESS = "TestForescaleStateless"
LAYER_NAMES = ("common", "arrow", "statsforecast", "lightgbm", "fastparquet")
TRUSTED_ACCOUNT = "111122223333"

TARGETS: list[dict[str, Any]] = [
    {
        "target_id": "web-asg",
        "kind": "asg",
        "asg_name": "web-asg-prod",
        "metric": {
            "namespace": "AWS/ApplicationELB",
            "name": "RequestCount",
            "dimensions": {"LoadBalancer": "app/web/0123456789abcdef"},
        },
        "capacity_per_instance": 1200,
        "min_capacity": 2,
        "max_capacity": 20,
        "slo_utilization": 0.85,
    },
    {
        "target_id": "api-ecs",
        "kind": "ecs",
        "ecs_cluster": "prod",
        "ecs_service": "api",
        "metric": {"namespace": "AWS/ApplicationELB", "name": "RequestCount", "dimensions": {"TargetGroup": "tg/api"}},
        "capacity_per_instance": "learn",
        "max_capacity": 50,
        "mode": "direct",
    },
    {
        "target_id": "batch/asg:1",
        "kind": "asg",
        "asg_name": "batch-workers",
        "metric": {"expression": "SUM(SEARCH('{AWS/SQS,QueueName} NumberOfMessagesSent', 'Sum', 60))"},
        "capacity_per_instance": 30,
        "max_capacity": 10,
    },
    {
        "target_id": "worker-ecs",
        "kind": "ecs",
        "ecs_cluster": "prod",
        "ecs_service": "worker",
        "metric": {
            "namespace": "AWS/SQS",
            "name": "NumberOfMessagesSent",
            "dimensions": {"QueueName": "jobs"},
            "period_seconds": 300,
        },
        "capacity_per_instance": 40,
        "max_capacity": 30,
        "decision_interval_seconds": 300,
        "mode": "floor",
    },
]
CONTEXT: dict[str, Any] = {
    "forescale:targets": TARGETS,
    "forescale:modes": {"web-asg": "floor"},
    "forescale:cadence": {"collect_every_minutes": 1, "train_at_hour_utc": 2, "stale_after_minutes": 12},
    "forescale:businessEventAccounts": [TRUSTED_ACCOUNT],
    "forescale:alarmEmail": "oncall@example.com",
    "forescale:stackPrefix": "TestForescale",
}


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    templates: dict[str, dict[str, Any]]
    template_paths: dict[str, Path]

    def resources(self, stack: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical: resource
            for logical, resource in self.templates[stack]["Resources"].items()
            if resource["Type"] == resource_type
        }


def _synthesize(app: Any) -> Synthesized:
    assembly = app.synth()
    return Synthesized(
        outdir=Path(assembly.directory),
        templates={stack.stack_name: stack.template for stack in assembly.stacks},
        template_paths={stack.stack_name: Path(stack.template_full_path) for stack in assembly.stacks},
    )


@pytest.fixture(scope="session")
def layers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("built-layers")
    for name in LAYER_NAMES:
        package = root / name / "python"
        package.mkdir(parents=True)
        (package / f"built_{name}.txt").write_text(f"stand-in for the built {name} layer\n")
    return root


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory, layers_dir: Path) -> Synthesized:
    """The whole app (both stacks), synthesized with the cdk-nag plugin: a finding would raise here."""
    from infra_cdk.app import build_app

    app = build_app({**CONTEXT, "forescale:layersDir": str(layers_dir)}, outdir=str(tmp_path_factory.mktemp("cdk.out")))
    return _synthesize(app)


@pytest.fixture(scope="session")
def example(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    from infra_cdk.examples.embed_app import build_app

    # its layers are built when deployed; here CDK skips bundling (the layer tests build them)
    context = {"aws:cdk:bundling-stacks": []}
    return _synthesize(build_app(outdir=str(tmp_path_factory.mktemp("example.out")), context=context))


@pytest.fixture(scope="session")
def stateless(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.templates[STATELESS]


@pytest.fixture(scope="session")
def stateful(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.templates[STATEFUL]


def handler_of(resource: dict[str, Any]) -> str:
    """A function's handler string (every forescale function is a zip function)."""
    return str(resource["Properties"].get("Handler", ""))


def function_ids(template: dict[str, Any]) -> dict[str, str]:
    """``function name -> logical id`` of the forescale functions (by their handler string)."""
    out = {}
    for logical, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function":
            handler = handler_of(resource)
            if handler.startswith("functions.handlers."):
                out[handler.split(".")[2]] = logical
    return out


def role_statements(template: dict[str, Any], role_logical_id: str) -> list[dict[str, Any]]:
    """Every statement of every policy attached to a role (inline or ``AWS::IAM::Policy``)."""
    statements: list[dict[str, Any]] = []
    role = template["Resources"][role_logical_id]
    for policy in role["Properties"].get("Policies", []):
        statements += policy["PolicyDocument"]["Statement"]
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_logical_id} in resource["Properties"]["Roles"]:
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def render(value: Any) -> str:
    """A CloudFormation string (often a ``Fn::Join`` of JSON text and tokens) with every intrinsic
    replaced by ``TOKEN``, so JSON built at synth can be parsed back."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return delimiter.join(render(part) for part in parts)
    return "TOKEN"


@pytest.fixture(scope="session")
def all_templates(synthesized: Synthesized, example: Synthesized) -> list[tuple[str, dict[str, Any]]]:
    """Every synthesized template: the app's two stacks and the example's stack."""
    return [*synthesized.templates.items(), *example.templates.items()]
