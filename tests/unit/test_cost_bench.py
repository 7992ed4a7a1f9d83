"""The cost benchmark's arithmetic (benchmarks/cost.py): DynamoDB item sizes, pricing a run, the fixed part."""

from __future__ import annotations

import pytest

from benchmarks.cost import PRICES, item_size, monthly, per_target_month, split


def run(targets: int, *, puts: float, metrics: float, seconds: float) -> dict:
    """A run of one simulated hour: ``puts`` S3 PUTs and ``metrics`` GetMetricData metrics per target, plus
    60 scheduled invocations whatever the fleet."""
    return {
        "targets": targets,
        "hours": 1.0,
        "counts": {
            "s3_put": puts * targets,
            "getmetricdata_metrics": metrics * targets,
            "scheduler_invocations": 60,
        },
        "trainer_counts": {},
        "custom_metrics": 3,
        "invocations": {"collector": 60},
        "handler_seconds": {"collector": seconds * targets},
    }


def test_item_size_follows_dynamodbs_rules():
    # GIVEN attributes as DynamoDB's AttributeValue form: name bytes + value bytes
    assert item_size({"pk": {"S": "abc"}}) == 2 + 3
    assert item_size({"n": {"N": "12345"}}) == 1 + 1 + 3  # 5 significant digits: 1 + ceil(5 / 2)
    assert item_size({"b": {"B": b"\x00" * 10}, "t": {"BOOL": True}}) == (1 + 10) + (1 + 1)
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)


def test_a_run_is_priced_per_month_and_split_into_fixed_and_per_target():
    # GIVEN the same per-target work measured on 1,000 and on 10 targets
    large = run(1000, puts=2, metrics=60, seconds=0.01)
    small = run(10, puts=2, metrics=60, seconds=0.01)
    # WHEN priced
    fixed, per_target = split(large, small)
    # THEN the per-target line is the month of one target's requests, and the schedule is the fixed part
    assert per_target["s3"] == pytest.approx(2 * 24 * 30 * PRICES["s3_put_or_list"])
    assert per_target["getmetricdata"] == pytest.approx(60 * 24 * 30 * PRICES["getmetricdata_metric"])
    assert per_target["scheduler"] == pytest.approx(0.0)
    assert fixed["scheduler"] == pytest.approx(60 * 24 * 30 * PRICES["scheduler_invocation"])
    assert fixed["custom_metrics"] == pytest.approx(3 * PRICES["custom_metric_month"])
    assert monthly(large)["s3"] == pytest.approx(1000 * per_target["s3"])
    assert per_target_month(large)["s3_put"] == pytest.approx(2 * 24 * 30)
