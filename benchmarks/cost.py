"""Requests a simulated day of the whole pipeline sends, counted on the in-memory twins, and what they cost.

``python -m benchmarks.pipeline --scenarios cost`` runs it: ``--cost-targets`` ASG targets (1-minute load
metric, the default 300 s decision interval, ``direct`` mode) with ``--history-days`` of stored history, then
``--cost-hours`` of 1-minute rounds through the Lambda handlers in one process (collector on the schedule,
then every event the router carries: forecaster, decider, executor, and the collector's own shard
invocations), and one trainer run (the daily schedule). Every request to a twin is counted as AWS would
bill it:

- S3 ``PUT``/``GET``/``LIST`` (a listing is one request per 1,000 keys), the tracker records included;
- DynamoDB read and write units (items sized as DynamoDB sizes them: names + values; strongly consistent
  reads by 4 KB, writes by 1 KB, a query by the sum of its items), the idempotency table included;
- CloudWatch ``GetMetricData`` metrics and requests, ``PutMetricData`` requests, and the custom metrics
  the code emits (each distinct name and dimensions is one metric a month; EMF lines are log bytes);
- EventBridge entries (each 64 KB chunk of an entry is one event);
- Lambda invocations and the handlers' own time per function (measured in this process: no network wait,
  and under contention on a shared machine), priced at each function's memory size.

With ``stream=True`` the collector reads a CloudWatch metric stream (``functions.adapters.metric_stream``):
each minute the simulated stream delivers one object, as Firehose with 60 s buffering would, holding every
target's update of two minutes before (the minute closes, then the buffer), written through the counted
store (Firehose's own S3 ``PUT``), and counted as metric updates and Firehose ingestion. Firehose bills
each record rounded up to 5 KB and the stream's packing of updates into records is not documented: the
count assumes the worst case, one update per record (5 KB each); the lines' real bytes are counted too.
The collector's ``LIST``/``GET`` of the objects are counted like any other S3 request (one process keeps
one warm container's parsed objects: each round reads only the newest object).

The day is run twice, with ``--cost-targets`` and with ``--cost-small`` targets: the fixed part of a
deployment is what the line through the two costs leaves at zero targets, and the rest is per target.
Prices are public us-east-1 list prices (arm64 Lambda); see :data:`PRICES`.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)

#: us-east-1 list prices (USD).
PRICES: dict[str, float] = {
    "lambda_gb_second": 0.0000133334,  # arm64
    "lambda_request": 0.20 / 1e6,
    "s3_put_or_list": 0.005 / 1000,
    "s3_get": 0.0004 / 1000,
    "dynamodb_write_unit": 0.625 / 1e6,
    "dynamodb_read_unit": 0.125 / 1e6,
    "getmetricdata_metric": 0.01 / 1000,
    "metric_stream_update": 0.003 / 1000,
    "firehose_ingested_gb": 0.029,
    "putmetricdata_request": 0.01 / 1000,
    "custom_metric_month": 0.30,
    "eventbridge_event": 1.00 / 1e6,
    "scheduler_invocation": 1.00 / 1e6,
    "logs_ingested_gb": 0.50,
    "s3_storage_gb_month": 0.023,
}
#: Bytes of one EMF line (one metric, its dimensions and the envelope), for the log ingestion line.
EMF_LINE_BYTES = 350
#: Firehose bills each record rounded up to this; the count assumes one stream update per record (worst case).
FIREHOSE_RECORD_BYTES = 5 * 1024
#: The stream's delay behind GetMetricData: a minute's update is delivered this long after the minute begins.
STREAM_DELAY = timedelta(minutes=2)
DAYS_PER_MONTH = 30
QUIET = {"POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "ERROR"}


# --------------------------------------------------------------------------- counting twins


@dataclass
class Tally:
    """Every billable request of the run, by kind."""

    counts: Counter[str] = field(default_factory=Counter)
    #: distinct (name, dimensions) of the custom metrics emitted
    metrics: set[tuple[str, str]] = field(default_factory=set)
    seconds: Counter[str] = field(default_factory=Counter)
    invocations: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, amount: float = 1) -> None:
        self.counts[kind] += amount  # type: ignore[assignment]


class CountingObjects:
    """An object store that counts S3 requests (``PUT``, ``GET``, ``LIST`` pages of 1,000 keys)."""

    def __init__(self, inner: Any, tally: Tally) -> None:
        self.inner, self.tally = inner, tally
        self.bucket = getattr(inner, "bucket", "memory")

    def put_new(self, key: str, body: bytes, *, content_type: str = "application/octet-stream") -> None:
        self.tally.add("s3_put")
        self.tally.add("by_prefix:s3_put:" + key.split("/", 1)[0])
        self.tally.add("by_prefix:s3_put_bytes:" + key.split("/", 1)[0], len(body))
        self.inner.put_new(key, body, content_type=content_type)
        if "/compacted/" in key:
            # Superseded generations are never read again: the bench drops their bodies to stay in memory
            # (their bytes are counted above; S3 would keep them until the lifecycle expires them).
            prefix = key.rsplit("/", 1)[0] + "/"
            for old in list(self.inner.list_keys(prefix, start_after=key)):
                self.inner._objects.pop(old, None)

    def get(self, key: str) -> bytes:
        self.tally.add("s3_get")
        self.tally.add("by_prefix:s3_get:" + key.split("/", 1)[0])
        body: bytes = self.inner.get(key)
        return body

    def list_keys(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        self.tally.add("s3_list")
        self.tally.add("by_prefix:s3_list:" + prefix.split("/", 1)[0])
        for number, key in enumerate(self.inner.list_keys(prefix, start_after=start_after), start=1):
            if number % 1000 == 0:
                self.tally.add("s3_list")  # the next page
            yield key

    def uri(self, key: str) -> str:
        return str(self.inner.uri(key))


class CountingTrackerRecords:
    """The decider's forecast records (one S3 object per target, replaced with If-Match): GET and PUT."""

    def __init__(self, inner: Any, tally: Tally) -> None:
        self.inner, self.tally = inner, tally

    def get(self, target_id: str) -> Any:
        self.tally.add("s3_get")
        self.tally.add("by_prefix:s3_get:tracker")
        return self.inner.get(target_id)

    def put(self, target_id: str, body: bytes, expected_version: str | None) -> str:
        self.tally.add("s3_put")
        self.tally.add("by_prefix:s3_put:tracker")
        self.tally.add("by_prefix:s3_put_bytes:tracker", len(body))
        return str(self.inner.put(target_id, body, expected_version))


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes of a DynamoDB item as DynamoDB sizes it (attribute names and values; AttributeValue form)."""

    def value_size(value: Mapping[str, Any]) -> int:
        ((kind, inner),) = value.items()
        if kind == "S":
            return len(str(inner).encode())
        if kind == "N":
            digits = len(str(inner).lstrip("-").replace(".", "").lstrip("0")) or 1
            return 1 + math.ceil(digits / 2)
        if kind == "B":
            return len(inner)
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "M":
            return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
        if kind == "L":
            return 3 + sum(value_size(v) + 1 for v in inner)
        if kind in ("SS", "NS", "BS"):
            return sum(len(str(v).encode()) for v in inner)
        raise TypeError(kind)

    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


class IndexedItems:
    """:class:`forescale_tools.memory.InMemoryItems` with an index per partition key (a day of 1,000 targets
    is hundreds of thousands of items) that counts read and write units as on-demand DynamoDB bills them."""

    def __init__(self, tally: Tally) -> None:
        import threading

        self.tally = tally
        self._tables: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def _units(self, kind: str, values: Mapping[str, Any] | None, per: int) -> None:
        from functions.adapters.dynamodb_codec import to_item

        size = item_size(to_item(values)) if values else 0
        self.tally.add(kind, max(1, math.ceil(size / per)))

    def get(self, table: str, pk: str, sk: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._tables.get((table, pk), {}).get(sk)
        self._units("dynamodb_read_units", item, 4096)
        self.tally.add("dynamodb_get")
        return None if item is None else dict(item)

    def put(self, table: str, values: Mapping[str, Any], condition: Any = None) -> None:
        from forescale_tools.memory import _holds
        from functions.adapters.dynamodb import ConditionFailedError
        from functions.adapters.dynamodb_codec import from_item, to_item

        stored = from_item(to_item(values))
        self._units("dynamodb_write_units", stored, 1024)
        self.tally.add("dynamodb_put")
        self.tally.add(f"by_prefix:dynamodb_put:{table.rsplit('-', 1)[-1]}")
        with self._lock:
            rows = self._tables.setdefault((table, stored["pk"]), {})
            if condition is not None and not _holds(condition, rows.get(stored["sk"])):
                raise ConditionFailedError
            rows[stored["sk"]] = stored

    def query(self, table: str, pk: str, low: str, high: str) -> Iterator[dict[str, Any]]:
        from functions.adapters.dynamodb_codec import to_item

        with self._lock:
            rows = [dict(item) for sk, item in self._tables.get((table, pk), {}).items() if low <= sk <= high]
        size = sum(item_size(to_item(row)) for row in rows)
        self.tally.add("dynamodb_read_units", max(1, math.ceil(size / 4096)))
        self.tally.add("dynamodb_query")
        yield from sorted(rows, key=lambda item: item["sk"])


def count_idempotency(layer: Any, tally: Tally) -> None:
    """Powertools' idempotency records (a DynamoDB table deployed): each put, update and delete is a write of
    the record (1 KB units of its response), each get a strongly consistent read."""

    def wrap(name: str, kind: str) -> None:
        original = getattr(layer, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            record = (list(args) + list(kwargs.values()) or [None])[0]
            size = 100 + len(str(getattr(record, "response_data", "") or ""))
            tally.add(kind, max(1, math.ceil(size / (4096 if kind.endswith("read_units") else 1024))))
            tally.add("dynamodb_idempotency")
            return original(*args, **kwargs)

        setattr(layer, name, counted)

    for name in ("_put_record", "_update_record", "_delete_record"):
        wrap(name, "dynamodb_write_units")
    wrap("_get_record", "dynamodb_read_units")


def synthetic_load(target_index: int, at: datetime) -> float:
    """A daily cycle per target (phases spread over the fleet), so that some scale out while others scale in."""
    day = (at - START).total_seconds() / 86_400
    level = 150.0 + 10.0 * (target_index % 40)
    return level * (1.0 + 0.5 * math.sin(2 * math.pi * (day + target_index / 97)))


def counting_cloudwatch(tally: Tally) -> Any:
    """The in-memory CloudWatch with load computed instead of stored (``Bench/Load``, dimension ``Target``)
    and every request counted: ``GetMetricData`` by metric, ``PutMetricData`` by request."""
    from forescale_tools.memory import InMemoryCloudWatch

    class CountingCloudWatch(InMemoryCloudWatch):
        def _evaluate(self, query: dict[str, Any], start: datetime, end: datetime) -> list[tuple[datetime, float]]:
            stat = query["MetricStat"]
            dims = {d["Name"]: d["Value"] for d in stat["Metric"].get("Dimensions", [])}
            index = int(dims["Target"].rsplit("-", 1)[-1])
            period = timedelta(seconds=int(stat["Period"]))
            points, at = [], start
            while at < end:
                points.append((at, synthetic_load(index, at)))
                at += period
            return points

        def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
            if kwargs.get("NextToken") is None:
                tally.add("getmetricdata_metrics", len(kwargs["MetricDataQueries"]))
            tally.add("getmetricdata_requests")
            return super().get_metric_data(**kwargs)

        def put_metric_data(self, *, Namespace: str, MetricData: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
            tally.add("putmetricdata_requests")
            for datum in MetricData:
                dims = json.dumps(sorted((d["Name"], d["Value"]) for d in datum.get("Dimensions", [])))
                tally.metrics.add((f"{Namespace}/{datum['MetricName']}", dims))
            return {}

    return CountingCloudWatch()


@dataclass
class CountingSink:
    """The services' custom metrics (EMF in Lambda): distinct metrics and lines."""

    tally: Tally

    def emit(self, name: str, value: float, *, unit: str = "None", target_id: str | None = None) -> None:
        self.tally.metrics.add((name, "" if target_id is None else f"TargetId={target_id}"))
        self.tally.add("emf_lines")


