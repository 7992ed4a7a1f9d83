"""Replay benchmark: forescale against reactive target tracking and the oracle on the shared real traces.

For every shared trace spanning at least 14 days (``benchmarks.traces.long_traces``), runs the replay
of ../shared/REPLAY.md with its default scenario and the real forecasting service, and prints every
score of the three policies and the time taken. Then it checks the targets of issue 4:

- on every trace, predictive has a lower ``under_time_pct`` than reactive (or both are 0) and a lower
  ``cost_ratio``;
- averaged over the traces, predictive ``cost_ratio`` <= 1.2 and ``under_time_pct`` <= half of reactive's.

``--speed`` also times the two speed targets: a 30-day trace at 5-minute steps (the first 30 days of
the ASG trace) and a 60-day trace at 1-minute steps (the ASG trace interpolated to 1 minute).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/replay.py [--traces a,b] [--speed] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.traces import TRACES, long_traces, resample, span_days
from functions.domain.replay import SCORE_NAMES, ReplayResult, Scenario, run_replay
from functions.domain.trace import Trace
from models.service import ForecastService

POLICIES = ("predictive", "reactive", "oracle")


def replay(trace: Trace, out: Path | None) -> tuple[ReplayResult, float]:
    started = time.perf_counter()
    result = run_replay(trace, Scenario(), forecaster=ForecastService(step_seconds=trace.step_seconds))
    elapsed = time.perf_counter() - started
    if out is not None:
        from functions.report import write_report

        write_report(result, out / trace.name)
    return result, elapsed


def head(trace: Trace, days: float) -> Trace:
    n = int(days * 86_400 / trace.step_seconds)
    return Trace(ds=trace.ds[:n], y=trace.y[:n], step_seconds=trace.step_seconds, name=f"{trace.name}_{days:g}d")


def _row(name: str, policy: str, result: ReplayResult) -> str:
    values = result.runs[policy].scores.as_dict()
    cells = []
    for key in SCORE_NAMES:
        value = values[key]
        if key == "actions":
            cells.append(f"{int(value):>8d}")
        elif key == "instance_hours":
            cells.append(f"{value:>15,.0f}")
        elif key == "cost_ratio":
            cells.append(f"{value:>11.3f}")
        else:
            cells.append(f"{value:>16.2f}")
    return f"{name:<24}{policy:<11}" + "".join(cells)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", help="comma-separated trace names (default: every trace of >= --min-days)")
    parser.add_argument("--min-days", type=float, default=14.0)
    parser.add_argument("--speed", action="store_true", help="also time the 30-day 5-min and 60-day 1-min replays")
    parser.add_argument("--skip-scores", action="store_true", help="only the speed runs")
    parser.add_argument("--out", type=Path, help="write each trace's report under this folder")
    parser.add_argument("--json", type=Path, help="write all figures as JSON here")
    args = parser.parse_args()

    figures: dict[str, dict] = {}
    if not args.skip_scores:
        if args.traces:
            traces = {name: TRACES[name]() for name in args.traces.split(",")}
        else:
            traces = long_traces(args.min_days)
        widths = {"actions": 8, "instance_hours": 15, "cost_ratio": 11}
        header = f"{'trace':<24}{'policy':<11}" + "".join(f"{k:>{widths.get(k, 16)}}" for k in SCORE_NAMES)
        print(header, flush=True)
        print("-" * len(header), flush=True)
        verdicts = []
        for name, trace in traces.items():
            result, elapsed = replay(trace, args.out)
            for policy in POLICIES:
                print(_row(name, policy, result), flush=True)
            predictive, reactive = result.runs["predictive"].scores, result.runs["reactive"].scores
            under_ok = predictive.under_time_pct < reactive.under_time_pct or (
                reactive.under_time_pct == 0 and predictive.under_time_pct == 0
            )
            cost_ok = predictive.cost_ratio < reactive.cost_ratio
            verdicts.append(under_ok and cost_ok)
            print(
                f"{'':<24}{len(trace)} steps of {trace.step_seconds} s ({span_days(trace):.1f} days) in {elapsed:.1f} s; "
                f"predictive beats reactive on under_time: {'yes' if under_ok else 'NO'}, on cost: "
                f"{'yes' if cost_ok else 'NO'}",
                flush=True,
            )
            figures[name] = {
                "steps": len(trace),
                "step_seconds": trace.step_seconds,
                "seconds": round(elapsed, 1),
                **{policy: result.runs[policy].scores.as_dict() for policy in POLICIES},
            }
        pred_cost = float(np.mean([f["predictive"]["cost_ratio"] for f in figures.values()]))
        pred_under = float(np.mean([f["predictive"]["under_time_pct"] for f in figures.values()]))
        react_cost = float(np.mean([f["reactive"]["cost_ratio"] for f in figures.values()]))
        react_under = float(np.mean([f["reactive"]["under_time_pct"] for f in figures.values()]))
        print()
        print(f"traces: {len(figures)}; predictive beats reactive on both on {sum(verdicts)} of them")
        print(f"mean cost_ratio:     predictive {pred_cost:.3f}  reactive {react_cost:.3f}  (target <= 1.2)")
        print(
            f"mean under_time_pct: predictive {pred_under:.2f}  reactive {react_under:.2f}  "
            f"(target <= {react_under / 2:.2f}, half of reactive's)"
        )
        figures["_mean"] = {
            "predictive_cost_ratio": pred_cost,
            "predictive_under_time_pct": pred_under,
            "reactive_cost_ratio": react_cost,
            "reactive_under_time_pct": react_under,
            "beats_on_both": int(sum(verdicts)),
        }

    if args.speed or args.skip_scores:
        asg = TRACES["asg_misconfiguration"]()
        for label, trace, limit in (
            ("30 days at 5 min", head(asg, 30), 300),
            ("60 days at 1 min", head(resample(asg, 60), 60), 1200),
        ):
            result, elapsed = replay(trace, None)
            decisions = len(result.decisions)
            print(
                f"speed: {label}: {len(trace)} steps, {decisions} forecasts + decisions, {result.fits} fits: "
                f"{elapsed:.0f} s (target <= {limit} s) {'ok' if elapsed <= limit else 'OVER'}",
                flush=True,
            )
            figures[f"speed {label}"] = {"steps": len(trace), "seconds": round(elapsed, 1), "limit": limit}

    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=lambda v: None if math.isnan(v) else v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
