"""In-memory twins of every adapter: the same behaviour without AWS, for the replay, local runs and tests.

Where the adapter's logic is worth keeping (batching, pagination, retries, Parquet layout, item
layout and conditions), the twin is *the adapter itself* over an in-memory stand-in of the service:

- :class:`InMemoryCloudWatch` → ``CloudWatchMetricsSource`` / ``CloudWatchMetricsPublisher``
  (limits of 500 queries and 1,000 data per call, ``MaxDatapoints`` pagination with ``NextToken``);
- :class:`InMemoryObjects` → ``S3Store`` (no overwrite);
- :class:`InMemoryTrackerRecords`: ``TrackerRecords`` with S3's conditional writes (``IfMatch`` ETag /
  ``IfNoneMatch='*'``) evaluated in Python;
- :class:`InMemoryEventBus` → ``EventBridgePublisher`` (10 entries per call, injectable entry failures);
- :class:`InMemoryItems` → ``DynamoStateStore`` (the same conditional writes, evaluated in Python).

:class:`InMemoryCapacity` implements ``CapacityApi`` directly and can be told to fail N times.
``tests/contract/`` runs one suite over each twin and the real adapter on moto's server (and DynamoDB
Local), which is what makes the twins trustworthy for the replay.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from events.base import BusEvent, E, parse_envelope
from functions.adapters.capacity import check_bounds, check_desired
from functions.adapters.cloudwatch import MAX_DATUMS_PER_CALL, MAX_QUERIES_PER_CALL
from functions.adapters.dynamodb import (
    DEFAULT_EVENT_RETENTION,
    Condition,
    ConditionFailedError,
    DynamoStateStore,
    TableNames,
    from_item,
    to_item,
)
from functions.adapters.eventbridge import MAX_ENTRIES_PER_CALL, EventBridgePublisher
from functions.adapters.s3 import S3Store
from functions.adapters.tracker_records import tracker_key
from functions.domain.clock import Clock, SystemClock
from functions.domain.target import ScalingTarget
from functions.ports.archive import ObjectExistsError
from functions.ports.capacity import CONSENT_TAG_KEY, CONSENT_TAG_VALUE, CapacityError, CapacitySnapshot, consents
from functions.ports.errors import ConflictError, NotFoundError
from functions.ports.tracker import StoredRecord

_QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,2})?)$")


def _client_error(operation: str, code: str, message: str) -> ClientError:
    """The error botocore would raise, so the adapters' error handling runs unchanged."""
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


# --------------------------------------------------------------------------- CloudWatch


def statistic(name: str, values: list[float]) -> float:
    """A CloudWatch statistic of one period's samples (percentiles: nearest rank)."""
    if name == "SampleCount":
        return float(len(values))
    if name == "Sum":
        return math.fsum(values)
    if name == "Average":
        return math.fsum(values) / len(values)
    if name == "Minimum":
        return min(values)
    if name == "Maximum":
        return max(values)
    match = _PERCENTILE.match(name)
    if match:
        ordered = sorted(values)
        rank = max(1, math.ceil(float(match.group(1)) / 100 * len(ordered)))
        return ordered[rank - 1]
    raise ValueError(f"statistic: {name!r} is not supported")


@dataclass(frozen=True)
class _Sample:
    namespace: str
    name: str
    dimensions: frozenset[tuple[str, str]]
    timestamp: datetime
    value: float


