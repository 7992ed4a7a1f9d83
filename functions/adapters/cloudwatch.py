"""CloudWatch: read targets' load series (GetMetricData) and publish forescale's own metrics (PutMetricData).

:class:`CloudWatchMetricsSource` turns each :class:`~functions.domain.target.LoadMetric` into one
metric-data query (a metric statistic, or a metric-math ``expression``), sends at most
:data:`MAX_QUERIES_PER_CALL` queries a call, follows ``NextToken`` pages (one query's points may be
split across pages) and returns each series ascending in time. Periods without data are simply
absent: gaps stay gaps, never zeros.

The twin is the same classes over :class:`forescale_tools.memory.InMemoryCloudWatch`, an
in-memory CloudWatch that enforces the limits and paginates like the service (moto's server never
paginates, so the twin is what exercises the ``NextToken`` path; the contract suite runs both).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from functions.adapters._timefmt import require_aware
from functions.domain.target import LoadMetric
from functions.ports.metrics import MetricDatum, MetricSeries

if TYPE_CHECKING:
    import pandas as pd

#: GetMetricData accepts at most 500 queries per call.
MAX_QUERIES_PER_CALL = 500
#: PutMetricData accepts at most 1,000 metric data items per call.
MAX_DATUMS_PER_CALL = 1000


class CloudWatchCalls(Protocol):
    """The calls the adapters make: a ``cloudwatch`` client, or :class:`forescale_tools.memory.InMemoryCloudWatch`.

    Typed loosely so that this module need not import the twin (which imports it).
    """

    def get_metric_data(self, *args: Any, **kwargs: Any) -> Any: ...

    def put_metric_data(self, *args: Any, **kwargs: Any) -> Any: ...


def metric_query(query_id: str, metric: LoadMetric) -> dict[str, Any]:
    """The ``MetricDataQuery`` for ``metric``."""
    if metric.expression is not None:
        return {"Id": query_id, "Expression": metric.expression, "Period": metric.period_seconds, "ReturnData": True}
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": metric.namespace,
                "MetricName": metric.name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(metric.dimensions.items())],
            },
            "Period": metric.period_seconds,
            "Stat": metric.statistic,
        },
        "ReturnData": True,
    }


class CloudWatchMetricsSource:
    """:class:`functions.ports.metrics.MetricsSource` over an injected ``cloudwatch`` client (or its twin)."""

    def __init__(self, client: CloudWatchCalls, *, max_datapoints: int | None = None) -> None:
        """``max_datapoints`` caps points per response (``MaxDatapoints``); CloudWatch paginates beyond."""
        self._client = client
        self._max_datapoints = max_datapoints

    def fetch(self, metrics: Mapping[str, LoadMetric], *, start: datetime, end: datetime) -> dict[str, MetricSeries]:
        start_utc = require_aware(start, "start").replace(second=0, microsecond=0)
        end_utc = require_aware(end, "end")
        if end_utc <= start_utc:
            raise ValueError("end: must be after start (rounded down to the minute)")
        keys = list(metrics)
        results: dict[str, MetricSeries] = {}
        for offset in range(0, len(keys), MAX_QUERIES_PER_CALL):
            chunk = keys[offset : offset + MAX_QUERIES_PER_CALL]
            ids = {f"q{offset + i}": key for i, key in enumerate(chunk)}
            queries = [metric_query(qid, metrics[key]) for qid, key in ids.items()]
            for qid, series in self._fetch_chunk(queries, start_utc, end_utc).items():
                results[ids[qid]] = series
        return results

    def _fetch_chunk(self, queries: list[dict[str, Any]], start: datetime, end: datetime) -> dict[str, MetricSeries]:
        points: dict[str, dict[datetime, float]] = {q["Id"]: {} for q in queries}
        status: dict[str, str] = {}
        messages: dict[str, list[str]] = {q["Id"]: [] for q in queries}
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        if self._max_datapoints is not None:
            kwargs["MaxDatapoints"] = self._max_datapoints
        while True:
            response = self._client.get_metric_data(**kwargs)
            for result in response.get("MetricDataResults", []):
                qid = result["Id"]
                for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=True):
                    points[qid][_utc(stamp)] = float(value)
                status[qid] = result.get("StatusCode", "Complete")
                messages[qid].extend(m.get("Value", "") for m in result.get("Messages", []))
            token = response.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
        out: dict[str, MetricSeries] = {}
        for qid, by_time in points.items():
            ordered = sorted(by_time.items())
            out[qid] = MetricSeries(
                timestamps=tuple(t for t, _ in ordered),
                values=tuple(v for _, v in ordered),
                complete=status.get(qid, "Complete") in ("Complete", "PartialData"),
                messages=tuple(messages[qid]),
            )
        return out


class CloudWatchMetricsPublisher:
    """:class:`functions.ports.metrics.MetricsPublisher` over an injected ``cloudwatch`` client (or its twin)."""

    def __init__(self, client: CloudWatchCalls, *, batch_size: int = MAX_DATUMS_PER_CALL) -> None:
        if not 1 <= batch_size <= MAX_DATUMS_PER_CALL:
            raise ValueError(f"batch_size: must lie in [1, {MAX_DATUMS_PER_CALL}]")
        self._client = client
        self._batch_size = batch_size

    def publish(self, namespace: str, data: Sequence[MetricDatum]) -> int:
        entries = [_datum_entry(i, datum) for i, datum in enumerate(data)]
        calls = 0
        for offset in range(0, len(entries), self._batch_size):
            request: dict[str, Any] = {
                "Namespace": namespace,
                "MetricData": entries[offset : offset + self._batch_size],
            }
            self._client.put_metric_data(**request)
            calls += 1
        return calls


def _datum_entry(index: int, datum: MetricDatum) -> dict[str, Any]:
    if not math.isfinite(datum.value):
        raise ValueError(f"data[{index}].value: {datum.value} is not a finite number")
    return {
        "MetricName": datum.name,
        "Timestamp": require_aware(datum.timestamp, f"data[{index}].timestamp"),
        "Value": float(datum.value),
        "Unit": datum.unit,
        "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(datum.dimensions.items())],
    }


def _utc(stamp: datetime) -> datetime:
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def series_frame(series: Mapping[str, MetricSeries]) -> pd.DataFrame:
    """Nixtla long frame ``unique_id, ds, y`` (``ds`` tz-naive UTC); gaps are missing rows."""
    import pandas as pd

    rows = [
        (key, stamp.replace(tzinfo=None), value)
        for key, one in series.items()
        for stamp, value in zip(one.timestamps, one.values, strict=True)
    ]
    frame = pd.DataFrame(rows, columns=["unique_id", "ds", "y"])
    frame["ds"] = pd.to_datetime(frame["ds"]).astype("datetime64[us]")
    frame["y"] = frame["y"].astype(float)
    return frame
