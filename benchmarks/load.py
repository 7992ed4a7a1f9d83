"""Load: a burst of MetricsCollected events through the local router in memory mode; every event handled,
memory bounded.

The whole pipeline runs in one process on the in-memory twins (``forescale_tools.local_router.memory_world``)
with a cheap forecasting configuration (seasonal naive): ``--targets`` groups, each with two days of
history, and a burst of ``--events`` ``MetricsCollected`` events (one target each, ``events / targets``
rounds of every target) put on the bus at once, inside one cadence. The first event of each target is
forecast, decided and executed; the later ones arrive while its forecast is still current, so the
forecaster only summarises the round for the decider, which observes the round's datapoint for the SLO
budget and decides nothing new: they measure what handling a round costs in memory when it creates no
new forecast or decision.

Printed: events handled per function, dead letters (must be 0), events per second, the traced memory
(``tracemalloc``: the peak, and the growth over the second part of the burst, which creates no new state)
and the peak resident memory of the process.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.load [--targets 1000] [--events 10000]

On the shared 2-core machine the figures are measured under contention. ``tests/reliability/test_load.py``
runs a smaller burst of the same code.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import time
import tracemalloc
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
STEP = 300
MIB = 1024 * 1024


@dataclass
class LoadResult:
    targets: int
    events: int
    handled: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    unhandled_metrics_events: int = 0
    forecasts: int = 0
    decisions: int = 0
    seconds: float = 0.0
    traced_peak_mib: float = 0.0
    #: traced memory growth while handling the second half of the burst (no new state is created)
    traced_growth_second_half_mib: float = 0.0
    rss_peak_mib: float = 0.0
    checkpoints_mib: list[float] = field(default_factory=list)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _targets(count: int) -> list[Any]:
    from functions.domain.target import LoadMetric, ScalingTarget

    return [
        ScalingTarget.model_validate(
            {
                "target_id": f"t{index:05d}",
                "kind": "asg",
                "asg_name": f"group-{index:05d}",
                "metric": LoadMetric(
                    namespace="Load", name="Requests", dimensions={"Target": f"t{index:05d}"}, period_seconds=STEP
                ),
                "capacity_per_instance": 100.0,
                "min_capacity": 1,
                "max_capacity": 40,
                "mode": "direct",
                "decision_interval_seconds": STEP,
                "scale_in_stabilization_seconds": 0,
            }
        )
        for index in range(count)
    ]


def run_burst(targets: int = 1000, events: int = 10_000, *, trace_memory: bool = True) -> LoadResult:
    """Seed ``targets`` targets, put ``events`` MetricsCollected on the bus at once, pump until quiet."""
    import numpy as np
    import pandas as pd

    from events.contracts import CollectedTarget, MetricsCollected
    from forescale_tools.local_router import Delivery, memory_world
    from functions import wiring
    from functions.domain.clock import FixedClock
    from models.config import ForecastConfig

    if events < targets:
        raise ValueError("events: at least one per target")
    configured = _targets(targets)
    world = memory_world(
        configured,
        clock=FixedClock(NOON + timedelta(seconds=10)),
        forecast_config=ForecastConfig(models=("SeasonalNaive",), backtest_every_minutes=360),
    )
    wiring.install(world.components)
    world.router.keep_history = False
    ds = pd.date_range((NOON - timedelta(days=2)).replace(tzinfo=None), NOON.replace(tzinfo=None), freq=f"{STEP}s")
    ds = ds[:-1]
    for index, target in enumerate(configured):
        load = 150.0 + 10.0 * (index % 40)  # needs 2 to 6 groups' worth: some scale out, some in, some hold
        world.capacity.add_asg(target.asg_name or "", desired=4, min_capacity=1, max_capacity=40)
        frame = pd.DataFrame({"ds": ds, "y": np.full(len(ds), load)})
        world.archive.write_history(target.target_id, frame, part_id="0-seed")

    result = LoadResult(targets=targets, events=events)
    handled: Counter[str] = Counter()
    failed_metrics: list[str] = []
    checkpoints: list[float] = []
    every = max(1, events // 10)

    def on_delivery(delivery: Delivery) -> None:
        handled[delivery.function] += 1
        if delivery.function == "forecaster":
            if delivery.error is not None:
                failed_metrics.append(str(delivery.event.get("id")))
            elif handled["forecaster"] % every == 0 and trace_memory:
                checkpoints.append(tracemalloc.get_traced_memory()[0] / MIB)

    world.router.on_delivery = on_delivery
    # the burst: every event on the bus before the router delivers the first
    for number in range(events):
        target = configured[number % targets]
        event = MetricsCollected(
            round_id=f"round-{number // targets:03d}",
            collected_at=NOON,
            step_seconds=STEP,
            targets=[
                CollectedTarget(
                    target_id=target.target_id,
                    last_timestamp=NOON - timedelta(seconds=STEP),
                    last_value=200.0,
                    points_written=1,
                    desired_capacity=4,
                    in_service_capacity=4,
                )
            ],
        )
        world.bus.put_events(Entries=[_entry(event)])
    del event
    # The twin bus keeps every envelope it delivered (tests read them); deployed, EventBridge keeps them,
    # not the functions: keep only the last few so that the figure is the pipeline's own memory.
    world.bus.envelopes = deque(world.bus.envelopes, maxlen=100)
    gc.collect()
    if trace_memory:
        tracemalloc.start()
    started = time.perf_counter()
    world.router.pump(max_messages=10 * events + 10)
    result.seconds = time.perf_counter() - started
    if trace_memory:
        result.traced_peak_mib = tracemalloc.get_traced_memory()[1] / MIB
        tracemalloc.stop()
    result.checkpoints_mib = [round(c, 2) for c in checkpoints]
    half = len(checkpoints) // 2
    if len(checkpoints) >= 4:
        result.traced_growth_second_half_mib = round(checkpoints[-1] - checkpoints[half], 2)
    result.handled = dict(handled)
    result.dead_letters = len(world.router.dead_letters)
    result.unhandled_metrics_events = events - handled["forecaster"] + len(failed_metrics)
    result.forecasts = sum(1 for t in configured if world.store.latest_forecast(t.target_id) is not None)
    day = (NOON - timedelta(days=1), NOON + timedelta(days=1))
    result.decisions = sum(len(world.store.decisions(t.target_id, *day)) for t in configured)
    result.rss_peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wiring.install(None)
    return result


def _entry(event: Any) -> dict[str, Any]:
    from events.base import to_put_events_entry

    return to_put_events_entry(event, bus_name="forescale")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--no-tracemalloc", action="store_true", help="faster; no traced-memory figures")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = run_burst(args.targets, args.events, trace_memory=not args.no_tracemalloc)
    if args.json:
        print(json.dumps({**asdict(result), "events_per_second": result.events_per_second}, indent=1))
    else:
        print(
            f"burst of {result.events:,} MetricsCollected for {result.targets:,} targets (memory mode, measured under contention)"
        )
        print(f"  handled per function : {result.handled}")
        print(f"  MetricsCollected not handled: {result.unhandled_metrics_events}; dead letters: {result.dead_letters}")
        print(f"  forecasts stored: {result.forecasts:,}; decisions recorded: {result.decisions:,}")
        print(f"  time: {result.seconds:.1f} s, {result.events_per_second:,.0f} MetricsCollected/s")
        print(
            f"  traced memory peak: {result.traced_peak_mib:.1f} MiB; growth over the second half of the burst: "
            f"{result.traced_growth_second_half_mib:+.2f} MiB; resident peak: {result.rss_peak_mib:.0f} MiB"
        )
        print(f"  traced memory every {max(1, result.events // 10):,} MetricsCollected (MiB): {result.checkpoints_mib}")
    return 0 if result.dead_letters == 0 and result.unhandled_metrics_events == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
