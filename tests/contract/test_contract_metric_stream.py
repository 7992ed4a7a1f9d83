"""Contract of the metric-stream source: the stream's objects in moto's S3 and in the in-memory store alike.

Load is read from the objects Firehose delivers (JSON output format) and aggregated into each query's
period; whatever the stream cannot answer goes to the fallback (GetMetricData) in one call.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest
from contract_support import T0

from forescale_tools.memory import InMemoryCloudWatch, InMemoryObjects
from forescale_tools.metric_stream import FirehoseDelivery, stream_line
from functions.adapters.cloudwatch import CloudWatchMetricsPublisher, CloudWatchMetricsSource, MetricDatum
from functions.adapters.metric_stream import StreamMetricsSource
from functions.adapters.s3_objects import S3Objects
from functions.domain.target import LoadMetric
from functions.ports.metrics import MetricSeries

pytestmark = pytest.mark.integration

NS = "AWS/ApplicationELB"
LB = {"LoadBalancer": "app/web/1"}


def minute(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


class RecordingSource:
    """GetMetricData over the in-memory CloudWatch, recording each call's query keys."""

    def __init__(self) -> None:
        self.cloudwatch = InMemoryCloudWatch()
        self.calls: list[list[str]] = []

    def put(self, name: str, points: list[tuple[datetime, float]], dimensions: Mapping[str, str]) -> None:
        data = [MetricDatum(name, value, stamp, dict(dimensions)) for stamp, value in points]
        CloudWatchMetricsPublisher(self.cloudwatch).publish(NS, data)

    def fetch(self, metrics: Mapping[str, LoadMetric], *, start: datetime, end: datetime) -> dict[str, MetricSeries]:
        self.calls.append(sorted(metrics))
        return CloudWatchMetricsSource(self.cloudwatch).fetch(metrics, start=start, end=end)


@pytest.fixture(params=["memory", "moto"])
def objects(request: pytest.FixtureRequest, unique_name) -> Any:
    if request.param == "memory":
        return InMemoryObjects()
    client = request.getfixturevalue("moto_client")("s3")
    bucket = unique_name("stream")
    client.create_bucket(Bucket=bucket)
    return S3Objects(client, bucket)


def metric(name: str = "RequestCount", statistic: str = "Sum", period: int = 60, **dims: str) -> LoadMetric:
    return LoadMetric(namespace=NS, name=name, dimensions=dims or LB, statistic=statistic, period_seconds=period)


def deliver_minutes(
    firehose: FirehoseDelivery, samples: Mapping[int, list[float]], *, name: str = "RequestCount", dims=None
) -> None:
    """Each minute's samples in an object delivered a minute after that minute closed (Firehose's 60 s buffer)."""
    for n, values in samples.items():
        firehose.deliver(minute(n + 2), [stream_line(NS, name, dims or LB, minute(n), values)])


def test_average_over_five_minutes_from_one_minute_statistic_sets(objects):
    # GIVEN ten minutes of samples streamed (several samples a minute, as CloudWatch holds them)
    firehose = FirehoseDelivery(objects)
    samples = {n: [float(n), float(n) + 2.0] for n in range(10)}
    deliver_minutes(firehose, samples)
    fallback = RecordingSource()
    source = StreamMetricsSource(objects, fallback=fallback)
    # WHEN a 5-minute Average, Sum, Maximum, Minimum and SampleCount are asked over minutes [0, 10)
    queries = {
        stat: metric(statistic=stat, period=300) for stat in ("Average", "Sum", "Maximum", "Minimum", "SampleCount")
    }
    series = source.fetch(queries, start=minute(0), end=minute(10))
    # THEN each is the statistic of all the samples of each 5-minute bucket, with no GetMetricData call
    first, second = [v for n in range(5) for v in samples[n]], [v for n in range(5, 10) for v in samples[n]]
    assert series["Average"].timestamps == (minute(0), minute(5))
    assert series["Average"].values == pytest.approx((sum(first) / 10, sum(second) / 10))
    assert series["Sum"].values == pytest.approx((sum(first), sum(second)))
    assert series["Maximum"].values == (max(first), max(second))
    assert series["Minimum"].values == (min(first), min(second))
    assert series["SampleCount"].values == (10.0, 10.0)
    assert fallback.calls == []


def test_dimensions_match_exactly_and_gaps_stay_gaps(objects):
    # GIVEN the metric streamed for minutes 0, 1, 3, 4 (nothing at 2), and the same metric with one more
    # dimension and with another value at every minute
    firehose = FirehoseDelivery(objects)
    for n in (0, 1, 3, 4):
        firehose.deliver(
            minute(n + 2),
            [
                stream_line(NS, "RequestCount", LB, minute(n), [10.0 * (n + 1)]),
                stream_line(NS, "RequestCount", {**LB, "AvailabilityZone": "a"}, minute(n), [999.0]),
                stream_line(NS, "RequestCount", {"LoadBalancer": "other"}, minute(n), [555.0]),
            ],
        )
    firehose.deliver(minute(4), [stream_line(NS, "RequestCount", {**LB, "AvailabilityZone": "a"}, minute(2), [999.0])])
    source = StreamMetricsSource(objects, fallback=RecordingSource())
    # WHEN the load balancer's metric is asked over [0, 5)
    series = source.fetch({"web": metric()}, start=minute(0), end=minute(5))
    # THEN only its own points come back, minute 2 absent (not zero)
    assert series["web"] == MetricSeries(
        timestamps=(minute(0), minute(1), minute(3), minute(4)), values=(10.0, 20.0, 40.0, 50.0)
    )


