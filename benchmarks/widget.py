"""Render time of the dashboard's custom widget: one target's view, and a page of the fleet, on the in-memory twins.

A fleet of ``--targets`` targets at 1-minute periods with the audit trail a deployment writes over the
dashboard's range: every 5 minutes a forecast (60-minute paths: a forecast row) and a decision (the decision
row, with the in-service count) of every target, written as the pipeline writes them (the collector's batches
of 50 targets in shard order, each one forecaster and one decider invocation writing an audit batch: an
object per shard it touches); the targets of the page also have a day of load history, their decisions in
the decisions table and their state. Timed (median of ``--runs``, after one warm-up): the fleet page (25 rows,
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


def seed(world: Any, target_ids: list[str], fleet: list[Any], *, hours: int) -> None:
    """The audit trail of ``hours`` of operation of the ``fleet``; the other records (and a day of load before)
    of ``target_ids``."""
    import numpy as np
    import pandas as pd

    from events.contracts import ScalingDecided
    from functions.ports.archive import AuditRecord
    from functions.ports.records import StoredForecast, StoredTargetState
    from functions.services.collector import by_shard, chunks

    start = NOON - timedelta(hours=hours)
    ds = pd.date_range((NOON - timedelta(days=1)).replace(tzinfo=None), NOON.replace(tzinfo=None), freq="60s",
                       inclusive="left")  # fmt: skip
    load = 900.0 + 300.0 * np.sin(np.arange(len(ds)) / 180.0)
    shown = set(target_ids)
    batches = [[t.target_id for t in batch] for batch in chunks(by_shard(fleet), 50)]
    for k in range(hours * 12):
        at = start + timedelta(minutes=5 * k)
        path = [d.isoformat() for d in pd.date_range(at.replace(tzinfo=None), periods=60, freq="60s")]
        p50 = 900.0 + 300.0 * np.sin((np.arange(60) + (at - NOON.replace(hour=0)).seconds / 60) / 180.0)
        forecast = {"record": "forecast", "forecast_id": f"f-{k}", "model_version": "m", "confidence": 0.8,
                    "history_end": at.isoformat(), "no_forecast_reason": "", "ds": path, "p50": list(p50),
                    "p90": list(1.1 * p50), "p99": list(1.25 * p50)}  # fmt: skip
        desired = int(np.ceil(p50.max() / 90.0))
        for n, batch in enumerate(batches):
            forecasts, decisions = [], []
            for tid in batch:
                forecasts.append(AuditRecord(tid, f"forecast-f-{k}", [forecast]))
                decision = ScalingDecided(
                    decision_id=f"d-{tid}-{k}", target_id=tid, kind="asg", mode="floor", decided_at=at,
                    valid_until=at + timedelta(minutes=7), sequence=k + 1, previous_desired=desired,
                    desired_capacity=desired, min_capacity=1, max_capacity=60, action="hold", confidence=0.8,
                    reason="benchmark",
                )  # fmt: skip
                if tid in shown:
                    world.store.record_decision(decision)
                row = {**decision.model_dump(mode="json"), "record": "decision", "in_service": desired}
                decisions.append(AuditRecord(tid, decision.decision_id, [row]))
            world.archive.write_audit_batch(f"forecasts-{k}-{n}", at, forecasts)
            world.archive.write_audit_batch(f"decisions-{k}-{n}", at + timedelta(seconds=20), decisions)
    for index, tid in enumerate(target_ids):
        world.archive.write_history(tid, pd.DataFrame({"ds": ds, "y": load}), part_id=f"seed-{index}")
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
    seed(world, page_ids, targets, hours=args.hours)
    print(f"seeded {args.targets} targets with {args.hours} h of audit trail, {len(page_ids)} with their records, in "
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
