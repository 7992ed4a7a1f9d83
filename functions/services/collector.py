"""The collector: every minute, each target's newest load and capacity, appended to its history in S3.

One invocation handles at most ``shard_size`` targets (500: one ``GetMetricData`` call carries 500
queries). The scheduled invocation is the *planner*: with more targets it keeps the first shard and
starts one asynchronous copy of itself per other shard, each told its target ids, so 10,000 targets
are 20 parallel invocations of 500 (a failed shard is retried by Lambda alone and blocks no other).

Each target's window is re-read every round (CloudWatch revises recent points, and a round that failed
is covered by the next): the last ``lookback`` of *complete* periods. The invocation stores its targets'
windows together (``Archive.write_histories``: one Parquet object per history shard, not one per target;
the newest part wins per timestamp). The day of each history shard holding a target on a decision-interval
boundary is compacted that round, the round its forecast is made (so the forecaster reads one object per
day), and every shard's finished day once more after the longest lookback of the fleet has passed midnight.
Then ``MetricsCollected`` is published
per batch of at most ``batch_size`` targets of the same period: each batch is one forecaster
invocation. Shards and batches take the targets in archive-shard order, so that each invocation, here and
downstream, writes its history and audit rows to few shard objects.

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
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from events.base import EventId, TargetId
from events.contracts import MAX_LOAD, CollectedTarget, MetricsCollected
from functions.domain.capacity_model import busy_series_id, utilization_metric
from functions.domain.clock import Clock, IdSource
from functions.domain.target import ScalingTarget
from functions.ports.archive import Archive, history_shard
from functions.ports.bus import EventPublisher
from functions.ports.capacity import CapacityApi, CapacityError, CapacitySnapshot
from functions.ports.invoke import Invoker
from functions.ports.metrics import MetricSeries, MetricsSource
from functions.services.common import MetricSink, NullSink, floor_time
from functions.services.targets import TargetCatalog

if TYPE_CHECKING:
    import pandas as pd


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
    capacity_known: bool
    #: what the round stores: the target's window, and its busy series for a target that learns
    rows: dict[str, pd.DataFrame]


def by_shard(targets: Sequence[ScalingTarget]) -> list[ScalingTarget]:
    """Targets in archive-shard then target-id order: an invocation's targets, and so the targets of each
    forecaster and decider invocation its batches start, fill few history and audit shards, each written as
    one object per invocation (``Archive.write_histories``, ``Archive.write_audit_batch``)."""
    return sorted(targets, key=lambda t: (history_shard(t.target_id), t.target_id))


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
        """Shards of at most ``shard_size`` targets, in archive-shard then target-id order (:func:`by_shard`)."""
        return chunks(by_shard(targets), self.shard_size) or [[]]

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
        self._collect_shard(shard, now, round_id, result, final_round=self._final_round(targets))
        return result

    def _lookback(self, period: int) -> int:
        """Seconds re-read each round for a metric of ``period`` seconds."""
        return period * max(5, -(-self.lookback_seconds // period))

    def _final_round(self, targets: Sequence[ScalingTarget]) -> int:
        """The round of the day at which yesterday is compacted for good: its last points have been re-read
        by every target of the fleet (a history shard holds targets of several invocations)."""
        longest = max((self._lookback(t.metric.period_seconds) for t in targets), default=0)
        return longest // self.collect_every_seconds + 1

    # ----------------------------------------------------------------- one shard

    def _collect_shard(
        self, shard: list[ScalingTarget], now: datetime, round_id: str, result: CollectResult, *, final_round: int
    ) -> None:
        collected: dict[str, CollectedTarget] = {}
        by_period: dict[int, list[ScalingTarget]] = {}
        for target in shard:
            by_period.setdefault(target.metric.period_seconds, []).append(target)
        round_at = floor_time(now, 60)
        part = part_name(round_at, round_id)
        rows: dict[str, pd.DataFrame] = {}
        for period, group in sorted(by_period.items()):
            # CloudWatch buckets start at StartTime: period-aligned bounds give the same buckets every
            # round, and every bucket before ``end`` is complete.
            end = floor_time(now, period)
            lookback = timedelta(seconds=self._lookback(period))
            queries = {t.target_id: t.metric for t in group}
            # targets that learn their capacity per instance: the fleet's utilisation too (same call)
            queries.update({busy_series_id(t.target_id): utilization_metric(t) for t in group if learns(t)})
            series = self.metrics.fetch(queries, start=end - lookback, end=end)

            def one(target: ScalingTarget, series: dict[str, MetricSeries] = series, end: datetime = end) -> _Collected:
                done = self._collect_target(target, series.get(target.target_id), end=end)
                if learns(target):
                    busy = self._busy_rows(target, series.get(busy_series_id(target.target_id)), done=done, end=end)
                    if busy is not None:
                        done.rows[busy_series_id(target.target_id)] = busy
                return done

            # Each target's capacity is an independent call: side by side.
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                for done in pool.map(one, group):
                    collected[done.item.target_id] = done.item
                    rows.update(done.rows)
                    result.points += done.item.points_written
                    if done.item.metric_missing:
                        result.missing.append(done.item.target_id)
                    if not done.capacity_known:
                        result.capacity_unknown.append(done.item.target_id)
        # the round's windows of every target of the invocation: one object per history shard and day
        self.archive.write_histories(rows, part_id=part)
        result.compacted = self._compact(shard, round_at, final_round)
        result.targets = len(shard)
        result.collected = [collected[t.target_id] for t in shard]
        events: list[MetricsCollected] = []
        batches = [
            (period, batch)
            for period, group in sorted(by_period.items())
            for batch in chunks(by_shard(group), self.batch_size)
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
        rows: dict[str, pd.DataFrame] = {}
        if stamps:
            rows[target.target_id] = pd.DataFrame({"ds": [s.replace(tzinfo=None) for s in stamps], "y": values})
        snapshot = self._describe(target)
        last_value = values[-1] if values else None
        item = CollectedTarget(
            target_id=target.target_id,
            last_timestamp=stamps[-1] if stamps else None,
            last_value=last_value,
            points_written=len(stamps),
            desired_capacity=None if snapshot is None else snapshot.desired,
            in_service_capacity=None if snapshot is None else snapshot.in_service,
            metric_missing=not stamps,
        )
        return _Collected(item, snapshot is not None, rows)

    def _describe(self, target: ScalingTarget) -> CapacitySnapshot | None:
        try:
            return self.capacity.describe(target)
        except CapacityError:
            # The round still records the load; the decider will not decide without a capacity.
            return None

    def _busy_rows(
        self, target: ScalingTarget, series: MetricSeries | None, *, done: _Collected, end: datetime
    ) -> pd.DataFrame | None:
        """``utilisation x in-service`` of the newest complete period (in service is known only now), if any."""
        import pandas as pd

        in_service = done.item.in_service_capacity
        period = timedelta(seconds=target.metric.period_seconds)
        if series is None or in_service is None:
            return None
        usable = [
            (stamp, value)
            for stamp, value in zip(series.timestamps, series.values, strict=True)
            if stamp + period <= end and math.isfinite(value) and value >= 0
        ]
        if not usable:
            return None
        stamp, percent = usable[-1]
        return pd.DataFrame({"ds": [stamp.replace(tzinfo=None)], "y": [percent / 100.0 * in_service]})

    def _compact(self, shard: Sequence[ScalingTarget], round_at: datetime, final_round: int) -> int:
        """Compact today's history shards of the targets on a decision-interval boundary (the round the forecaster
        reads the history), and yesterday's of every target for good at ``final_round``; returns objects written."""
        round_of_day = (round_at.hour * 3600 + round_at.minute * 60) // self.collect_every_seconds

        def ids(targets: Sequence[ScalingTarget]) -> list[str]:
            return [i for t in targets for i in (t.target_id, *([busy_series_id(t.target_id)] if learns(t) else []))]

        done = 0
        if round_of_day == final_round:
            done += len(self.archive.compact_days(ids(shard), (round_at - timedelta(days=1)).date(), final=True))
        due = [t for t in shard if floor_time(round_at, t.decision_interval_seconds) == round_at]
        if due:
            done += len(self.archive.compact_days(ids(due), round_at.date()))
        return done
