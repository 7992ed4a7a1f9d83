"""SLO budget sweep: realised under-time against an explicit budget, and cost, on every trace.

For each trace of the tuning/evaluation split (benchmarks/splits.py) and each budget (percent of minutes,
``--budgets``, default 0.1,0.5,2), replays forescale with ``Scenario(slo_budget_pct=budget)`` and the
default scenario of the replay's specification otherwise, and prints its ``under_time_pct`` (over the
scored minutes) and ``cost_ratio`` (against the oracle, which is replayed with it). Then per trace and per
half, against issue 18's targets for explicit budgets:

- realised under-time <= the budget on every trace;
- cost falling as the budget grows (each larger budget costs no more than the smaller one before it).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/budget_sweep.py [--half tuning|evaluation]
        [--traces a,b] [--budgets 0.1,0.5,2] [--max-days N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

from benchmarks import splits
from benchmarks.replay import chosen_traces, head
from benchmarks.traces import SharedTracesMissingError
from functions.domain.replay import Scenario, run_replay
from models.service import ForecastEnsemble

DEFAULT_BUDGETS = (0.1, 0.5, 2.0)


def budgets_of(text: str) -> tuple[float, ...]:
    try:
        values = tuple(sorted(float(item) for item in text.split(",") if item.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated percentages such as 0.1,0.5,2") from None
    if not values or any(not (math.isfinite(v) and 0 < v <= 50) for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: each budget must lie in (0, 50] percent")
    return values


def verdicts(runs: list[dict[str, float]]) -> tuple[bool, bool]:
    """(every realised under-time within its budget, cost never rising as the budget grows)."""
    within = all(run["under_time_pct"] <= run["budget_pct"] + 1e-9 for run in runs)
    falling = all(b["cost_ratio"] <= a["cost_ratio"] + 1e-9 for a, b in itertools.pairwise(runs))
    return within, falling


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--half", choices=tuple(splits.HALVES), help="only this half of the split (default: both)")
    parser.add_argument("--traces", help="comma-separated trace names instead of the split (benchmarks/traces.py)")
    parser.add_argument("--budgets", type=budgets_of, default=DEFAULT_BUDGETS, help="percentages, e.g. 0.1,0.5,2")
    parser.add_argument("--max-days", type=float, help="replay only the first N days of each trace")
    parser.add_argument("--json", type=Path, help="write all figures as JSON here")
    args = parser.parse_args()
    if args.half and args.traces:
        parser.error("--half and --traces: give one of them")
    if args.max_days is not None and not (math.isfinite(args.max_days) and args.max_days > 0):
        parser.error(f"--max-days: {args.max_days} must be a positive number of days")
    try:
        traces = {name: splits.load(name) for name in chosen_traces(args)}
    except (SharedTracesMissingError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    print(f"{'trace':<24}{'budget %':>10}{'under_time_pct':>16}{'cost_ratio':>12}{'seconds':>9}", flush=True)
    figures: dict[str, Any] = {}
    for name, whole in traces.items():
        trace = head(whole, args.max_days) if args.max_days else whole
        runs = []
        for budget in args.budgets:
            started = time.perf_counter()
            result = run_replay(
                trace,
                Scenario(slo_budget_pct=budget),
                forecaster=ForecastEnsemble(step_seconds=trace.step_seconds),
                policies=("predictive", "oracle"),
            )
            scores = result.runs["predictive"].scores
            runs.append(
                {
                    "budget_pct": budget,
                    "under_time_pct": scores.under_time_pct,
                    "cost_ratio": scores.cost_ratio,
                    "seconds": round(time.perf_counter() - started, 1),
                }
            )
            run = runs[-1]
            print(
                f"{trace.name:<24}{budget:>10g}{run['under_time_pct']:>16.2f}{run['cost_ratio']:>12.3f}"
                f"{run['seconds']:>9.0f}",
                flush=True,
            )
        within, falling = verdicts(runs)
        figures[name] = {"half": splits.half_of(name), "runs": runs, "within_budget": within, "cost_falling": falling}
        print(
            f"{'':<24}{splits.half_of(name) or 'outside the split'}: within every budget: {'yes' if within else 'NO'}; "
            f"cost falling as the budget grows: {'yes' if falling else 'NO'}",
            flush=True,
        )
    for label in (*splits.HALVES, None):
        members = {name: f for name, f in figures.items() if f["half"] == label}
        if not members:
            continue
        within = [name for name, f in members.items() if f["within_budget"]]
        falling = [name for name, f in members.items() if f["cost_falling"]]
        print(f"\n## {label or 'outside the split'}: {len(members)} trace(s)")
        print(f"realised under-time within every budget: {len(within)} of {len(members)}")
        print(f"cost falling as the budget grows: {len(falling)} of {len(members)}")
        for budget in args.budgets:
            runs = [run for f in members.values() for run in f["runs"] if run["budget_pct"] == budget]
            print(
                f"budget {budget:g} %: mean under_time_pct {sum(r['under_time_pct'] for r in runs) / len(runs):.2f}, "
                f"mean cost_ratio {sum(r['cost_ratio'] for r in runs) / len(runs):.3f}, "
                f"within budget on {sum(r['under_time_pct'] <= budget + 1e-9 for r in runs)} of {len(runs)}"
            )
    if args.max_days:
        print(f"\n(each trace cut to its first {args.max_days:g} days: not the benchmark's figures)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