# --------------------------------------------------------------------------- the simulated day


def _targets(count: int) -> list[Any]:
    from functions.domain.target import LoadMetric, ScalingTarget

    return [
        ScalingTarget(
            target_id=f"t{i:05d}",
            kind="asg",
            asg_name=f"group-{i:05d}",
            metric=LoadMetric(namespace="Bench/Load", name="Requests", dimensions={"Target": f"load-{i}"}),
            capacity_per_instance=100.0,
            min_capacity=1,
            max_capacity=40,
            mode="direct",
        )
        for i in range(count)
    ]


def stream_delivery(objects: Any, configured: list[Any], tally: Tally) -> Callable[[datetime], None]:
    """``deliver(at)``: the object the metric stream's Firehose writes at ``at``, every target's update of
    ``at - STREAM_DELAY``, counted as metric updates and Firehose ingestion."""
    from forescale_tools.metric_stream import FirehoseDelivery, stream_line

    firehose = FirehoseDelivery(objects)

    def deliver(at: datetime) -> None:
        minute = at - STREAM_DELAY
        lines = []
        for index, target in enumerate(configured):
            metric = target.metric
            load = synthetic_load(index, minute)
            lines.append(stream_line(metric.namespace, metric.name, metric.dimensions, minute, [load]))
        tally.add("metric_stream_updates", len(lines))
        tally.add("firehose_billed_bytes", len(lines) * FIREHOSE_RECORD_BYTES)
        tally.add("firehose_line_bytes", sum(len(line) + 1 for line in lines))
        firehose.deliver(at, lines)

    return deliver


