"""Targets are configuration data, not CloudFormation resources: 10, 1,000 and 5,000 targets synthesize to
the same resources, the targets object is an S3 asset copied at deploy (its hash is the only difference), and
the template stays inside CloudFormation's and EventBridge's limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions.domain.target import parse_targets
from infra_cdk.access import TARGETS_KEY
from tests.infra.conftest import CONTEXT, Synthesized, _synthesize
from tests.infra.targets_asset import ASSET_HASH, targets_object

FLEETS = (10, 1_000, 5_000)
#: CloudFormation quotas: resources per stack, and the body of a template deployed from S3.
MAX_RESOURCES = 500
MAX_TEMPLATE_BYTES = 1_000_000
#: EventBridge's event pattern size quota (characters).
MAX_PATTERN_CHARS = 2_048


def fleet(size: int) -> list[dict[str, Any]]:
    """``size`` targets of both kinds and every mode, cheap to make (one dict each)."""
    out = []
    for i in range(size):
        kind = "asg" if i % 2 == 0 else "ecs"
        resource = {"asg_name": f"asg-{i:05d}"} if kind == "asg" else {"ecs_cluster": "c", "ecs_service": f"s-{i:05d}"}
        out.append(
            {
                "target_id": f"t-{i:05d}",
                "kind": kind,
                **resource,
                "metric": {"namespace": "Fleet/Load", "name": "Requests", "dimensions": {"Resource": f"r-{i:05d}"}},
                "capacity_per_instance": 100,
                "max_capacity": 50,
                "mode": ("forecast_only", "floor", "direct")[i % 3],
            }
        )
    return out


@pytest.fixture(scope="module")
def fleets(tmp_path_factory: pytest.TempPathFactory, layers_dir: Path) -> dict[int, Synthesized]:
    from infra_cdk.app import build_app

    out = {}
    for size in FLEETS:
        context = {
            **{k: v for k, v in CONTEXT.items() if k != "forescale:modes"},
            "forescale:targets": fleet(size),
            "forescale:layersDir": str(layers_dir),
        }
        out[size] = _synthesize(build_app(context, outdir=str(tmp_path_factory.mktemp(f"fleet-{size}.out"))))
    return out


def test_every_fleet_size_gives_the_same_resources(fleets):
    # GIVEN the app synthesized with 10, 1,000 and 5,000 targets
    shapes = {
        size: {
            stack: {logical: r["Type"] for logical, r in template["Resources"].items()}
            for stack, template in synthesized.templates.items()
        }
        for size, synthesized in fleets.items()
    }
    # THEN every stack has the same logical ids of the same types whatever the number of targets ...
    assert shapes[1_000] == shapes[10]
    assert shapes[5_000] == shapes[10]
    # ... and the templates are identical once the targets asset's hash is set aside
    texts = {size: ASSET_HASH.sub("HASH", json.dumps(s.templates, sort_keys=True)) for size, s in fleets.items()}
    assert texts[1_000] == texts[10]
    assert texts[5_000] == texts[10]


def test_the_targets_object_is_the_validated_fleet(fleets):
    # GIVEN the 5,000-target app WHEN its targets asset is read back THEN it holds every target, validated
    key, body = targets_object(fleets[5_000])
    targets = parse_targets(body)
    assert key == TARGETS_KEY
    assert [t.target_id for t in targets] == [t["target_id"] for t in fleet(5_000)]
    assert {t.mode for t in targets} == {"forecast_only", "floor", "direct"}


def test_templates_stay_within_cloudformation_and_eventbridge_limits(fleets):
    # GIVEN the largest fleet's templates
    for stack, template in fleets[5_000].templates.items():
        body = json.dumps(template, separators=(",", ":"))
        # THEN each is within the resource count and template size quotas ...
        assert len(template["Resources"]) <= MAX_RESOURCES, (stack, len(template["Resources"]))
        assert len(body.encode()) <= MAX_TEMPLATE_BYTES, (stack, len(body.encode()))
        # ... and every event pattern is under EventBridge's 2,048 characters
        for logical, resource in template["Resources"].items():
            pattern = resource.get("Properties", {}).get("EventPattern")
            if pattern is not None:
                text = json.dumps(_resolved(pattern), separators=(",", ":"))
                assert len(text) < MAX_PATTERN_CHARS, (stack, logical, len(text))


def _resolved(value: Any) -> Any:
    """A pattern with every intrinsic (an ARN or name resolved at deploy) counted as 128 characters."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref")):
            return "x" * 128
        return {k: _resolved(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v) for v in value]
    return value
