"""Confidence benchmark: whole days on which the forecast was set aside although it beat seasonal naive.

For each trace, replays its first ``--warmup-days + --days`` days with ``forescale replay``'s predictive
policy (default scenario, the real forecasting service, only the predictive policy) and keeps, at every
decision with a usable forecast, two confidences:

- **old rule**: the forecast's own, one minus the mean absolute scaled error of the fit's backtest
  (``models/calibration.py``), fixed between refits;
- **new rule**: what :func:`functions.domain.decision.decide` compares with ``min_confidence`` now, the
  decider's record of recent forecasts against seasonal naive (``functions/domain/calibration.py``),
  the forecast's own until the record has enough scored steps.

Both see the same forecasts (the confidence changes no forecast). A day **beats seasonal naive** when the
absolute error of the medians of that day's decisions over their windows (``boot + decision interval``)
is under the error of the load one day earlier on the same steps. The figure per trace and rule is the
number of whole evaluated days on which every decision's confidence was below ``min_confidence`` while
the day beat seasonal naive (target: 0 everywhere); also shown, the share of decisions below it.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/confidence.py [--traces a,b] [--days 7] [--warmup-days 7]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from benchmarks.traces import TRACES, span_days
from functions.domain.decision import DecisionPolicy
from functions.domain.replay import Scenario, run_replay
from functions.domain.trace import Trace
from models.api import BusinessWindow, ForecastPath, NoForecast
from models.service import ForecastEnsemble

#: the 1-minute traces and 5-minute ones of each kind (CPU, requests, bursty user demand, idle VM, spikes)
DEFAULT_TRACES = (
    "twitter_stream_2021",
    "aiops_6d1114ae",
    "aiops_ffb82d38",
    "asg_misconfiguration",
    "twitter_amzn",
    "elb_requests_8c0756",
    "bitbrains_228",
    "azure2019_cpu",
)
DAY_NS = 86_400 * 1_000_000_000


class Recording:
    """A forecasting service that keeps every forecast it returns (keyed by the decision's time)."""

    def __init__(self, inner: ForecastEnsemble) -> None:
        self.inner = inner
        self.paths: dict[int, ForecastPath] = {}

    def fit(self, history: pd.DataFrame, *, now: datetime, events: list[BusinessWindow]) -> Any:
        return self.inner.fit(history, now=now, events=events)

    def forecast(
        self, history: pd.DataFrame, *, now: datetime, horizon_steps: int, events: list[BusinessWindow]
    ) -> dict[str, ForecastPath | NoForecast]:
        paths = self.inner.forecast(history, now=now, horizon_steps=horizon_steps, events=events)
        for path in paths.values():
            if isinstance(path, ForecastPath):
                self.paths[int(pd.Timestamp(now).value)] = path
        return paths


def head(trace: Trace, days: float) -> Trace:
    n = min(len(trace), int(days * 86_400 / trace.step_seconds))
    return Trace(ds=trace.ds[:n], y=trace.y[:n], step_seconds=trace.step_seconds, name=trace.name)


def measure(trace: Trace, *, days: float, warmup_days: float) -> dict[str, Any]:
    policy = DecisionPolicy()
    scenario = Scenario(warmup_days=warmup_days)
    short = head(trace, warmup_days + days)
    recording = Recording(ForecastEnsemble(step_seconds=trace.step_seconds))
    started = time.perf_counter()
    result = run_replay(short, scenario, forecaster=recording, policies=("predictive",), decision_policy=policy)
    elapsed = time.perf_counter() - started
    resolved = result.resolved
    window_ns = (scenario.boot_seconds + resolved.decision_interval_seconds) * 1_000_000_000
    step_ns = trace.step_seconds * 1_000_000_000
    ds = short.ds.asi8
    y = short.y
    by_day: dict[int, dict[str, Any]] = {}
    for _step, decision in result.decisions:
        now_ns = int(pd.Timestamp(decision.decided_at).value)
        path = recording.paths.get(now_ns)
        if path is None or "stale" in decision.reason.split(";")[0]:
            continue
        day = by_day.setdefault(now_ns // DAY_NS, {"old": [], "new": [], "f": 0.0, "n": 0.0, "steps": 0})
        day["old"].append(path.confidence)
        day["new"].append(decision.confidence)
        stamps = path.ds.asi8
        inside = (stamps > now_ns - step_ns) & (stamps < now_ns + window_ns)
        # the trace's step nearest each forecast step (a trace may sit off the forecast's grid)
        index = np.clip(np.searchsorted(ds, stamps[inside] - step_ns // 2), 0, len(ds) - 1)
        ok = np.abs(ds[index] - stamps[inside]) <= step_ns // 2
        index, p50 = index[ok], path.p50[inside][ok]
        back = np.searchsorted(ds, ds[index] - DAY_NS)
        ok = (back < len(ds)) & (ds[np.minimum(back, len(ds) - 1)] == ds[index] - DAY_NS)
        truth, naive, p50 = y[index[ok]], y[back[ok]], p50[ok]
        known = ~np.isnan(truth) & ~np.isnan(naive)
        day["f"] += float(np.abs(truth[known] - p50[known]).sum())
        day["n"] += float(np.abs(truth[known] - naive[known]).sum())
        day["steps"] += int(known.sum())
    first_day = -(-(int(ds[0]) + int(warmup_days * DAY_NS)) // DAY_NS)  # whole days only
    last_day = (int(ds[-1]) + step_ns) // DAY_NS - 1
    figures: dict[str, Any] = {"seconds": elapsed, "days": 0, "beats": 0}
    for rule in ("old", "new"):
        figures[f"{rule}_bad_days"] = 0
        figures[f"{rule}_below"] = 0
    decisions = 0
    for key in range(first_day, last_day + 1):
        if key not in by_day or not by_day[key]["new"] or by_day[key]["steps"] == 0:
            continue
        day = by_day[key]
        figures["days"] += 1
        beats = day["f"] < day["n"]
        figures["beats"] += int(beats)
        decisions += len(day["new"])
        for rule in ("old", "new"):
            below = [c < policy.min_confidence for c in day[rule]]
            figures[f"{rule}_below"] += sum(below)
            if beats and all(below):
                figures[f"{rule}_bad_days"] += 1
    for rule in ("old", "new"):
        figures[f"{rule}_below_pct"] = 100.0 * figures[f"{rule}_below"] / decisions if decisions else float("nan")
    figures["decisions"] = decisions
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", help=f"comma-separated trace names (default: {','.join(DEFAULT_TRACES)})")
    parser.add_argument("--days", type=float, default=7.0, help="days evaluated after the warm-up (default 7)")
    parser.add_argument("--warmup-days", type=float, default=7.0)
    args = parser.parse_args()
    names = args.traces.split(",") if args.traces else list(DEFAULT_TRACES)
    unknown = [n for n in names if n not in TRACES]
    if unknown:
        parser.error(f"--traces: unknown {unknown}; choose from {sorted(TRACES)}")
    print(
        f"{'trace':<22}{'step':>5}{'days':>5}{'beat SN':>8}"
        f"{'old: bad days':>14}{'new: bad days':>14}{'old % below':>12}{'new % below':>12}{'seconds':>9}"
    )
    for name in names:
        trace = TRACES[name]()
        if span_days(trace) < args.warmup_days + 2:
            print(f"{name:<22} skipped: {span_days(trace):.1f} days")
            continue
        f = measure(trace, days=args.days, warmup_days=args.warmup_days)
        print(
            f"{name:<22}{trace.step_seconds // 60:>4}m{f['days']:>5}{f['beats']:>8}"
            f"{f['old_bad_days']:>14}{f['new_bad_days']:>14}{f['old_below_pct']:>12.1f}{f['new_below_pct']:>12.1f}"
            f"{f['seconds']:>9.0f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
