"""No scaling on data forescale does not have: a missing metric or a throttled CloudWatch holds capacity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from e2e_support import Pipeline, asg_target, fail_calls, five_minute_index

from functions.adapters.cloudwatch import CloudWatchMetricsSource

pytestmark = pytest.mark.integration

DAY = datetime(2026, 3, 10, tzinfo=UTC)
NOON = DAY + timedelta(hours=12)


def oversized_group(pipeline: Pipeline) -> tuple[str, object]:
    """A group at 10 for a load that needs 4: with good data the pipeline scales it in at once."""
    web = asg_target("web", f"{pipeline.aws.prefix}-web", scale_in_stabilization_seconds=0)
    asg = web.asg_name or ""
    pipeline.aws.create_asg(asg, desired=10, min_size=1, max_size=60)
    pipeline.aws.put_targets([web])
    history = five_minute_index(DAY - timedelta(days=2), NOON)
    pipeline.seed_history("web", history, np.full(len(history), 300.0))
    return asg, web


def test_missing_metric_holds_capacity_and_good_data_then_scales_in(pipeline: Pipeline):
    asg, web = oversized_group(pipeline)
    # WHEN a round runs while the load metric has no datapoint at all
    deliveries = pipeline.run_round(NOON + timedelta(seconds=10))
    # THEN the collector reports it missing, the decider holds, the group keeps its 10
    collector = deliveries[0].result
    assert collector["metric_missing"] == ["web"]
    (decided,) = pipeline.store.decisions("web", DAY, NOON + timedelta(hours=1))
    assert decided.action == "hold" and "no new load this round" in decided.reason, decided.reason
    assert pipeline.aws.asg_desired(asg)[0] == 10
    # WHEN the metric comes back (control: the same situation with data does scale in)
    pipeline.put_load(web, NOON, 300.0)
    pipeline.run_round(NOON + timedelta(minutes=5, seconds=10))
    assert pipeline.aws.asg_desired(asg)[0] == 4


def test_throttled_cloudwatch_fails_the_round_cleanly_and_nothing_scales(pipeline: Pipeline):
    asg, web = oversized_group(pipeline)
    pipeline.put_load(web, NOON - timedelta(minutes=5), 300.0)
    # GIVEN CloudWatch throttles every GetMetricData (botocore retries off so the test does not wait)
    cloudwatch = pipeline.components.client("cloudwatch", retries=1)
    throttled = fail_calls(cloudwatch, "GetMetricData", times=3)
    pipeline.change(metrics_source=CloudWatchMetricsSource(cloudwatch))
    # WHEN the round runs
    deliveries = pipeline.run_round(NOON + timedelta(seconds=10))
    # THEN the collector failed after Lambda's three attempts and is kept in the dead-letter queue;
    # nothing downstream ran, the group keeps its 10
    assert [d.function for d in deliveries] == ["collector"]
    assert "Throttling" in str(deliveries[0].error) and deliveries[0].attempts == 3
    assert pipeline.router.dead_letters == deliveries and len(throttled) == 3
    assert pipeline.store.decisions("web", DAY, NOON + timedelta(hours=1)) == []
    assert pipeline.aws.asg_desired(asg)[0] == 10
    # WHEN CloudWatch answers again, the next round re-reads the window and the pipeline resumes
    pipeline.run_round(NOON + timedelta(minutes=5, seconds=10))
    assert pipeline.aws.asg_desired(asg)[0] == 4
