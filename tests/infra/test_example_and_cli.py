"""The example app that embeds ``Forescale`` synthesizes; the pinned cdk CLI synthesizes offline too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from functions.catalog import FUNCTIONS
from functions.domain.target import parse_targets
from functions.routing import ROUTES
from infra_cdk.access import TARGETS_KEY
from infra_cdk.samples import PUT_EVENTS_SAMPLE
from layers.build import LAYER_ORDER
from tests.infra.conftest import Synthesized, function_ids
from tests.infra.targets_asset import targets_object

REPO = Path(__file__).resolve().parents[2]
CDK_CLI = REPO / "node_modules" / ".bin" / "cdk"


def test_example_embeds_the_whole_pipeline_in_one_stack(example: Synthesized):
    # GIVEN the example app (its own stack, forescale inside) WHEN synthesized (nag on) THEN
    (template,) = example.templates.values()
    assert set(function_ids(template)) == {spec.name for spec in FUNCTIONS}
    types = [r["Type"] for r in template["Resources"].values()]
    assert types.count("AWS::DynamoDB::Table") == 5
    assert types.count("AWS::Events::EventBus") == 1
    assert types.count("AWS::Events::Rule") == len(ROUTES) + 2  # + the SloBreached and ForecastDegraded rules
    assert "Fn::ImportValue" not in json.dumps(template)  # storage lives in the same stack


def test_example_alarms_go_to_the_teams_own_topic_and_modes_apply(example: Synthesized):
    (template,) = example.templates.values()
    topics = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::SNS::Topic"]
    assert len(topics) == 1 and topics[0].startswith("OnCall")
    notified = [
        r["Properties"]["AlarmActions"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and "AlarmActions" in r["Properties"]
    ]
    assert notified and all(actions == [{"Ref": topics[0]}] for actions in notified)
    (stack,) = example.templates
    key, body = targets_object(example, stack)
    assert key == TARGETS_KEY
    modes = {t.target_id: t.mode for t in parse_targets(body)}
    assert modes == {"shop-web": "floor", "shop-checkout": "forecast_only"}


def _offline_env() -> dict[str, str]:
    """No AWS credentials, profile or metadata service: synth must not need any."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        CDK_DISABLE_VERSION_CHECK="1",
        JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1",
    )
    return env


def test_pinned_cdk_cli_synthesizes_both_stacks_offline_without_credentials(tmp_path):
    if not CDK_CLI.exists() or shutil.which("node") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("node_modules/.bin/cdk is missing: CI must install the pinned aws-cdk (npm ci)")
        pytest.skip("the pinned aws-cdk CLI is not installed (npm ci)")
    # GIVEN stand-ins for the layers (a deploy builds them: tests/layers, test_asset_hashes.py)
    stand_ins = tmp_path / "layers"
    for layer in LAYER_ORDER:
        (stand_ins / layer / "python").mkdir(parents=True)
        (stand_ins / layer / "python" / f"{layer}.txt").write_text("stand-in\n")
    layers_context = ["-c", f"forescale:layersDir={stand_ins}"]
    # WHEN `cdk synth` runs with cdk.json (its app command and sample targets) and no credentials
    result = subprocess.run(
        [str(CDK_CLI), "synth", "--no-notices", "-q", "-o", str(tmp_path / "out"), *layers_context],
        check=False,
        cwd=REPO,
        env=_offline_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    # THEN both stacks are written
    assert result.returncode == 0, result.stderr[-3000:]
    stateful = json.loads((tmp_path / "out" / "ForescaleStateful.template.json").read_text())
    stateless = json.loads((tmp_path / "out" / "ForescaleStateless.template.json").read_text())
    assert set(function_ids(stateless)) == {spec.name for spec in FUNCTIONS}
    # AND the ready business-event file addresses the bus this deployment creates
    (bus,) = [r for r in stateful["Resources"].values() if r["Type"] == "AWS::Events::EventBus"]
    (entry,) = json.loads(PUT_EVENTS_SAMPLE.read_text())
    assert entry["EventBusName"] == bus["Properties"]["Name"]
