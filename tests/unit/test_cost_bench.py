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


def test_a_metric_stream_is_priced_per_update_and_firehose_record():
    # GIVEN an hour in which each of 1,000 targets' metric is streamed once a minute, one record per update
    large = run(1000, puts=0, metrics=0, seconds=0.0)
    small = run(10, puts=0, metrics=0, seconds=0.0)
    for one in (large, small):
        one["counts"]["metric_stream_updates"] = 60 * one["targets"]
        one["counts"]["firehose_billed_bytes"] = 60 * one["targets"] * 5 * 1024
    # WHEN priced THEN a target-month is 43,200 updates at $0.003 per 1,000 plus 43,200 records of 5 KB ingested
    _, per_target = split(large, small)
    updates = 60 * 24 * 30
    assert per_target["metric_stream"] == pytest.approx(
        updates * PRICES["metric_stream_update"] + updates * 5 * 1024 / 1e9 * PRICES["firehose_ingested_gb"]
    )
    assert per_target["metric_stream"] == pytest.approx(0.136, abs=0.001)


def test_with_a_stream_the_collector_asks_getmetricdata_nothing_and_firehose_writes_once_a_minute():
    from benchmarks.cost import simulate

    # GIVEN a few targets whose load a metric stream carries, run for 6 counted minutes
    counted = simulate(3, 0.1, 2, train=False, warmup_minutes=5, stream=True)["counts"]
    # THEN no GetMetricData metric was requested; each minute streamed every target's update in one object
    # (Firehose's PUT), and the collector listed and read the stream's objects
    assert counted.get("getmetricdata_metrics", 0) == 0
    assert counted["metric_stream_updates"] == 3 * 6
    assert counted["by_prefix:s3_put:metric-stream"] == 6
    assert counted["by_prefix:s3_list:metric-stream"] >= 6 and counted["by_prefix:s3_get:metric-stream"] >= 6