def simulate(
    targets: int,
    hours: float,
    history_days: float,
    *,
    train: bool = True,
    warmup_minutes: int = 5,
    stream: bool = False,
) -> dict[str, Any]:
    """One run: seed, ``warmup_minutes`` of rounds not counted, then ``hours`` of counted 1-minute rounds and (with
    ``train``) one trainer run; returns the counts. ``stream``: the collector reads a metric stream."""
    import os

    import numpy as np
    import pandas as pd

    from forescale_tools.local_router import memory_world
    from functions import wiring
    from functions.domain.clock import FixedClock
    from functions.handlers import observability
    from models.config import ForecastConfig

    os.environ.update(QUIET)
    tally = Tally()
    configured = _targets(targets)
    clock = FixedClock(START)
    world = memory_world(
        configured,
        clock=clock,
        sink=CountingSink(tally),
        forecast_config=ForecastConfig(models=("SeasonalNaive",), backtest_every_minutes=360),
        forecast_history_days=history_days,
    )
    world.router.keep_history = False
    objects = CountingObjects(world.objects, tally)
    store = world.store
    store._items = IndexedItems(tally)  # the bench's own engine, same layout
    from functions.adapters.s3 import S3Store

    archive = S3Store(objects)
    cloudwatch = counting_cloudwatch(tally)
    from functions.adapters.cloudwatch import CloudWatchMetricsPublisher, CloudWatchMetricsSource

    metrics_source: Any = CloudWatchMetricsSource(cloudwatch)
    deliver: Callable[[datetime], None] | None = None
    if stream:
        from functions.adapters.metric_stream import StreamMetricsSource

        metrics_source = StreamMetricsSource(objects, fallback=metrics_source)
        deliver = stream_delivery(objects, configured, tally)
        for minute in range(-15, 0):  # the stream was running before the measured rounds
            deliver(START + timedelta(minutes=minute))
    world.components = world.components.replaced(
        objects=objects,
        archive=archive,
        tracker_records=CountingTrackerRecords(world.tracker_records, tally),
        metrics_source=metrics_source,
        metrics_publisher=CloudWatchMetricsPublisher(cloudwatch),
    )
    for target in configured:
        world.capacity.add_asg(target.asg_name or "", desired=3, min_capacity=1, max_capacity=40)
    # history as the collector would have stored it (one round per day, compacted for good)
    ds = pd.date_range(
        (START - timedelta(days=history_days)).replace(tzinfo=None), START.replace(tzinfo=None), freq="60s"
    )[:-1]
    for day, stamps in pd.Series(ds).groupby(ds.date):
        days = (stamps.to_numpy() - np.datetime64(START.replace(tzinfo=None))) / np.timedelta64(86_400, "s")
        frames = {
            t.target_id: pd.DataFrame(
                {
                    "ds": stamps.to_numpy(),
                    "y": (150.0 + 10.0 * (i % 40)) * (1.0 + 0.5 * np.sin(2 * np.pi * (days + i / 97))),
                }
            )
            for i, t in enumerate(configured)
        }
        archive.write_histories(frames, part_id=f"{day:%Y%m%d}T000000Z-seed")
        archive.compact_days(list(frames), day, final=True)
    # every Lambda request, and the handlers' own time, by function
    for function in ("collector", "forecaster", "decider", "executor", "trainer"):
        handler = world.router.handler(function)

        def timed(event: Any, context: Any, handler: Callable[..., Any] = handler, name: str = function) -> Any:
            tally.invocations[name] += 1
            began = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                tally.seconds[name] += time.perf_counter() - began

        world.router.handlers[function] = timed
    count_idempotency(world.components.idempotency_store, tally)
    bus_calls = world.bus.calls
    original_count = observability.count

    def count(name: str, value: float) -> None:
        tally.metrics.add((name, ""))
        tally.add("emf_lines")

    counted = [m for m in list(sys.modules.values()) if getattr(m, "count", None) is original_count]
    for module in counted:
        module.count = count  # type: ignore[attr-defined]
    tally.counts.clear()
    tally.metrics.clear()
    events_before = len(bus_calls)
    started = time.perf_counter()
    try:
        with wiring.use(world.components):
            minutes = warmup_minutes + int(hours * 60)
            for minute in range(minutes):
                if minute == warmup_minutes:  # the first decisions of fresh targets are not counted
                    for counter in (tally.counts, tally.invocations, tally.seconds):
                        counter.clear()
                    tally.metrics.clear()
                    events_before = len(bus_calls)
                    started = time.perf_counter()
                clock.current = START + timedelta(minutes=minute, seconds=5)
                if deliver is not None:
                    deliver(START + timedelta(minutes=minute))
                tally.add("scheduler_invocations")
                world.router.invoke("collector", {})
                world.router.pump()
                # the twin bus keeps what it delivered for tests; the bench does not need it
                world.bus.envelopes.clear()
            trainer_counts: Counter[str] = Counter()
            if train:
                clock.current = START + timedelta(minutes=minutes, seconds=30)
                train_before = Counter(tally.counts)
                world.router.invoke("trainer", {})
                world.router.pump()
                trainer_counts = Counter(tally.counts)
                trainer_counts.subtract(train_before)
                trainer_counts["scheduler_invocations"] += 1
                tally.add("scheduler_invocations")
    finally:
        for module in counted:
            module.count = original_count  # type: ignore[attr-defined]
    tally.add("eventbridge_events", sum(bus_calls[events_before:]))
    return {
        "targets": targets,
        "stream": stream,
        "hours": hours,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "counts": dict(tally.counts),
        "trainer_counts": {k: v for k, v in trainer_counts.items() if v},
        "custom_metrics": len(tally.metrics),
        "invocations": dict(tally.invocations),
        "handler_seconds": {k: round(v, 2) for k, v in tally.seconds.items()},
        "dead_letters": len(world.router.dead_letters),
    }


