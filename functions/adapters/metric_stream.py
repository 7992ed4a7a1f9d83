"""CloudWatch Metric Streams: targets' load read from the stream's objects in S3, GetMetricData for the rest.

A metric stream sends each streamed metric's statistic set (``max``, ``min``, ``sum``, ``count``) once a
minute to a Firehose delivery stream, which writes them to the bucket under :data:`METRIC_STREAM_PREFIX`
(JSON output format: one update per line). GetMetricData is billed per metric requested, every round;
a stream is billed per update, once, however often it is read, so at 1-minute collection reading the
stream's objects costs about a third of asking CloudWatch (``infra_cdk/README.md``, "Cost").

:class:`StreamMetricsSource` answers each query it can from the objects delivered since the window's
start: a plain metric (no expression) whose statistic a statistic set gives (:data:`STREAM_STATISTICS`),
matched on exactly its dimensions, with 1-minute updates summed into the query's period as GetMetricData
buckets them (from ``start``). Every other query goes to the fallback source (GetMetricData) in one call:
expressions, percentiles, metrics the stream does not carry, and metrics whose newest streamed minute is
older than ``max_lag`` before the newest complete period (a stopped or lagging stream). A misconfigured
stream therefore costs GetMetricData's price, never the collector's data.

Objects are immutable once delivered, so each is read once per container and kept parsed (the next round
reads only the newest). A malformed line is skipped and counted, logged with its object and line number.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from functions.adapters.s3_objects import get_many
from functions.domain.target import LoadMetric
from functions.ports.archive import ObjectStore
from functions.ports.metrics import MetricSeries, MetricsSource
from functions.ports.times import require_aware

logger = logging.getLogger(__name__)

#: Where the delivery stream writes in the data bucket (Firehose appends ``YYYY/MM/DD/HH/``).
METRIC_STREAM_PREFIX = "metric-stream/"
#: The statistics a stream's statistic set gives (a percentile needs GetMetricData).
STREAM_STATISTICS = frozenset({"Sum", "Average", "Maximum", "Minimum", "SampleCount"})
#: Default tolerance for the stream's delay behind GetMetricData (Firehose buffers 60 s, and the stream
#: sends a minute's update after that minute closes).
DEFAULT_MAX_LAG = timedelta(seconds=180)
#: Objects delivered this long before the window's start are skipped: Firehose names an object by the
#: arrival of its oldest record and buffers up to 60 s, so an older object holds no update of the window.
DELIVERY_SLACK = timedelta(seconds=120)
#: ``<stream name>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>``: Firehose's object name, in UTC.
_DELIVERED = re.compile(r"-(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-[^/]*$")
#: at most this many malformed lines of one object are logged one by one (then a count)
_LOGGED_PER_OBJECT = 5

#: (namespace, metric name, dimensions) of a streamed metric
MetricKey = tuple[str, str, frozenset[tuple[str, str]]]


@dataclass(frozen=True)
class StatisticSet:
    """One minute of one metric as the stream sends it."""

    maximum: float
    minimum: float
    total: float
    count: float


@dataclass
class StreamObject:
    """One delivered object, parsed: each metric's updates by minute (the later line wins), and its bad lines."""

    updates: dict[MetricKey, dict[datetime, StatisticSet]] = field(default_factory=dict)
    malformed: int = 0


@dataclass
class StreamStats:
    """What the last :meth:`StreamMetricsSource.fetch` did (for logs, tests and the cost benchmark)."""

    streamed: int = 0
    fell_back: int = 0
    objects_read: int = 0
    malformed_lines: int = 0


def metric_key(metric: LoadMetric) -> MetricKey:
    return (metric.namespace or "", metric.name or "", frozenset(metric.dimensions.items()))


def delivered_at(key: str) -> datetime | None:
    """When Firehose delivered the object ``key`` (from its name), or None for a name not Firehose's."""
    match = _DELIVERED.search(key)
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None


def parse_stream_object(body: bytes, key: str) -> StreamObject:
    """The updates of one object in the JSON output format; malformed lines are skipped, counted and logged."""
    parsed = StreamObject()
    for number, raw in enumerate(body.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            metric, stamp, stats = _update(json.loads(raw))
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError, OSError) as error:
            parsed.malformed += 1
            if parsed.malformed <= _LOGGED_PER_OBJECT:
                logger.warning("metric stream: %s line %d skipped: %s", key, number, error)
            continue
        parsed.updates.setdefault(metric, {})[stamp] = stats
    if parsed.malformed > _LOGGED_PER_OBJECT:
        logger.warning("metric stream: %s: %d malformed lines skipped in all", key, parsed.malformed)
    return parsed


def _update(line: object) -> tuple[MetricKey, datetime, StatisticSet]:
    if not isinstance(line, dict):
        raise ValueError("not a JSON object")
    namespace, name, dimensions = line["namespace"], line["metric_name"], line.get("dimensions") or {}
    if not isinstance(namespace, str) or not isinstance(name, str) or not namespace or not name:
        raise ValueError("namespace and metric_name: must be non-empty strings")
    if not isinstance(dimensions, dict) or not all(isinstance(v, str) for v in dimensions.values()):
        raise ValueError("dimensions: must map names to strings")
    millis = line["timestamp"]
    if isinstance(millis, bool) or not isinstance(millis, int | float):
        raise ValueError("timestamp: must be epoch milliseconds")
    stamp = datetime.fromtimestamp(millis / 1000, UTC)
    value = line["value"]
    numbers = [value["max"], value["min"], value["sum"], value["count"]]
    if not all(isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n) for n in numbers):
        raise ValueError("value: max, min, sum and count must be finite numbers")
    if numbers[3] < 0:
        raise ValueError("value.count: must not be negative")
    stats = StatisticSet(*(float(n) for n in numbers))
    return (namespace, name, frozenset(dimensions.items())), stamp, stats