class InMemoryCloudWatch:
    """The subset of the CloudWatch API forescale uses, with the service's limits and pagination.

    Metric math is not evaluated: give an expression's series with :meth:`define_expression`.
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        """``clock`` stamps data sent without ``Timestamp``."""
        self._clock = clock or SystemClock()
        self._samples: list[_Sample] = []
        self._expressions: dict[str, dict[datetime, float]] = {}
        self._lock = threading.Lock()
        #: Operation names of every call, in order (tests count batches and pages with it).
        self.calls: list[str] = []

    def define_expression(self, expression: str, points: Mapping[datetime, float]) -> None:
        self._expressions[expression] = {t.astimezone(UTC): float(v) for t, v in points.items()}

    def put_metric_data(self, *, Namespace: str, MetricData: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append("PutMetricData")
        if len(MetricData) > MAX_DATUMS_PER_CALL:
            raise _client_error(
                "PutMetricData", "InvalidParameterValue", f"at most {MAX_DATUMS_PER_CALL} metric data per call"
            )
        samples = []
        for index, datum in enumerate(MetricData, start=1):
            value = float(datum["Value"])
            if not math.isfinite(value):
                raise _client_error(
                    "PutMetricData", "InvalidParameterValue", f"MetricData.member.{index}.Value is invalid"
                )
            stamp = datum.get("Timestamp") or self._clock.now()
            samples.append(
                _Sample(
                    Namespace,
                    datum["MetricName"],
                    frozenset((d["Name"], d["Value"]) for d in datum.get("Dimensions", [])),
                    stamp.astimezone(UTC),
                    value,
                )
            )
        with self._lock:
            self._samples.extend(samples)
        return {}

    def _evaluate(self, query: dict[str, Any], start: datetime, end: datetime) -> list[tuple[datetime, float]]:
        if "Expression" in query:
            points = self._expressions.get(query["Expression"])
            if points is None:
                raise _client_error(
                    "GetMetricData",
                    "ValidationError",
                    f"the in-memory CloudWatch does not evaluate metric math: define_expression({query['Expression']!r}, ...) first",
                )
            return sorted((t, v) for t, v in points.items() if start <= t < end)
        stat = query["MetricStat"]
        metric = stat["Metric"]
        period = timedelta(seconds=int(stat["Period"]))
        dims = frozenset((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))
        buckets: dict[datetime, list[float]] = {}
        with self._lock:
            samples = list(self._samples)
        for sample in samples:
            if (
                sample.namespace == metric["Namespace"]
                and sample.name == metric["MetricName"]
                and sample.dimensions == dims
                and start <= sample.timestamp < end
            ):
                bucket = start + period * ((sample.timestamp - start) // period)
                buckets.setdefault(bucket, []).append(sample.value)
        return [(t, statistic(stat["Stat"], values)) for t, values in sorted(buckets.items())]

    def get_metric_data(
        self,
        *,
        MetricDataQueries: list[dict[str, Any]],  # noqa: N803
        StartTime: datetime,  # noqa: N803
        EndTime: datetime,  # noqa: N803
        ScanBy: str = "TimestampDescending",  # noqa: N803
        NextToken: str | None = None,  # noqa: N803
        MaxDatapoints: int = 100_800,  # noqa: N803
    ) -> dict[str, Any]:
        self.calls.append("GetMetricData")
        if len(MetricDataQueries) > MAX_QUERIES_PER_CALL:
            raise _client_error(
                "GetMetricData", "ValidationError", f"at most {MAX_QUERIES_PER_CALL} MetricDataQueries per call"
            )
        ids = [q["Id"] for q in MetricDataQueries]
        if len(set(ids)) != len(ids) or not all(_QUERY_ID.match(i) for i in ids):
            raise _client_error(
                "GetMetricData", "ValidationError", "query ids must be unique and match ^[a-z][a-zA-Z0-9_]*$"
            )
        start = StartTime.astimezone(UTC).replace(second=0, microsecond=0)
        end = EndTime.astimezone(UTC)
        if end <= start:
            raise _client_error(
                "GetMetricData", "ValidationError", "The parameter EndTime must be greater than StartTime."
            )
        # Flatten (query, point) pairs; a page is a slice of MaxDatapoints of them, as the service pages.
        flat: list[tuple[str, datetime, float]] = []
        for query in MetricDataQueries:
            points = self._evaluate(query, start, end)
            if ScanBy == "TimestampDescending":
                points.reverse()
            flat.extend((query["Id"], t, v) for t, v in points)
        offset = 0
        if NextToken is not None:
            if not NextToken.startswith("page-"):
                raise _client_error("GetMetricData", "InvalidNextToken", "The service found NextToken invalid.")
            offset = int(NextToken.removeprefix("page-"))
        page = flat[offset : offset + MaxDatapoints]
        more = offset + MaxDatapoints < len(flat)
        last_index = {qid: i for i, (qid, _, _) in enumerate(flat)}
        results: dict[str, dict[str, Any]] = {}
        for position, (qid, stamp, value) in enumerate(page, start=offset):
            result = results.setdefault(
                qid, {"Id": qid, "Label": qid, "Timestamps": [], "Values": [], "StatusCode": "Complete"}
            )
            result["Timestamps"].append(stamp)
            result["Values"].append(value)
            if last_index[qid] > position:
                result["StatusCode"] = "PartialData"
        if not more:  # queries without any point still get an (empty) result
            for qid in ids:
                if qid not in last_index:
                    results[qid] = {"Id": qid, "Label": qid, "Timestamps": [], "Values": [], "StatusCode": "Complete"}
        response: dict[str, Any] = {"MetricDataResults": list(results.values()), "Messages": []}
        if more:
            response["NextToken"] = f"page-{offset + MaxDatapoints}"
        return response


# --------------------------------------------------------------------------- S3


class InMemoryObjects:
    """:class:`functions.ports.archive.ObjectStore` in a dict; refuses to overwrite, like ``IfNoneMatch='*'``."""

    def __init__(self, bucket: str = "forescale-memory") -> None:
        self.bucket = bucket
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put_new(self, key: str, body: bytes, *, content_type: str = "application/octet-stream") -> None:
        with self._lock:
            if key in self._objects:
                raise ObjectExistsError(key)
            self._objects[key] = bytes(body)

    def get(self, key: str) -> bytes:
        try:
            return self._objects[key]
        except KeyError:
            raise NotFoundError("object", key) from None

    def list_keys(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        with self._lock:
            keys = sorted(k for k in self._objects if k.startswith(prefix) and k > start_after)
        yield from keys

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


class InMemoryS3Store(S3Store):
    """``S3Store`` over :class:`InMemoryObjects`."""

    def __init__(self, bucket: str = "forescale-memory") -> None:
        super().__init__(InMemoryObjects(bucket))


class InMemoryTrackerRecords:
    """:class:`functions.ports.tracker.TrackerRecords` in a dict, versions being S3's ETags (MD5)."""

    def __init__(self) -> None:
        self._records: dict[str, StoredRecord] = {}
        self._lock = threading.Lock()

    def get(self, target_id: str) -> StoredRecord | None:
        return self._records.get(target_id)

    def put(self, target_id: str, body: bytes, expected_version: str | None) -> str:
        with self._lock:
            current = self._records.get(target_id)
            if (None if current is None else current.version) != expected_version:
                raise ConflictError("forecast record", tracker_key(target_id), f"expected version {expected_version}")
            version = f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'
            self._records[target_id] = StoredRecord(bytes(body), version)
            return version