# --------------------------------------------------------------------------- pricing


def monthly(run: Mapping[str, Any]) -> dict[str, float]:
    """USD a month for a deployment with ``run['targets']`` targets, from one simulated run's counts (the
    rounds scaled from ``run['hours']`` to 30 days; the trainer's run is once a day)."""
    from functions.catalog import FUNCTIONS

    memory_gb = {spec.name: spec.memory_mb / 1024 for spec in FUNCTIONS}
    counts = Counter(run["counts"])
    trainer = Counter(run.get("trainer_counts", {}))
    rounds = Counter({k: v - trainer.get(k, 0) for k, v in counts.items()})
    per_month = DAYS_PER_MONTH * 24 / run["hours"]

    def month(kind: str) -> float:
        return rounds.get(kind, 0) * per_month + trainer.get(kind, 0) * DAYS_PER_MONTH

    seconds = run["handler_seconds"]
    invocations = run["invocations"]
    gb_seconds = sum(
        seconds.get(name, 0.0) * memory_gb[name] * (DAYS_PER_MONTH if name == "trainer" else per_month)
        for name in seconds
    )
    requests = sum(v * (DAYS_PER_MONTH if k == "trainer" else per_month) for k, v in invocations.items())
    return {
        "lambda": gb_seconds * PRICES["lambda_gb_second"] + requests * PRICES["lambda_request"],
        "s3": (month("s3_put") + month("s3_list")) * PRICES["s3_put_or_list"] + month("s3_get") * PRICES["s3_get"],
        "dynamodb": month("dynamodb_write_units") * PRICES["dynamodb_write_unit"]
        + month("dynamodb_read_units") * PRICES["dynamodb_read_unit"],
        "getmetricdata": month("getmetricdata_metrics") * PRICES["getmetricdata_metric"],
        "metric_stream": month("metric_stream_updates") * PRICES["metric_stream_update"]
        + month("firehose_billed_bytes") / 1e9 * PRICES["firehose_ingested_gb"],
        "putmetricdata": month("putmetricdata_requests") * PRICES["putmetricdata_request"],
        "custom_metrics": run["custom_metrics"] * PRICES["custom_metric_month"],
        "emf_logs": month("emf_lines") * EMF_LINE_BYTES / 1e9 * PRICES["logs_ingested_gb"],
        "eventbridge": month("eventbridge_events") * PRICES["eventbridge_event"],
        "scheduler": month("scheduler_invocations") * PRICES["scheduler_invocation"],
    }


