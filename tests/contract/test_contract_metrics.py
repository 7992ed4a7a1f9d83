"""Contract of the CloudWatch metrics source and publisher: the in-memory CloudWatch and moto's server alike.

moto's server never paginates ``GetMetricData`` (it ignores ``MaxDatapoints``) and evaluates no
metric math; the in-memory CloudWatch does both like the service, so the ``NextToken`` path and
expressions are exercised there, while results are checked on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from botocore.exceptions import ClientError
from contract_support import T0, count_calls

from forescale_tools.memory import InMemoryCloudWatch
from functions.adapters.cloudwatch import (
    CloudWatchMetricsPublisher,
    CloudWatchMetricsSource,
    MetricDatum,
    MetricSeries,
    series_frame,
)
from functions.domain.target import LoadMetric

pytestmark = pytest.mark.integration


@dataclass
class Backend:
    name: str
    client: Any
    namespace: str

    @contextmanager
    def calls(self, operation: str) -> Iterator[list[Any]]:
        if isinstance(self.client, InMemoryCloudWatch):
            before = len(self.client.calls)
            seen: list[Any] = []
            yield seen
            seen.extend(c for c in self.client.calls[before:] if c == operation)
        else:
            with count_calls(self.client, operation) as seen:
                yield seen

    def put(self, name: str, points: list[tuple[datetime, float]], dimensions: dict[str, str] | None = None) -> None:
        data = [MetricDatum(name, value, stamp, dimensions or {}) for stamp, value in points]
        CloudWatchMetricsPublisher(self.client).publish(self.namespace, data)

    def metric(self, name: str, dimensions: dict[str, str] | None = None, statistic: str = "Sum") -> LoadMetric:
        return LoadMetric(namespace=self.namespace, name=name, dimensions=dimensions or {}, statistic=statistic)


@pytest.fixture(params=["memory", "moto"])
def backend(request: pytest.FixtureRequest, unique_name) -> Backend:
    # A fresh namespace per test: CloudWatch data cannot be deleted, so tests never share metrics.
    namespace = unique_name("Forescale/Test")
    if request.param == "memory":
        return Backend("memory", InMemoryCloudWatch(), namespace)
    return Backend("moto", request.getfixturevalue("moto_client")("cloudwatch"), namespace)


def minute(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def test_gaps_stay_gaps_and_series_ascend(backend: Backend):
    # GIVEN points at minutes 0, 1, 3 and 4 (nothing at minute 2), stored out of order
    backend.put("Requests", [(minute(3), 30.0), (minute(0), 10.0), (minute(4), 40.0), (minute(1), 20.0)])
    # WHEN read over minutes [0, 5)
    series = CloudWatchMetricsSource(backend.client).fetch(
        {"web": backend.metric("Requests")}, start=minute(0), end=minute(5)
    )
    # THEN minute 2 is absent, not zero, and the series is ascending in UTC
    assert series["web"] == MetricSeries(
        timestamps=(minute(0), minute(1), minute(3), minute(4)), values=(10.0, 20.0, 30.0, 40.0)
    )
    frame = series_frame(series)
    assert list(frame["ds"]) == [
        pd.Timestamp("2026-11-20 10:00"),
        pd.Timestamp("2026-11-20 10:01"),
        pd.Timestamp("2026-11-20 10:03"),
        pd.Timestamp("2026-11-20 10:04"),
    ]


def test_statistics_per_period(backend: Backend):
    points = [(minute(0) + timedelta(seconds=s), v) for s, v in ((5, 1.0), (20, 2.0), (40, 6.0))]
    backend.put("Latency", points, {"Service": "web"})
    source = CloudWatchMetricsSource(backend.client)
    metrics = {
        "sum": backend.metric("Latency", {"Service": "web"}, "Sum"),
        "avg": backend.metric("Latency", {"Service": "web"}, "Average"),
        "max": backend.metric("Latency", {"Service": "web"}, "Maximum"),
        "other-dims": backend.metric("Latency", {"Service": "api"}, "Sum"),
    }
    series = source.fetch(metrics, start=minute(0), end=minute(1))
    assert series["sum"].values == (9.0,)
    assert series["avg"].values == (3.0,)
    assert series["max"].values == (6.0,)
    assert len(series["other-dims"]) == 0


def test_more_than_500_queries_are_batched(backend: Backend):
    # GIVEN 501 targets, each with its own dimension value and two points
    for index in range(501):
        backend.put("Requests", [(minute(0), float(index)), (minute(1), float(index) + 0.5)], {"Target": f"t{index}"})
    metrics = {f"t{index}": backend.metric("Requests", {"Target": f"t{index}"}) for index in range(501)}
    # WHEN all are fetched at once
    with backend.calls("GetMetricData") as calls:
        series = CloudWatchMetricsSource(backend.client).fetch(metrics, start=minute(0), end=minute(2))
    # THEN two calls (500 + 1) returned every series, each to its own key
    assert len(calls) == 2
    assert set(series) == set(metrics)
    assert all(series[f"t{i}"].values == (float(i), float(i) + 0.5) for i in range(501))
    assert series["t500"].timestamps == (minute(0), minute(1))


def test_paginated_results_are_merged(backend: Backend):
    # GIVEN 3 metrics of 4 points each and pages of at most 5 points
    for name in ("a", "b", "c"):
        backend.put(name, [(minute(i), ord(name) * 10.0 + i) for i in range(4)])
    metrics = {name: backend.metric(name) for name in ("a", "b", "c")}
    source = CloudWatchMetricsSource(backend.client, max_datapoints=5)
    # WHEN fetched
    with backend.calls("GetMetricData") as calls:
        series = source.fetch(metrics, start=minute(0), end=minute(4))
    # THEN every point arrives once, in order, whatever the page boundaries
    for name in ("a", "b", "c"):
        assert series[name].values == tuple(ord(name) * 10.0 + i for i in range(4))
        assert series[name].complete
    if backend.name == "memory":  # moto ignores MaxDatapoints: only the service-like twin pages
        assert len(calls) == 3


def test_expression_queries_on_the_twin():
    twin = InMemoryCloudWatch()
    expression = "SUM(SEARCH('{AWS/ApplicationELB,LoadBalancer} RequestCount', 'Sum', 60))"
    twin.define_expression(expression, {minute(0): 5.0, minute(2): 7.0, minute(9): 1.0})
    metric = LoadMetric(expression=expression, period_seconds=60)
    series = CloudWatchMetricsSource(twin).fetch({"web": metric}, start=minute(0), end=minute(5))
    assert series["web"] == MetricSeries(timestamps=(minute(0), minute(2)), values=(5.0, 7.0))
    with pytest.raises(ClientError, match="define_expression"):
        CloudWatchMetricsSource(twin).fetch({"web": LoadMetric(expression="METRICS()")}, start=minute(0), end=minute(5))


def test_expression_query_is_accepted_by_moto(moto_client):
    # moto evaluates no metric math, but the request must pass botocore's validation and the server
    metric = LoadMetric(expression="SUM(METRICS())", period_seconds=300)
    series = CloudWatchMetricsSource(moto_client("cloudwatch")).fetch({"web": metric}, start=minute(0), end=minute(10))
    assert series == {"web": MetricSeries()}


def test_time_arguments_are_checked(backend: Backend):
    source = CloudWatchMetricsSource(backend.client)
    with pytest.raises(ValueError, match="start: needs a timezone-aware"):
        source.fetch({"web": backend.metric("x")}, start=datetime(2026, 1, 1), end=minute(1))
    with pytest.raises(ValueError, match="end: must be after start"):
        source.fetch({"web": backend.metric("x")}, start=minute(1), end=minute(1))


def test_publisher_batches_1000_per_call(backend: Backend):
    # GIVEN 1,001 accuracy values for 7 targets
    data = [
        MetricDatum("ForecastError", float(i), minute(i // 7), {"Target": f"t{i % 7}"}, "Percent") for i in range(1001)
    ]
    with backend.calls("PutMetricData") as calls:
        made = CloudWatchMetricsPublisher(backend.client).publish(backend.namespace, data)
    assert made == len(calls) == 2
    # THEN they read back through the source
    metric = backend.metric("ForecastError", {"Target": "t3"}, "Maximum")
    series = CloudWatchMetricsSource(backend.client).fetch({"t3": metric}, start=minute(0), end=minute(3))
    assert series["t3"].values == (3.0, 10.0, 17.0)


def test_publisher_refuses_non_finite_values(backend: Backend):
    with pytest.raises(ValueError, match=r"data\[1\]\.value: nan"):
        CloudWatchMetricsPublisher(backend.client).publish(
            backend.namespace, [MetricDatum("x", 1.0, T0), MetricDatum("x", float("nan"), T0)]
        )


def test_in_memory_cloudwatch_enforces_service_limits():
    twin = InMemoryCloudWatch()
    queries = [{"Id": f"q{i}", "Expression": "x", "Period": 60} for i in range(501)]
    with pytest.raises(ClientError, match="at most 500"):
        twin.get_metric_data(MetricDataQueries=queries, StartTime=T0, EndTime=minute(1))
    with pytest.raises(ClientError, match="at most 1000"):
        twin.put_metric_data(Namespace="n", MetricData=[{"MetricName": "m", "Value": 1.0, "Timestamp": T0}] * 1001)


def test_in_memory_cloudwatch_statistics_and_page_status():
    twin = InMemoryCloudWatch()
    CloudWatchMetricsPublisher(twin).publish("n", [MetricDatum("m", float(v), minute(0)) for v in range(1, 101)])
    query = {"Id": "q", "MetricStat": {"Metric": {"Namespace": "n", "MetricName": "m"}, "Period": 60, "Stat": "p90"}}
    result = twin.get_metric_data(MetricDataQueries=[query], StartTime=minute(0), EndTime=minute(1))
    assert result["MetricDataResults"][0]["Values"] == [90.0]
    # a query whose points continue on the next page says PartialData
    CloudWatchMetricsPublisher(twin).publish("n", [MetricDatum("k", 1.0, minute(i)) for i in range(3)])
    query = {"Id": "k", "MetricStat": {"Metric": {"Namespace": "n", "MetricName": "k"}, "Period": 60, "Stat": "Sum"}}
    first = twin.get_metric_data(MetricDataQueries=[query], StartTime=minute(0), EndTime=minute(3), MaxDatapoints=2)
    assert first["MetricDataResults"][0]["StatusCode"] == "PartialData"
    second = twin.get_metric_data(
        MetricDataQueries=[query], StartTime=minute(0), EndTime=minute(3), MaxDatapoints=2, NextToken=first["NextToken"]
    )
    assert second["MetricDataResults"][0]["StatusCode"] == "Complete"
    assert "NextToken" not in second