def aggregate(statistic: str, sets: Iterable[StatisticSet]) -> float | None:
    """``statistic`` of the union of ``sets`` (None when it has no value: an average of no samples)."""
    sets = list(sets)
    count = sum(s.count for s in sets)
    if statistic == "SampleCount":
        return count
    if statistic == "Sum":
        return sum(s.total for s in sets)
    if statistic == "Maximum":
        return max(s.maximum for s in sets)
    if statistic == "Minimum":
        return min(s.minimum for s in sets)
    if statistic == "Average":
        return sum(s.total for s in sets) / count if count > 0 else None
    raise ValueError(f"statistic: {statistic!r} is not one a statistic set gives")


class StreamMetricsSource:
    """:class:`functions.ports.metrics.MetricsSource` over the stream's objects, ``fallback`` for the rest."""

    def __init__(
        self,
        objects: ObjectStore,
        *,
        fallback: MetricsSource,
        prefix: str = METRIC_STREAM_PREFIX,
        max_lag: timedelta = DEFAULT_MAX_LAG,
        cached_objects: int = 256,
    ) -> None:
        if not prefix.endswith("/"):
            raise ValueError(f"prefix: {prefix!r} must end with '/'")
        if max_lag < timedelta(0):
            raise ValueError("max_lag: must not be negative")
        self._objects = objects
        self._fallback = fallback
        self._prefix = prefix
        self._max_lag = max_lag
        self._cache: OrderedDict[str, StreamObject] = OrderedDict()
        self._cached_objects = cached_objects
        self.stats = StreamStats()

    def fetch(self, metrics: Mapping[str, LoadMetric], *, start: datetime, end: datetime) -> dict[str, MetricSeries]:
        start_utc = require_aware(start, "start").astimezone(UTC).replace(second=0, microsecond=0)
        end_utc = require_aware(end, "end").astimezone(UTC)
        if end_utc <= start_utc:
            raise ValueError("end: must be after start (rounded down to the minute)")
        self.stats = StreamStats()
        streamable = {
            key: metric
            for key, metric in metrics.items()
            if metric.expression is None and metric.statistic in STREAM_STATISTICS
        }
        updates = self._updates(start_utc, {metric_key(m) for m in streamable.values()}) if streamable else {}
        results: dict[str, MetricSeries] = {}
        rest = {key: metric for key, metric in metrics.items() if key not in streamable}
        for key, metric in streamable.items():
            series = self._series(metric, updates.get(metric_key(metric), {}), start_utc, end_utc)
            if series is None:
                rest[key] = metric
            else:
                results[key] = series
        self.stats.streamed = len(results)
        self.stats.fell_back = len(rest)
        if rest:
            results.update(self._fallback.fetch(rest, start=start, end=end))
        return results

    def _series(
        self, metric: LoadMetric, points: Mapping[datetime, StatisticSet], start: datetime, end: datetime
    ) -> MetricSeries | None:
        """The query's series from the stream, or None when the stream cannot answer it (absent or lagging)."""
        period = timedelta(seconds=metric.period_seconds)
        inside = sorted((stamp, stats) for stamp, stats in points.items() if start <= stamp < end)
        newest_complete = start + period * ((end - start) // period) - period
        if not inside or inside[-1][0] < newest_complete - self._max_lag:
            return None
        buckets: dict[datetime, list[StatisticSet]] = {}
        for stamp, stats in inside:
            buckets.setdefault(start + period * ((stamp - start) // period), []).append(stats)
        stamps: list[datetime] = []
        values: list[float] = []
        for bucket, sets in sorted(buckets.items()):
            value = aggregate(metric.statistic, sets)
            if value is not None:
                stamps.append(bucket)
                values.append(value)
        return MetricSeries(timestamps=tuple(stamps), values=tuple(values))

    def _updates(self, start: datetime, wanted: set[MetricKey]) -> dict[MetricKey, dict[datetime, StatisticSet]]:
        """The updates of the ``wanted`` metrics in the objects delivered since ``start`` (less the slack), later
        objects winning (the stream carries every metric of its names in the account, not only the targets')."""
        since = start - DELIVERY_SLACK
        first_hour = f"{self._prefix}{since:%Y/%m/%d/%H}/"
        keys = []
        for key in self._objects.list_keys(self._prefix, start_after=first_hour):
            delivered = delivered_at(key)
            if delivered is None or delivered >= since:
                keys.append(key)
        missing = [key for key in keys if key not in self._cache]
        for key, body in zip(missing, get_many(self._objects, missing), strict=True):
            self._cache[key] = parse_stream_object(body, key)
        self.stats.objects_read = len(missing)
        merged: dict[MetricKey, dict[datetime, StatisticSet]] = {}
        for key in keys:
            parsed = self._cache[key]
            self._cache.move_to_end(key)
            self.stats.malformed_lines += parsed.malformed
            for metric in wanted & parsed.updates.keys():
                merged.setdefault(metric, {}).update(parsed.updates[metric])
        while len(self._cache) > max(self._cached_objects, len(keys)):
            self._cache.popitem(last=False)
        return merged
