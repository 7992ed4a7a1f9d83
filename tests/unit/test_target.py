"""ScalingTarget: strict, bounded, and every rejection names the field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from events import ContractError, field_errors
from events.contracts import MAX_LOAD
from functions.domain.target import MAX_CAPACITY_LIMIT, MAX_CAPACITY_PER_INSTANCE, ScalingTarget, parse_targets


def asg_target(**overrides):
    base = {
        "target_id": "web",
        "kind": "asg",
        "asg_name": "web-asg",
        "metric": {
            "namespace": "AWS/ApplicationELB",
            "name": "RequestCount",
            "dimensions": {"LoadBalancer": "app/w/1"},
        },
        "capacity_per_instance": 1000.0,
        "min_capacity": 2,
        "max_capacity": 40,
    }
    return base | overrides


def test_defaults_are_safe():
    target = ScalingTarget.model_validate(asg_target())
    assert target.mode == "forecast_only"
    assert target.resource_id == "web-asg"
    assert (target.target_utilization, target.slo_utilization, target.boot_seconds) == (0.6, 0.9, 300)


def test_ecs_target_resource_id():
    target = ScalingTarget.model_validate(
        asg_target(kind="ecs", asg_name=None, ecs_cluster="prod", ecs_service="api", capacity_per_instance="learn")
    )
    assert target.resource_id == "service/prod/api"
    assert target.capacity_per_instance == "learn"


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"min_capacity": 50}, "min_capacity", "exceeds max_capacity"),
        ({"target_utilization": 0.95}, "target_utilization", "below slo_utilization"),
        ({"slo_utilization": 1.5}, "slo_utilization", "less than or equal to 1"),
        ({"asg_name": None}, "asg_name", "required when kind is 'asg'"),
        ({"kind": "ecs"}, "ecs_service", "required when kind is 'ecs'"),
        ({"kind": "lambda"}, "kind", "'asg' or 'ecs'"),
        ({"capacity_per_instance": -3}, "capacity_per_instance", "at least 1e-06 or 'learn'"),
        ({"capacity_per_instance": "guess"}, "capacity_per_instance", ""),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown IANA time zone"),
        ({"mode": "yolo"}, "mode", "forecast_only"),
        ({"max_capacity": 100_000}, "max_capacity", "less than or equal to 10000"),
        ({"metric": {"namespace": "X"}}, "metric.namespace", "give namespace and name, or an expression"),
        ({"metric": {"expression": "m1*2", "name": "x"}}, "metric.expression", "not both"),
        ({"metric": {"namespace": "X", "name": "Y", "statistic": "Median"}}, "metric.statistic", "percentile"),
        ({"metric": {"namespace": "X", "name": "Y", "period_seconds": 90}}, "metric.period_seconds", "multiple of 60"),
        ({"decision_interval_seconds": 90}, "decision_interval_seconds", "multiple of metric.period_seconds"),
        ({"unexpected": True}, "unexpected", "Extra inputs are not permitted"),
        ({"target_id": "has space"}, "target_id", "pattern"),
        (
            {"utilization_metric": {"namespace": "CWAgent", "name": "mem_used_percent"}},
            "utilization_metric",
            "only used when capacity_per_instance is 'learn'",
        ),
        (
            {
                "capacity_per_instance": "learn",
                "utilization_metric": {"namespace": "CWAgent", "name": "mem_used_percent", "period_seconds": 300},
            },
            "utilization_metric",
            "period_seconds 300 differs from metric.period_seconds 60",
        ),
    ],
)
def test_bad_target_is_rejected_naming_the_field(overrides, field, reason):
    with pytest.raises(ValidationError) as caught:
        ScalingTarget.model_validate(asg_target(**overrides))
    errors = field_errors(caught.value)
    assert any(e["field"].startswith(field) and reason in e["reason"] for e in errors), errors


def test_parse_targets_names_the_index_and_refuses_duplicates():
    with pytest.raises(ContractError, match=r"targets\[1\]: min_capacity: 9 exceeds max_capacity 4"):
        parse_targets([asg_target(), asg_target(target_id="b", min_capacity=9, max_capacity=4)])
    with pytest.raises(ValueError, match="'web' appears twice"):
        parse_targets([asg_target(), asg_target()])
    with pytest.raises(ValueError, match="must be a list"):
        parse_targets({"web": asg_target()})


@given(lo=st.integers(0, 200), hi=st.integers(1, 200), wanted=st.integers(-(10**6), 10**6))
def test_clamp_never_leaves_bounds(lo, hi, wanted):
    if lo > hi:
        lo, hi = hi, lo
    target = ScalingTarget.model_validate(asg_target(min_capacity=lo, max_capacity=max(hi, 1)))
    assert target.min_capacity <= target.clamp(wanted) <= target.max_capacity


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        # strict types: no bool, text or fraction read as a number
        ({"capacity_per_instance": True}, "capacity_per_instance", "valid number"),
        ({"capacity_per_instance": "1200"}, "capacity_per_instance", "valid number"),
        ({"max_capacity": True}, "max_capacity", "valid integer"),
        ({"max_capacity": "40"}, "max_capacity", "valid integer"),
        ({"max_capacity": 40.0}, "max_capacity", "valid integer"),
        ({"min_capacity": False}, "min_capacity", "valid integer"),
        ({"boot_seconds": "300"}, "boot_seconds", "valid integer"),
        ({"target_utilization": "0.6"}, "target_utilization", "valid number"),
        ({"cost": {"instance_hour_price": "0.1"}}, "cost.instance_hour_price", "valid number"),
        ({"metric": {"namespace": "X", "name": "Y", "period_seconds": "60"}}, "metric.period_seconds", "integer"),
        # finite, and within bounds that make sense for a load unit
        ({"capacity_per_instance": 1e-300}, "capacity_per_instance", "at least 1e-06"),
        ({"capacity_per_instance": 1e13}, "capacity_per_instance", "at most 1e+12"),
        ({"capacity_per_instance": float("inf")}, "capacity_per_instance", "finite"),
        ({"capacity_per_instance": float("nan")}, "capacity_per_instance", "finite"),
        ({"cost": {"violation_minute_penalty": float("nan")}}, "cost.violation_minute_penalty", "finite"),
        ({"metric": {"namespace": "X", "name": "Y", "period_seconds": 172_800}}, "metric.period_seconds", "86400"),
        # a time zone that depends on the host
        ({"timezone": "localtime"}, "timezone", "depends on the host"),
        ({"timezone": "posixrules"}, "timezone", "depends on the host"),
        ({"timezone": "right/UTC"}, "timezone", "depends on the host"),
    ],
)
def test_loose_or_absurd_values_are_refused_naming_the_field(overrides, field, reason):
    with pytest.raises(ValidationError) as caught:
        ScalingTarget.model_validate(asg_target(**overrides))
    errors = field_errors(caught.value)
    assert any(e["field"].startswith(field) and reason in e["reason"] for e in errors), errors


@pytest.mark.parametrize(
    "overrides",
    [
        {"capacity_per_instance": 100},
        {"capacity_per_instance": 1e-6},
        {"capacity_per_instance": 1e12},
        {"capacity_per_instance": "learn"},
        {"timezone": "Europe/Paris"},
        {"timezone": "UTC"},
    ],
)
def test_plain_json_values_within_the_bounds_are_accepted(overrides):
    target = ScalingTarget.model_validate(asg_target(**overrides))
    assert target.capacity_per_instance == overrides.get("capacity_per_instance", 1000.0)


def test_the_largest_load_on_the_bus_covers_the_largest_target():
    # MAX_LOAD is what 10,000 instances of the largest capacity_per_instance serve
    assert MAX_LOAD >= MAX_CAPACITY_LIMIT * MAX_CAPACITY_PER_INSTANCE


def test_the_configuration_reference_is_generated_from_the_models():
    # GIVEN docs/configuration.md, written by scripts/configuration_reference.py from functions/domain/target.py
    import subprocess
    import sys
    from pathlib import Path

    from functions.domain.target import CostModel, LoadMetric, SloBudget

    root = Path(__file__).parents[2]
    doc = (root / "docs" / "configuration.md").read_text()
    # THEN it is up to date (the script's --check fails otherwise) and lists every field of every model
    check = subprocess.run(
        [sys.executable, str(root / "scripts" / "configuration_reference.py"), "--check"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    for model in (ScalingTarget, LoadMetric, CostModel, SloBudget):
        for name, field in model.model_fields.items():
            assert f"| `{name}` |" in doc
            assert field.description, f"{model.__name__}.{name} has no description"