class InMemoryOperatorConfig:
    """:class:`functions.ports.operator_config.OperatorConfigStore` in memory, versions being S3's ETags (MD5)."""

    def __init__(self) -> None:
        self._stored: StoredRecord | None = None
        self._lock = threading.Lock()

    def load(self) -> StoredRecord | None:
        return self._stored

    def save(self, body: bytes, expected_version: str | None) -> str:
        with self._lock:
            if (None if self._stored is None else self._stored.version) != expected_version:
                raise ConflictError("operator configuration", "memory", f"expected {expected_version}")
            version = f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'
            self._stored = StoredRecord(bytes(body), version)
            return version


# --------------------------------------------------------------------------- EventBridge


class InMemoryEventBus:
    """``PutEvents`` in memory: delivers envelopes to a list (and to subscribers), fails entries on request."""

    def __init__(
        self,
        *,
        buses: tuple[str, ...] = ("default", "forescale"),
        account: str = "123456789012",
        region: str = "us-east-1",
        clock: Clock | None = None,
    ) -> None:
        """``buses`` exist from the start (more via ``create_event_bus``); ``clock`` stamps entries without ``Time``."""
        self.buses = set(buses)
        self.account = account
        self.region = region
        self._clock = clock or SystemClock()
        #: Every delivered event as the full envelope EventBridge would deliver.
        self.envelopes: list[dict[str, Any]] = []
        #: Number of entries in each PutEvents call, in order.
        self.calls: list[int] = []
        self._failures: list[tuple[str, str]] = []
        self._subscribers: list[Callable[[dict[str, Any]], None]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def fail_next(self, count: int, code: str = "InternalFailure", message: str = "injected failure") -> None:
        """The next ``count`` entries sent (in any call) fail with ``code``."""
        self._failures.extend([(code, message)] * count)

    def subscribe(self, handler: Callable[[dict[str, Any]], None]) -> None:
        """Call ``handler(envelope)`` for every delivered event (the local router hooks in here)."""
        self._subscribers.append(handler)

    def create_event_bus(self, *, Name: str) -> dict[str, Any]:  # noqa: N803
        self.buses.add(Name)
        return {"EventBusArn": f"arn:aws:events:{self.region}:{self.account}:event-bus/{Name}"}

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(len(Entries))
        for entry in Entries:
            bus = str(entry.get("EventBusName") or "default").rsplit("/", 1)[-1]
            if bus not in self.buses:
                raise _client_error("PutEvents", "ResourceNotFoundException", f"Event bus {bus} does not exist.")
        if len(Entries) > MAX_ENTRIES_PER_CALL:
            raise _client_error(
                "PutEvents",
                "ValidationException",
                f"Member must have length less than or equal to {MAX_ENTRIES_PER_CALL}",
            )
        results: list[dict[str, Any]] = []
        delivered: list[dict[str, Any]] = []
        with self._lock:
            for entry in Entries:
                if self._failures:
                    code, message = self._failures.pop(0)
                    results.append({"ErrorCode": code, "ErrorMessage": message})
                    continue
                missing = [k for k in ("Source", "DetailType", "Detail") if not entry.get(k)]
                if missing:
                    results.append(
                        {"ErrorCode": "InvalidArgument", "ErrorMessage": f"Parameter {missing[0]} is not valid."}
                    )
                    continue
                try:
                    detail = json.loads(entry["Detail"])
                except ValueError:
                    detail = None
                if not isinstance(detail, dict):
                    results.append({"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."})
                    continue
                event_id = str(uuid.UUID(int=next(self._ids)))
                stamp = entry.get("Time") or self._clock.now()
                envelope = {
                    "version": "0",
                    "id": event_id,
                    "detail-type": entry["DetailType"],
                    "source": entry["Source"],
                    "account": self.account,
                    "time": stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "region": self.region,
                    "resources": list(entry.get("Resources", [])),
                    "detail": detail,
                }
                self.envelopes.append(envelope)
                delivered.append(envelope)
                results.append({"EventId": event_id})
        for envelope in delivered:
            for handler in self._subscribers:
                handler(envelope)
        failed = sum(1 for r in results if "ErrorCode" in r)
        return {"FailedEntryCount": failed, "Entries": results}

    def published(self, contract: type[E]) -> list[E]:
        """Delivered events of one contract, parsed."""
        return [
            parse_envelope(contract, envelope)
            for envelope in self.envelopes
            if envelope["source"] == contract.SOURCE and envelope["detail-type"] == contract.DETAIL_TYPE
        ]


class InMemoryEventPublisher(EventBridgePublisher):
    """``EventBridgePublisher`` over an :class:`InMemoryEventBus`; never sleeps unless told to."""

    def __init__(
        self,
        bus: InMemoryEventBus | None = None,
        *,
        bus_name: str = "forescale",
        max_attempts: int = 5,
        sleep: Callable[[float], None] = lambda _seconds: None,
    ) -> None:
        self.bus = bus or InMemoryEventBus(buses=("default", bus_name))
        super().__init__(self.bus, bus_name=bus_name, max_attempts=max_attempts, sleep=sleep)

    def events(self) -> list[BusEvent]:
        """Every delivered event parsed back into its contract."""
        from events.contracts import ALL_CONTRACTS

        by_key = {(c.SOURCE, c.DETAIL_TYPE): c for c in ALL_CONTRACTS}
        return [
            parse_envelope(by_key[(e["source"], e["detail-type"])], e)
            for e in self.bus.envelopes
            if (e["source"], e["detail-type"]) in by_key
        ]


# --------------------------------------------------------------------------- DynamoDB


class InMemoryItems:
    """:class:`functions.adapters.dynamodb.ItemEngine` in dicts, values coerced exactly as DynamoDB stores them."""

    def __init__(self) -> None:
        self._tables: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, table: str, pk: str, sk: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._tables.get(table, {}).get((pk, sk))
            return None if item is None else dict(item)

    def put(self, table: str, values: Mapping[str, Any], condition: Condition | None = None) -> None:
        stored = from_item(to_item(values))  # the same coercions (and refusals) as the real table
        key = (stored["pk"], stored["sk"])
        with self._lock:
            rows = self._tables.setdefault(table, {})
            existing = rows.get(key)
            if condition is not None and not _holds(condition, existing):
                raise ConditionFailedError
            rows[key] = stored

    def query(self, table: str, pk: str, low: str, high: str) -> Iterator[dict[str, Any]]:
        with self._lock:
            rows = [dict(item) for (p, s), item in self._tables.get(table, {}).items() if p == pk and low <= s <= high]
        yield from sorted(rows, key=lambda item: item["sk"])


def _holds(condition: Condition, existing: Mapping[str, Any] | None) -> bool:
    if condition.kind == "absent":
        return existing is None
    if condition.kind == "equals":
        return existing is not None and existing.get(condition.attribute) == condition.value
    if condition.kind == "absent_or_at_most":
        return existing is None or (
            condition.attribute in existing and existing[condition.attribute] <= condition.value
        )
    raise ValueError(f"condition: unknown kind {condition.kind!r}")


class InMemoryStateStore(DynamoStateStore):
    """``DynamoStateStore`` over :class:`InMemoryItems` (same layout, conditions and errors)."""

    def __init__(self, *, event_retention: timedelta = DEFAULT_EVENT_RETENTION) -> None:
        self._setup(InMemoryItems(), TableNames.with_prefix("memory"), event_retention)


# --------------------------------------------------------------------------- capacity


@dataclass
class _Resource:
    desired: int
    in_service: int
    min_capacity: int | None
    max_capacity: int | None
    tags: dict[str, str] = field(default_factory=lambda: {CONSENT_TAG_KEY: CONSENT_TAG_VALUE})


@dataclass
class InMemoryCapacity:
    """``CapacityApi`` for both kinds in memory; in-service follows desired at once unless set.

    ``fail_next(n)`` makes the next ``n`` calls raise :class:`CapacityError` (throttling by default),
    for the executor's retry and rollback paths.
    """

    resources: dict[str, _Resource] = field(default_factory=dict)
    #: Every call as ``(operation, resource_id, arguments)``.
    calls: list[tuple[str, str, tuple[int, ...]]] = field(default_factory=list)
    _failures: list[CapacityError] = field(default_factory=list)

    def add_asg(
        self, name: str, *, desired: int, min_capacity: int, max_capacity: int, tags: dict[str, str] | None = None
    ) -> None:
        """A group; ``tags`` default to the consent tag (a group the operator opted in)."""
        check_bounds(min_capacity, max_capacity)
        self.resources[name] = _Resource(desired, desired, min_capacity, max_capacity)
        if tags is not None:
            self.resources[name].tags = dict(tags)

    def add_ecs_service(
        self,
        cluster: str,
        service: str,
        *,
        desired: int,
        min_capacity: int | None = None,
        max_capacity: int | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """An ECS service; bounds only when a scalable target is registered (else the target's config is used);
        ``tags`` default to the consent tag."""
        resource = _Resource(desired, desired, min_capacity, max_capacity)
        if tags is not None:
            resource.tags = dict(tags)
        self.resources[f"service/{cluster}/{service}"] = resource

    def set_in_service(self, resource_id: str, in_service: int) -> None:
        """Simulate instances still booting (or failing): in-service apart from desired."""
        self.resources[resource_id].in_service = in_service

    def fail_next(self, count: int, code: str = "Throttling", message: str = "injected failure") -> None:
        self._failures.extend(CapacityError(code, message) for _ in range(count))

    def _enter(self, operation: str, target: ScalingTarget, *args: int) -> _Resource:
        self.calls.append((operation, target.resource_id, args))
        if self._failures:
            raise self._failures.pop(0)
        resource = self.resources.get(target.resource_id)
        if resource is None:
            raise CapacityError(
                "NotFound", f"{target.kind} resource {target.resource_id!r} does not exist", retryable=False
            )
        return resource

    def _snapshot(self, target: ScalingTarget, resource: _Resource) -> CapacitySnapshot:
        return CapacitySnapshot(
            desired=resource.desired,
            in_service=resource.in_service,
            min_capacity=target.min_capacity if resource.min_capacity is None else resource.min_capacity,
            max_capacity=target.max_capacity if resource.max_capacity is None else resource.max_capacity,
            consented=consents(resource.tags),
        )

    def describe(self, target: ScalingTarget) -> CapacitySnapshot:
        return self._snapshot(target, self._enter("describe", target))

    def set_desired(self, target: ScalingTarget, desired: int) -> None:
        resource = self._enter("set_desired", target, desired)
        check_desired(target, self._snapshot(target, resource), desired)
        resource.desired = resource.in_service = desired

    def set_bounds(self, target: ScalingTarget, *, min_capacity: int, max_capacity: int) -> None:
        check_bounds(min_capacity, max_capacity)
        resource = self._enter("set_bounds", target, min_capacity, max_capacity)
        resource.min_capacity, resource.max_capacity = min_capacity, max_capacity
        resource.desired = resource.in_service = max(min_capacity, min(max_capacity, resource.desired))
