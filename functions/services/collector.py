"""The collector: every minute, each target's newest load and capacity, appended to its history in S3.

One invocation handles at most ``shard_size`` targets (500: one ``GetMetricData`` call carries 500
queries). The scheduled invocation is the *planner*: with more targets it keeps the first shard and
starts one asynchronous copy of itself per other shard, each told its target ids, so 10,000 targets
are 20 parallel invocations of 500 (a failed shard is retried by Lambda alone and blocks no other).

Each target's window is re-read every round (CloudWatch revises recent points, and a round that failed
is covered by the next): the last ``lookback`` of *complete* periods, stored as one new Parquet part
(the newest part wins per timestamp). A target's day is compacted at each of its decision-interval
boundaries, the round its forecast is made (so the forecaster reads one object per day), and once more
after the day ends. Then ``MetricsCollected`` is published
per batch of at most ``batch_size`` targets of the same period: each batch is one forecaster
invocation.

A throttled or failing CloudWatch fails the invocation (after botocore's retries) so that Lambda
retries it and then keeps it in the dead-letter queue; nothing downstream runs on a round without
data, so no target is scaled on it. A target whose metric has no new point is reported with
``metric_missing`` and the decider holds it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from events.base import EventId, TargetId
from events.contracts import MAX_LOAD, CollectedTarget, MetricsCollected
from functions.domain.capacity_model import busy_series_id, utilization_metric
from functions.domain.clock import Clock, IdSource
from functions.domain.target import ScalingTarget
from functions.ports.archive import Archive
from functions.ports.bus import EventPublisher
from functions.ports.capacity import CapacityApi, CapacityError, CapacitySnapshot
from functions.ports.invoke import Invoker
from functions.ports.metrics import MetricSeries, MetricsSource
from functions.services.common import UTILIZATION, MetricSink, NullSink, floor_time
from functions.services.targets import TargetCatalog


class CollectRequest(BaseModel):
    """What one collector invocation does: the whole round (the schedule's event), or one shard of it.

    Any other field is ignored, so the scheduler's payload (``{}`` or a scheduled-event envelope) asks
    for a whole round.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    round_id: EventId | None = None
    shard_index: int = Field(default=0, ge=0)
    shard_count: int = Field(default=1, ge=1)
    target_ids: list[TargetId] | None = Field(default=None, max_length=1000)


@dataclass
class CollectResult:
    round_id: str
    targets: int = 0
    points: int = 0
    missing: list[str] = field(default_factory=list)
    capacity_unknown: list[str] = field(default_factory=list)
    batches: int = 0
    shards_started: int = 0
    compacted: int = 0
    collected: list[CollectedTarget] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "round_id": self.round_id,
            "targets": self.targets,
            "points": self.points,
            "metric_missing": self.missing,
            "capacity_unknown": self.capacity_unknown,
            "batches": self.batches,
            "shards_started": self.shards_started,
            "compacted": self.compacted,
        }


@dataclass(frozen=True)
class _Collected:
    item: CollectedTarget
    compacted: int
    capacity_known: bool


def chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def learns(target: ScalingTarget) -> bool:
    """Whether the target learns its ``capacity_per_instance`` (the collector then stores the busy series)."""
    return target.capacity_per_instance == "learn"


def part_name(at: datetime, round_id: str) -> str:
    """History part id: sorts chronologically, characters the S3 layout accepts."""
    safe = "".join(c if c.isalnum() or c in "_.=-" else "-" for c in round_id)
    return f"{at:%Y%m%dT%H%M%SZ}-{safe}"[:200]