def test_a_malformed_line_is_skipped_counted_and_logged(objects, caplog):
    # GIVEN an object with a good update, a line that is not JSON, one without a value and one with a text count
    firehose = FirehoseDelivery(objects)
    key = firehose.deliver(
        minute(2),
        [
            stream_line(NS, "RequestCount", LB, minute(0), [7.0]),
            "{not json",
            '{"namespace": "AWS/ApplicationELB", "metric_name": "RequestCount", "dimensions": {}, "timestamp": 1}',
            stream_line(NS, "RequestCount", LB, minute(1), [8.0]).replace('"count":1.0', '"count":"one"'),
        ],
    )
    source = StreamMetricsSource(objects, fallback=RecordingSource(), max_lag=timedelta(minutes=10))
    # WHEN read
    with caplog.at_level(logging.WARNING, logger="functions.adapters.metric_stream"):
        series = source.fetch({"web": metric()}, start=minute(0), end=minute(5))
    # THEN the good update is answered, the three bad lines counted and each logged with its object and line
    assert series["web"] == MetricSeries(timestamps=(minute(0),), values=(7.0,))
    assert source.stats.malformed_lines == 3
    logged = [r.getMessage() for r in caplog.records]
    for line in (2, 3, 4):
        assert any(f"{key} line {line} skipped" in message for message in logged), (line, logged)


def test_only_what_the_stream_cannot_answer_goes_to_getmetricdata_in_one_call(objects):
    # GIVEN a stream carrying "fresh" up to the newest minute and "lagging" up to 5 minutes before,
    # and GetMetricData holding every metric
    firehose = FirehoseDelivery(objects)
    deliver_minutes(firehose, {n: [1.0] for n in range(10)}, dims={"LoadBalancer": "fresh"})
    deliver_minutes(firehose, {n: [1.0] for n in range(5)}, dims={"LoadBalancer": "lagging"})
    fallback = RecordingSource()
    for lb in ("fresh", "lagging", "absent"):
        fallback.put("RequestCount", [(minute(n), 2.0) for n in range(10)], {"LoadBalancer": lb})
    fallback.cloudwatch.define_expression("m1 * 2", {minute(n): 4.0 for n in range(10)})
    source = StreamMetricsSource(objects, fallback=fallback)
    queries = {
        "fresh": metric(LoadBalancer="fresh"),
        "lagging": metric(LoadBalancer="lagging"),
        "absent": metric(LoadBalancer="absent"),
        "percentile": metric(statistic="p99", LoadBalancer="fresh"),
        "expression": LoadMetric(expression="m1 * 2"),
    }
    # WHEN the window [0, 10) is read
    series = source.fetch(queries, start=minute(0), end=minute(10))
    # THEN the fresh metric came from the stream; the lagging, absent, percentile and expression queries
    # went to GetMetricData, together, in one call
    assert series["fresh"].values == (1.0,) * 10
    assert fallback.calls == [["absent", "expression", "lagging", "percentile"]]
    assert series["lagging"].values == (2.0,) * 10
    assert series["expression"].values == (4.0,) * 10
    assert (source.stats.streamed, source.stats.fell_back) == (1, 4)


def test_objects_are_read_once_and_a_later_update_of_a_minute_wins(objects):
    # GIVEN minutes 0-9 streamed, then minute 9 sent again with another value
    firehose = FirehoseDelivery(objects)
    deliver_minutes(firehose, {n: [1.0] for n in range(10)})
    firehose.deliver(minute(11) + timedelta(seconds=30), [stream_line(NS, "RequestCount", LB, minute(9), [5.0])])
    source = StreamMetricsSource(objects, fallback=RecordingSource())
    # WHEN two rounds read the same window
    first = source.fetch({"web": metric()}, start=minute(0), end=minute(10))
    read_first = source.stats.objects_read
    second = source.fetch({"web": metric()}, start=minute(0), end=minute(10))
    # THEN the later update is the value, and the second round fetched no object again
    assert first["web"].values[-1] == 5.0 and second == first
    assert (read_first, source.stats.objects_read) == (11, 0)


def test_objects_delivered_before_the_window_are_not_read(objects):
    # GIVEN an hour of minutes streamed
    firehose = FirehoseDelivery(objects)
    deliver_minutes(firehose, {n: [1.0] for n in range(60)})
    source = StreamMetricsSource(objects, fallback=RecordingSource())
    # WHEN the last ten minutes are read
    series = source.fetch({"web": metric()}, start=minute(50), end=minute(60))
    # THEN the window is answered from the 14 objects delivered from two minutes before its start (the
    # slack for Firehose's buffer) on, not from the hour's 60
    assert series["web"].timestamps == tuple(minute(n) for n in range(50, 60))
    assert source.stats.objects_read == 14


def test_bad_arguments_are_refused_by_name(objects):
    with pytest.raises(ValueError, match="prefix"):
        StreamMetricsSource(objects, fallback=RecordingSource(), prefix="no-slash")
    with pytest.raises(ValueError, match="end"):
        StreamMetricsSource(objects, fallback=RecordingSource()).fetch({}, start=minute(5), end=minute(5))
