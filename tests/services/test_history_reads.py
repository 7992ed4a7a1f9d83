"""History reads of a batch: the forecaster (and the decider) list and fetch each history shard once per batch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from service_support import NOON, STEP, flat_history, target

from events.contracts import CollectedTarget, MetricsCollected
from functions.adapters.archive_keys import history_shard


class CountingLists:
    """The world's object store, counting listings (each is at least one S3 LIST request)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lists = 0

    def list_keys(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        self.lists += 1
        return self.inner.list_keys(prefix, start_after=start_after)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_forecaster_batch_lists_each_history_shard_once_not_each_target(memory):
    # GIVEN 48 targets with two days of history (no compaction: every day is listed)
    targets = [target(f"t{i:03d}") for i in range(48)]
    world = memory(targets)
    for t in targets:
        flat_history(world, t.target_id, 200.0)
    counting = CountingLists(world.archive.objects)
    world.archive.objects = counting
    event = MetricsCollected(
        round_id="r-1",
        collected_at=NOON,
        step_seconds=STEP,
        targets=[
            CollectedTarget(
                target_id=t.target_id,
                last_timestamp=NOON - timedelta(seconds=STEP),
                last_value=200.0,
                points_written=1,
                desired_capacity=3,
                in_service_capacity=3,
            )
            for t in targets
        ],
    )
    # WHEN the forecaster handles the batch
    outcomes = world.components.forecaster.forecast_batch(event)
    # THEN every target is forecast, and the history of each shard and day was listed once for the batch
    assert len(outcomes) == len(targets)
    days = int(world.components.settings.forecast_history_days) + 1
    shards = len({history_shard(t.target_id) for t in targets})
    assert counting.lists <= 2 * shards * days < 2 * len(targets) * days