@dataclass
class CollectorService:
    catalog: TargetCatalog
    metrics: MetricsSource
    capacity: CapacityApi
    archive: Archive
    publisher: EventPublisher
    clock: Clock
    ids: IdSource
    invoker: Invoker | None = None
    sink: MetricSink = field(default_factory=NullSink)
    batch_size: int = 50
    shard_size: int = 500
    collect_every_seconds: int = 60
    #: at least this much is re-read each round
    lookback_seconds: int = 600
    #: targets handled side by side (their S3 and capacity calls are independent)
    workers: int = 16

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 500:
            raise ValueError("batch_size: must lie in [1, 500] (MetricsCollected holds at most 500 targets)")
        if self.shard_size < 1:
            raise ValueError("shard_size: must be positive")

    # ----------------------------------------------------------------- planning

    def plan(self, targets: Sequence[ScalingTarget]) -> list[list[ScalingTarget]]:
        """Shards of at most ``shard_size`` targets, in target-id order."""
        return chunks(sorted(targets, key=lambda t: t.target_id), self.shard_size) or [[]]

    def collect(self, request: CollectRequest, *, function_name: str = "") -> CollectResult:
        now = self.clock.now()
        round_id = request.round_id or self.ids.new_id("round")
        targets = self.catalog.targets()
        result = CollectResult(round_id=round_id)
        if request.target_ids is not None:
            wanted = set(request.target_ids)
            shard = [t for t in targets if t.target_id in wanted]
        else:
            shards = self.plan(targets)
            if len(shards) > 1:
                if self.invoker is None or not function_name:
                    raise RuntimeError(
                        f"targets: {len(targets)} exceed one shard of {self.shard_size} and no invoker is configured"
                    )
                for index, other in enumerate(shards[1:], start=1):
                    payload = CollectRequest(
                        round_id=round_id,
                        shard_index=index,
                        shard_count=len(shards),
                        target_ids=[t.target_id for t in other],
                    )
                    self.invoker.invoke_async(function_name, payload.model_dump(mode="json"))
                    result.shards_started += 1
            shard = shards[0]
        if not shard:
            return result
        self._collect_shard(shard, now, round_id, result)
        return result

    # ----------------------------------------------------------------- one shard

    def _collect_shard(self, shard: list[ScalingTarget], now: datetime, round_id: str, result: CollectResult) -> None:
        collected: dict[str, CollectedTarget] = {}
        by_period: dict[int, list[ScalingTarget]] = {}
        for target in shard:
            by_period.setdefault(target.metric.period_seconds, []).append(target)
        round_at = floor_time(now, 60)
        part = part_name(round_at, round_id)
        for period, group in sorted(by_period.items()):
            # CloudWatch buckets start at StartTime: period-aligned bounds give the same buckets every
            # round, and every bucket before ``end`` is complete.
            end = floor_time(now, period)
            lookback = timedelta(seconds=period * max(5, -(-self.lookback_seconds // period)))
            queries = {t.target_id: t.metric for t in group}
            # targets that learn their capacity per instance: the fleet's utilisation too (same call)
            queries.update({busy_series_id(t.target_id): utilization_metric(t) for t in group if learns(t)})
            series = self.metrics.fetch(queries, start=end - lookback, end=end)

            def one(target: ScalingTarget, series: dict[str, MetricSeries] = series, end: datetime = end) -> _Collected:
                done = self._collect_target(target, series.get(target.target_id), end=end, round_at=round_at, part=part)
                if learns(target):
                    self._collect_busy(
                        target,
                        series.get(busy_series_id(target.target_id)),
                        done=done,
                        end=end,
                        round_at=round_at,
                        part=part,
                    )
                return done

            # Each target is a few independent S3 and capacity calls: run them side by side.
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                for done in pool.map(one, group):
                    collected[done.item.target_id] = done.item
                    result.points += done.item.points_written
                    result.compacted += done.compacted
                    if done.item.metric_missing:
                        result.missing.append(done.item.target_id)
                    if not done.capacity_known:
                        result.capacity_unknown.append(done.item.target_id)
        result.targets = len(shard)
        result.collected = [collected[t.target_id] for t in shard]
        events: list[MetricsCollected] = []
        batches = [
            (period, batch)
            for period, group in sorted(by_period.items())
            for batch in chunks(sorted(group, key=lambda t: t.target_id), self.batch_size)
        ]
        for index, (period, batch) in enumerate(batches):
            events.append(
                MetricsCollected(
                    round_id=round_id,
                    collected_at=now,
                    step_seconds=period,
                    batch_index=index,
                    batch_count=len(batches),
                    targets=[collected[t.target_id] for t in batch],
                )
            )
        self.publisher.publish(events)
        result.batches = len(events)

    def _collect_target(
        self,
        target: ScalingTarget,
        series: MetricSeries | None,
        *,
        end: datetime,
        round_at: datetime,
        part: str,
    ) -> _Collected:
        import pandas as pd

        period = timedelta(seconds=target.metric.period_seconds)
        stamps: list[datetime] = []
        values: list[float] = []
        if series is not None:
            for stamp, value in zip(series.timestamps, series.values, strict=True):
                # a value beyond MAX_LOAD is a unit mistake or corruption: skipped like a gap, never sized for
                if stamp + period <= end and math.isfinite(value) and 0 <= value <= MAX_LOAD:
                    stamps.append(stamp)
                    values.append(value)
        if stamps:
            frame = pd.DataFrame({"ds": [s.replace(tzinfo=None) for s in stamps], "y": values})
            self.archive.write_history(target.target_id, frame, part_id=part)
        compacted = self._compact(target, round_at)
        snapshot = self._describe(target)
        last_value = values[-1] if values else None
        if snapshot is not None and last_value is not None and snapshot.in_service > 0:
            per_instance = target.capacity_per_instance
            if not isinstance(per_instance, str):
                self.sink.emit(
                    UTILIZATION, last_value / (snapshot.in_service * float(per_instance)), target_id=target.target_id
                )
        item = CollectedTarget(
            target_id=target.target_id,
            last_timestamp=stamps[-1] if stamps else None,
            last_value=last_value,
            points_written=len(stamps),
            desired_capacity=None if snapshot is None else snapshot.desired,
            in_service_capacity=None if snapshot is None else snapshot.in_service,
            metric_missing=not stamps,
        )
        return _Collected(item, compacted, snapshot is not None)

    def _describe(self, target: ScalingTarget) -> CapacitySnapshot | None:
        try:
            return self.capacity.describe(target)
        except CapacityError:
            # The round still records the load; the decider will not decide without a capacity.
            return None

    def _collect_busy(
        self,
        target: ScalingTarget,
        series: MetricSeries | None,
        *,
        done: _Collected,
        end: datetime,
        round_at: datetime,
        part: str,
    ) -> None:
        """Store ``utilisation x in-service`` of the newest complete period (in service is known only now)."""
        import pandas as pd

        in_service = done.item.in_service_capacity
        period = timedelta(seconds=target.metric.period_seconds)
        newest = None
        if series is not None and in_service is not None:
            usable = [
                (stamp, value)
                for stamp, value in zip(series.timestamps, series.values, strict=True)
                if stamp + period <= end and math.isfinite(value) and value >= 0
            ]
            newest = usable[-1] if usable else None
        busy_id = busy_series_id(target.target_id)
        if newest is not None and in_service is not None:
            stamp, percent = newest
            frame = pd.DataFrame({"ds": [stamp.replace(tzinfo=None)], "y": [percent / 100.0 * in_service]})
            self.archive.write_history(busy_id, frame, part_id=part)
        if floor_time(round_at, target.decision_interval_seconds) == round_at:
            self.archive.compact_day(busy_id, round_at.date())

    def _compact(self, target: ScalingTarget, round_at: datetime) -> int:
        """Compact today's parts on each decision-interval boundary (the round the forecaster reads the
        history), and yesterday's once more when its last points have been written."""
        round_of_day = (round_at.hour * 3600 + round_at.minute * 60) // self.collect_every_seconds
        period = target.metric.period_seconds
        lookback = period * max(5, -(-self.lookback_seconds // period))
        done = 0
        yesterday_final = round_of_day == lookback // self.collect_every_seconds + 1
        if yesterday_final and self.archive.compact_day(target.target_id, (round_at - timedelta(days=1)).date()):
            done += 1
        boundary = floor_time(round_at, target.decision_interval_seconds) == round_at
        if boundary and self.archive.compact_day(target.target_id, round_at.date()) is not None:
            done += 1
        return done
