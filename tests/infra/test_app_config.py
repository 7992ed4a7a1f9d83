"""Context parsing: a bad target or setting fails synth with one line naming the key or field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from events.errors import ContractError
from infra_cdk.app import read_config
from tests.infra.conftest import CONTEXT, TARGETS

REPO = Path(__file__).resolve().parents[2]
GOOD = {"forescale:targets": TARGETS}


def _without(target: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in target.items() if k != field}


def test_valid_context_gives_targets_with_mode_overrides_applied_later():
    config = read_config(CONTEXT)
    assert [t.target_id for t in config.targets] == [t["target_id"] for t in TARGETS]
    assert config.modes == {"web-asg": "floor"}
    assert config.cadence.stale_after_minutes == 12
    assert config.layers_dir is None  # no stand-ins: synth builds the layers
    assert config.business_event_accounts == ("111122223333",)


def test_cdk_json_context_is_valid():
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    config = read_config(context)
    assert config.targets and all(t.mode == "forecast_only" for t in config.targets)
    # AND a user's synth builds every layer (stand-ins are for tests only)
    assert config.layers_dir is None


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        ([_without(TARGETS[0], "max_capacity")], r"targets\[0\]: max_capacity: Field required"),
        ([TARGETS[0], {**TARGETS[1], "mode": "yolo"}], r"targets\[1\]: mode: Input should be"),
        ([{**TARGETS[0], "min_capacity": 30}], r"targets\[0\]: min_capacity: 30 exceeds max_capacity 20"),
        ([{**TARGETS[0], "kind": "ecs"}], r"targets\[0\]: ecs_service: ecs_cluster and ecs_service are required"),
        ([{**TARGETS[0], "colour": "blue"}], r"targets\[0\]: colour: Extra inputs are not permitted"),
    ],
)
def test_a_bad_target_is_refused_naming_index_and_field(targets, expected):
    with pytest.raises(ContractError, match=expected):
        read_config({"forescale:targets": targets})


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"forescale:targetz": []}, r"forescale:targetz: unknown context key"),
        ({**GOOD, "forescale:modes": {"web-asg": "sideways"}}, r"forescale:modes: must map target ids"),
        ({**GOOD, "forescale:cadence": {"collect_every_minute": 1}}, r"forescale:cadence: .*collect_every_minute"),
        ({**GOOD, "forescale:cadence": {"stale_after_minutes": 1}}, r"cadence.stale_after_minutes"),
        ({**GOOD, "forescale:requireLayers": True}, r"forescale:requireLayers: unknown context key"),
        ({**GOOD, "forescale:targets": "[{"}, r"forescale:targets: not valid JSON"),
        ({"forescale:targets": {"web": {}}}, r"targets: must be a list"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_key(context, expected):
    with pytest.raises(ValueError, match=expected):
        read_config(context)


def test_json_strings_from_the_command_line_are_accepted():
    # GIVEN `-c forescale:targets='[...]' -c forescale:tagDiscovery=false` (the CLI passes strings)
    config = read_config({"forescale:targets": json.dumps(TARGETS), "forescale:tagDiscovery": "false"})
    assert len(config.targets) == len(TARGETS) and config.tag_discovery is False


def test_modes_naming_an_unknown_target_fail_construction():
    from infra_cdk.forescale import apply_modes

    targets = read_config(GOOD).targets
    with pytest.raises(ValueError, match=r"modes: \['nope'\] are not configured targets"):
        apply_modes(targets, {"nope": "floor"})
    assert apply_modes(targets, {"batch/asg:1": "direct"})[2].mode == "direct"


def test_run_directly_the_app_uses_cdk_json_context_and_under_the_cli_the_cli_context():
    from infra_cdk.app import direct_run_context

    assert direct_run_context({}) == json.loads((REPO / "cdk.json").read_text())["context"]
    assert direct_run_context({"CDK_CONTEXT_JSON": "{}"}) is None
    assert direct_run_context({"CDK_OUTDIR": "cdk.out"}) is None


def test_python_m_infra_cdk_app_exits_with_one_line_naming_the_field(tmp_path):
    # GIVEN a target without max_capacity, passed the way the cdk CLI passes context (CDK_CONTEXT_JSON)
    context = {"forescale:targets": [_without(TARGETS[0], "max_capacity")]}
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(tmp_path)}
    # WHEN the app runs (the cdk.json app command)
    result = subprocess.run(
        [sys.executable, "-m", "infra_cdk.app"], check=False, cwd=REPO, env=env, capture_output=True, text=True
    )
    # THEN it fails with the field named in one line, and writes no template
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "forescale: invalid targets[0]: max_capacity: Field required"
    assert not list(tmp_path.glob("*.template.json"))


@pytest.mark.parametrize(
    "email", ["oncall", "oncall@", "@example.com", "on call@example.com", "oncall@example", "a@b.com,c@d.com", 42]
)
def test_an_alarm_email_that_is_not_an_address_fails_synth_naming_the_key(email):
    # GIVEN `-c forescale:alarmEmail=<not an address>` WHEN the context is read THEN synth stops naming the key
    with pytest.raises(ValueError, match=r"forescale:alarmEmail: .*not an e-mail address"):
        read_config({**GOOD, "forescale:alarmEmail": email})


def test_an_alarm_email_address_is_kept():
    assert read_config({**GOOD, "forescale:alarmEmail": " oncall+forescale@example.co.uk "}).alarm_email == (
        "oncall+forescale@example.co.uk"
    )
    assert read_config(GOOD).alarm_email is None