def split(large: Mapping[str, Any], small: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """(fixed per deployment, per target) by line: the line through the two runs' monthly costs."""
    big, little = monthly(large), monthly(small)
    span = large["targets"] - small["targets"]
    per_target = {k: (big[k] - little[k]) / span for k in big}
    fixed = {k: max(0.0, big[k] - per_target[k] * large["targets"]) for k in big}
    return fixed, per_target


def per_target_month(run: Mapping[str, Any]) -> dict[str, float]:
    """Monthly request counts per target (the rounds scaled to 30 days), for the README's table."""
    counts = Counter(run["counts"])
    trainer = Counter(run.get("trainer_counts", {}))
    scale = DAYS_PER_MONTH * 24 / run["hours"]
    return {
        k: ((counts[k] - trainer.get(k, 0)) * scale + trainer.get(k, 0) * DAYS_PER_MONTH) / run["targets"]
        for k in sorted(counts)
    }


def report(large: Mapping[str, Any], small: Mapping[str, Any]) -> list[str]:
    fixed, per_target = split(large, small)
    lines = [
        f"Cost of a month at 1-minute collection ({'metric stream' if large.get('stream') else 'GetMetricData only'}), "
        f"measured on {large['targets']:,} and {small['targets']:,} targets "
        f"over {large['hours']:g} simulated hours"
        + (" (+ one trainer run)" if large.get("trainer_counts") else " (no trainer run)")
        + ", us-east-1 list prices:",
        f"  {'line':<16}{'per target-month':>18}{'fixed per deployment':>24}",
    ]
    for key in per_target:
        lines.append(f"  {key:<16}{per_target[key]:>18.4f}{fixed[key]:>24.2f}")
    lines.append(f"  {'total':<16}{sum(per_target.values()):>18.4f}{sum(fixed.values()):>24.2f}")
    lines.append(f"Requests per target-month ({large['targets']:,} targets):")
    for key, value in per_target_month(large).items():
        lines.append(f"  {key:<28}{value:>14,.1f}")
    stored = per_target_month(large)
    written = {k.rsplit(":", 1)[-1]: v for k, v in stored.items() if k.startswith("by_prefix:s3_put_bytes:")}
    lines.append(
        "S3 bytes written per target-month: "
        + ", ".join(f"{prefix} {value / 1e6:,.1f} MB" for prefix, value in sorted(written.items()))
        + f"; kept a year (history 400 days, audit 365 days locked) they cost "
        f"${12 * sum(v for k, v in written.items() if k in ('history', 'audit')) / 1e9 * PRICES['s3_storage_gb_month']:.3f}"
        " per target-month in storage by then"
    )
    lines.append(
        f"Lambda: invocations {large['invocations']}, handler seconds {large['handler_seconds']} "
        f"(in one process on the twins, no network wait; shared machine), custom metrics emitted "
        f"{large['custom_metrics']} ({small['custom_metrics']} with {small['targets']} targets), dead letters "
        f"{large['dead_letters']}, wall {large['wall_seconds']} s"
    )
    return lines
