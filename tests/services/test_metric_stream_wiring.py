"""The collector's load source follows the deployment's settings: a metric stream when one is configured
(GetMetricData for what it cannot answer), GetMetricData alone otherwise."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.adapters.cloudwatch import CloudWatchMetricsSource
from functions.adapters.metric_stream import StreamMetricsSource
from functions.domain.clock import FixedClock, SequentialIds
from functions.settings import Settings
from functions.wiring import Components

REQUIRED = {
    "STATE_TABLE": "s",
    "AUDIT_TABLE": "a",
    "BUSINESS_EVENTS_TABLE": "b",
    "MODEL_REGISTRY_TABLE": "m",
    "IDEMPOTENCY_TABLE": "i",
    "BUCKET_NAME": "bucket",
    "AUDIT_BUCKET_NAME": "audit",
    "EVENT_BUS_NAME": "bus",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
}


def container(env: dict[str, str]) -> Components:
    return Components(Settings.from_env(env), FixedClock(datetime(2026, 3, 10, tzinfo=UTC)), SequentialIds())


def test_a_configured_stream_is_the_collectors_source_with_getmetricdata_behind_it():
    # GIVEN a deployment whose environment names the stream's prefix
    components = container({**REQUIRED, "FORESCALE_METRIC_STREAM_PREFIX": "metric-stream/"})
    # THEN the collector reads the stream, in the data bucket, and falls back to GetMetricData
    source = components.collector.metrics
    assert isinstance(source, StreamMetricsSource)
    assert source._prefix == "metric-stream/" and source._objects.bucket == "bucket"  # type: ignore[attr-defined]
    assert isinstance(source._fallback, CloudWatchMetricsSource)


def test_without_a_stream_the_collector_asks_getmetricdata():
    # GIVEN no stream configured (the variable absent or empty)
    for env in (REQUIRED, {**REQUIRED, "FORESCALE_METRIC_STREAM_PREFIX": ""}):
        # THEN the source is GetMetricData
        assert isinstance(container(env).metrics_source, CloudWatchMetricsSource)


def test_a_bad_prefix_is_refused_naming_the_variable():
    with pytest.raises(ValueError, match="FORESCALE_METRIC_STREAM_PREFIX"):
        Settings.from_env({**REQUIRED, "FORESCALE_METRIC_STREAM_PREFIX": "metric-stream"})
