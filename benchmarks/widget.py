"""Render time of the dashboard's custom widget: one target's view, and a page of the fleet, on the in-memory twins.

A fleet of ``--targets`` targets at 1-minute periods, each with the records a deployment stores over the
dashboard's range: a day of load history, a forecast every 5 minutes (60-minute paths: a forecast row of the
audit trail), a decision every 5 minutes (the decisions table and the audit trail's decision row, with the
in-service count) and its state. Timed (median of ``--runs``, after one warm-up): the fleet page (25 rows,
one state read each), one target's view over the last ``--hours``, and the views of a page of 25 targets
one after another, as a viewer clicking through a page. The figures are the widget function's own work:
the in-memory twins answer in microseconds where DynamoDB and S3 take milliseconds (a view makes one
history read, one audit read, one decisions query and two item reads).

    .venv/bin/python -m benchmarks.widget [--targets 1000] [--hours 6] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
STEP = 60
PAGE = 25


def seed(world: Any, target_ids: list[str], *, hours: int) -> None:
    """The records of ``hours`` of operation (and a day of load before) for each target."""
    import numpy as np
    import pandas as pd

    from events.contracts import ScalingDecided
    from functions.ports.records import StoredForecast, StoredTargetState

    start = NOON - timedelta(hours=hours)
    ds = pd.date_range((NOON - timedelta(days=1)).replace(tzinfo=None), NOON.replace(tzinfo=None), freq="60s",
                       inclusive="left")  # fmt: skip
    load = 900.0 + 300.0 * np.sin(np.arange(len(ds)) / 180.0)
    for index, tid in enumerate(target_ids):
        world.archive.write_history(tid, pd.DataFrame({"ds": ds, "y": load}), part_id=f"seed-{index}")
        for k in range(hours * 12):
            at = start + timedelta(minutes=5 * k)
            path = pd.date_range(at.replace(tzinfo=None), periods=60, freq="60s")
            p50 = 900.0 + 300.0 * np.sin((np.arange(60) + (at - NOON.replace(hour=0)).seconds / 60) / 180.0)
            forecast = {"record": "forecast", "forecast_id": f"f-{k}", "model_version": "m", "confidence": 0.8,
                        "history_end": at.isoformat(), "no_forecast_reason": "",
                        "ds": [d.isoformat() for d in path], "p50": list(p50), "p90": list(1.1 * p50),
                        "p99": list(1.25 * p50)}  # fmt: skip
            world.archive.write_audit(tid, f"forecast-f-{k}", at, [forecast])
            desired = int(np.ceil(p50.max() / 90.0))
            decision = ScalingDecided(
                decision_id=f"d-{tid}-{k}", target_id=tid, kind="asg", mode="floor", decided_at=at,
                valid_until=at + timedelta(minutes=7), sequence=k + 1, previous_desired=desired,
                desired_capacity=desired, min_capacity=1, max_capacity=60, action="hold", confidence=0.8,
                reason="benchmark",
            )  # fmt: skip
            world.store.record_decision(decision)
            row = {**decision.model_dump(mode="json"), "record": "decision", "in_service": desired}
            world.archive.write_audit(tid, decision.decision_id, at, [row])
        world.store.put_forecast(
            StoredForecast(
                target_id=tid, forecast_id="latest", issued_at=NOON, model_version="m", confidence=0.8,
                ds=tuple(NOON + timedelta(minutes=m) for m in range(60)), p50=(900.0,) * 60, p90=(990.0,) * 60,
                p99=(1100.0,) * 60, history_end=NOON - timedelta(minutes=1),
            )
        )  # fmt: skip
        world.store.put_target_state(
            StoredTargetState(
                tid,
                sequence=hours * 12,
                last_desired=12,
                updated_at=NOON,
                budget_minutes=500.0,
                budget_under_minutes=2.0,
                budget_level=0.1,
                slo_recent=(0.8, 0.85, 0.7),
            )
        )


def timed(call: Any, runs: int) -> float:
    call()  # warm-up (imports, caches)
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=1000, help="targets in the fleet (the catalogue)")
    parser.add_argument("--hours", type=int, default=6, help="the dashboard's range, and the records seeded")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    from forescale_tools.local_router import LambdaContext, memory_world
    from functions import wiring
    from functions.domain.clock import FixedClock
    from functions.domain.target import ScalingTarget
    from functions.handlers.widget import handler

    targets = [
        ScalingTarget.model_validate(
            {
                "target_id": f"svc-{i:05d}",
                "kind": "asg",
                "asg_name": f"svc-{i:05d}",
                "capacity_per_instance": 100,
                "max_capacity": 60,
                "slo_budget": {"under_provisioning_pct": 1.0},
                "metric": {
                    "namespace": "T/Load",
                    "name": "Requests",
                    "dimensions": {"Target": f"svc-{i:05d}"},
                    "period_seconds": STEP,
                },
            }
        )
        for i in range(args.targets)
    ]
    clock = FixedClock(NOON + timedelta(seconds=30))
    world = memory_world(targets, clock=clock)
    page_ids = [t.target_id for t in targets[:PAGE]]
    began = time.perf_counter()
    seed(world, page_ids, hours=args.hours)
    print(f"seeded {len(page_ids)} of {args.targets} targets with {args.hours} h of records in "
          f"{time.perf_counter() - began:.1f} s")  # fmt: skip
    shown = {"timeRange": {"start": int((NOON - timedelta(hours=args.hours)).timestamp() * 1000),
                           "end": int(NOON.timestamp() * 1000)}}  # fmt: skip
    context = LambdaContext("widget", "bench")

    with wiring.use(world.components):
        html = handler({"target": page_ids[0], "widgetContext": shown}, context)
        assert "<svg" in html, html[:300]
        fleet = timed(lambda: handler({"widgetContext": shown}, context), args.runs)
        one = timed(lambda: handler({"target": page_ids[0], "widgetContext": shown}, context), args.runs)
        page = timed(
            lambda: [handler({"target": tid, "widgetContext": shown}, context) for tid in page_ids],
            max(1, args.runs // 2),
        )
    print(f"fleet page ({PAGE} of {args.targets} targets): {fleet * 1000:.1f} ms")
    print(f"one target's view ({args.hours} h at 1 min, {len(html) / 1024:.1f} KiB of HTML): {one * 1000:.1f} ms")
    print(
        f"a page of {PAGE} targets' views, one after another: {page * 1000:.0f} ms ({page / PAGE * 1000:.1f} ms each)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
