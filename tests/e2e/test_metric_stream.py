"""The collector on a metric stream, end to end on moto's server: the stream's objects, written to S3 as
Firehose writes them, give the same stored history as GetMetricData gives for the same points, and only
what the stream does not carry is asked of GetMetricData."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from e2e_support import Pipeline, asg_target, five_minute_index, metric_for

from forescale_tools.metric_stream import FirehoseDelivery, stream_line
from functions.adapters.metric_stream import StreamMetricsSource
from functions.adapters.s3_objects import S3Objects

pytestmark = pytest.mark.integration

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_histories_from_the_stream_equal_those_from_getmetricdata(pipeline: Pipeline, monkeypatch):
    # GIVEN two targets with the same load: "streamed", whose metric the stream carries (and CloudWatch does
    # not: only the stream can answer it), and "asked", whose metric only CloudWatch holds
    prefix = pipeline.aws.prefix
    streamed = asg_target("streamed", f"{prefix}-streamed", metric=metric_for(f"{prefix}-streamed", 60))
    asked = asg_target("asked", f"{prefix}-asked", metric=metric_for(f"{prefix}-asked", 60))
    pipeline.aws.put_targets([streamed, asked])
    for target in (streamed, asked):
        pipeline.aws.create_asg(target.asg_name or "", desired=2, min_size=1, max_size=60)
        history = five_minute_index(NOON - timedelta(days=3), NOON - timedelta(hours=1))
        pipeline.seed_history(target.target_id, history, np.full(len(history), 500.0))
    firehose = FirehoseDelivery(S3Objects(pipeline.aws.client("s3"), pipeline.aws.bucket))
    minutes = [NOON - timedelta(minutes=n) for n in range(15, 1, -1)]  # 11:45 .. 11:58
    for index, minute in enumerate(minutes):
        samples = [100.0 + index, 150.0 + 2 * index, 90.0]  # three requests counted in the minute
        for value in samples:
            pipeline.put_load(asked, minute + timedelta(seconds=10), value)
        metric = streamed.metric
        line = stream_line(metric.namespace or "", metric.name or "", metric.dimensions, minute, samples)
        firehose.deliver(minute + timedelta(minutes=2), [line])  # the stream's delay: the minute, then the buffer
    # WHEN the deployment reads the stream and a round runs at 12:00:10
    monkeypatch.setenv("FORESCALE_METRIC_STREAM_PREFIX", "metric-stream/")
    pipeline.rewire()
    pipeline.run_round(NOON + timedelta(seconds=10))
    # THEN the collector stored the same 1-minute sums for both, over its 10-minute window (11:50 .. 11:58)
    (collected,) = [d for d in pipeline.rounds[-1][1] if d.function == "collector"]
    assert collected.error is None
    stored = {
        target.target_id: pipeline.archive.read_history(target.target_id, NOON - timedelta(minutes=10), NOON)
        for target in (streamed, asked)
    }
    expected = [
        sum([100.0 + i, 150.0 + 2 * i, 90.0]) for i, m in enumerate(minutes) if m >= NOON - timedelta(minutes=10)
    ]
    assert stored["streamed"]["y"].tolist() == expected
    pd.testing.assert_frame_equal(
        stored["streamed"][["ds", "y"]].reset_index(drop=True), stored["asked"][["ds", "y"]].reset_index(drop=True)
    )
    # AND the stream answered "streamed"; only "asked" went to GetMetricData
    source = pipeline.components.metrics_source
    assert isinstance(source, StreamMetricsSource)
    assert (source.stats.streamed, source.stats.fell_back) == (1, 1)
