"""Forecast accuracy on the shared real traces: MASE and sMAPE per model and for the ensemble.

Protocol (models/backtest.py, as ``forescale backtest``): origins every 6 h over the last 7 days, refit
at each origin, horizons 1 h and 24 h; MASE scaled by the in-sample daily seasonal-naive error. The
1-minute traces are averaged to 5 minutes; nyc_taxi is used at its own 30-minute step (no invented
5-minute values). Runs every trace of the tuning/evaluation split (benchmarks/splits.py) and prints a
table per horizon, the averages, the ratio of the ensemble to SeasonalNaive and, per trace, the
ensemble against the best single model; then, per half, the targets of issue 18: ensemble MASE at 1 h
<= 0.75 x SeasonalNaive's on average, and on every trace the ensemble within 5 % of its best single
model at 1 h and 24 h.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.forecast_accuracy [--quick] [--half tuning|evaluation]
        [--traces a,b] [--json out.json]

``--quick`` puts origins every 24 h (7 instead of 28) for fast iteration. ``--level-shifts`` instead
lists where the level-shift rule (models/regime.py) fires at any step of every trace of >= 14 days.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import splits
from benchmarks.traces import TRACES, SharedTracesMissingError, resample, shared_path
from functions.domain.trace import Trace
from models.backtest import run_backtest
from models.config import ForecastConfig

#: ensemble MASE / SeasonalNaive's, averaged over the traces (issue 18 sets 0.75 at 1 h)
TARGET_RATIO = {"1h": 0.75, "24h": 0.90}
#: the ensemble may be at most this much worse than the best single model on any trace
WORST_OVER_BEST = 1.05
#: the protocol's step: finer traces are averaged to it, as ``forescale backtest`` does
PROTOCOL_STEP = 300


def protocol_trace(trace: Trace) -> Trace:
    """The trace at the protocol's step: a finer trace averaged to 5 minutes, a coarser one as it is."""
    return resample(trace, PROTOCOL_STEP) if trace.step_seconds < PROTOCOL_STEP else trace


def ensemble_over_best(row: dict[str, float]) -> float:
    """Ensemble MASE / the best single model's on one trace and horizon (NaN without both)."""
    singles = [v for m, v in row.items() if m != "Ensemble"]
    return row.get("Ensemble", np.nan) / min(singles) if singles else np.nan


def half_summary(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per horizon: mean ensemble and SeasonalNaive MASE, their ratio, and the traces > 5 % worse than the best."""
    out: dict[str, dict[str, Any]] = {}
    for horizon in ("1h", "24h"):
        rows = {name: r["mase"].get(horizon, {}) for name, r in results.items()}
        ensemble = float(np.nanmean([row.get("Ensemble", np.nan) for row in rows.values()]))
        naive = float(np.nanmean([row.get("SeasonalNaive", np.nan) for row in rows.values()]))
        ratios = {name: ensemble_over_best(row) for name, row in rows.items()}
        out[horizon] = {
            "ensemble_mase": ensemble,
            "seasonal_naive_mase": naive,
            "ensemble_over_sn": ensemble / naive,
            "worse_than_best": {name: round(v, 3) for name, v in ratios.items() if v > WORST_OVER_BEST},
        }
    return out


def print_half(label: str, summary: dict[str, dict[str, Any]], traces: int) -> None:
    print(f"\n## {label}: {traces} trace(s)")
    for horizon, s in summary.items():
        worse = s["worse_than_best"]
        listed = ", ".join(f"{name} {ratio:.3f}" for name, ratio in worse.items()) or "none"
        print(
            f"{horizon:>4}: ensemble MASE {s['ensemble_mase']:.3f} / SeasonalNaive {s['seasonal_naive_mase']:.3f} = "
            f"{s['ensemble_over_sn']:.3f} (target <= {TARGET_RATIO[horizon]}); "
            f"ensemble > {WORST_OVER_BEST:.2f} x best single model: {listed}"
        )


def anomaly_comparison() -> int:
    """Both anomaly detectors against the NAB hand-labelled windows: precision and window recall."""
    from benchmarks.traces import NAB_FILES
    from models.anomaly import detect

    labels = json.loads(shared_path("nab/labels/combined_windows.json").read_text())
    print(
        f"{'method':26s} {'flagged':>8s} {'in window':>10s} {'precision':>10s} {'windows hit':>12s} {'recall':>7s}"
        f" {'ms/series':>10s}"
    )
    variants = (
        ("robust", 8.0, "robust (score > 8)"),
        ("robust", 0.0, "robust (top 1 %)"),
        ("isolation_forest", 0.0, "isolation_forest (1 %)"),
    )
    for method, threshold, label in variants:
        flagged = inside = windows = hit = 0
        spent = 0.0
        for name, relative in NAB_FILES.items():
            trace = TRACES[name]()
            started = time.perf_counter()
            flags, _ = detect(trace.y, trace.step_seconds, method=method, threshold=threshold)
            spent += time.perf_counter() - started
            stamps = trace.ds[flags]
            spans = [
                (np.datetime64(a[:19]), np.datetime64(b[:19])) for a, b in labels.get(relative.removeprefix("nab/"), [])
            ]
            in_any = np.zeros(len(stamps), dtype=bool)
            for start, end in spans:
                here = (stamps >= start) & (stamps <= end)
                in_any |= np.asarray(here)
                windows += 1
                hit += bool(np.any(here))
            flagged += len(stamps)
            inside += int(in_any.sum())
        print(
            f"{label:26s} {flagged:8d} {inside:10d} {inside / max(1, flagged):10.3f} {hit:>7d}/{windows:<4d} "
            f"{hit / max(1, windows):7.3f} {spent / len(NAB_FILES) * 1000:10.1f}"
        )
    print("(NAB windows cover about 10 % of each series: random flagging has a precision near 0.10)")
    return 0


def level_shift_scan() -> int:
    """Every start the level-shift rule finds, scanning each long trace step by step as the forecaster sees it."""
    from benchmarks.traces import long_traces
    from models.regime import followed_shift_start

    config = ForecastConfig()
    total = 0
    for name, trace in long_traces(14.0).items():
        y, step = np.asarray(trace.y, dtype=float), trace.step_seconds
        followed: dict[int, int] = {}  # start -> newest step at which it was still followed
        for n in range(1, len(y) + 1):
            start = followed_shift_start(y[:n], step, config)
            if start is not None:
                followed[start] = n
        total += len(followed)
        spans = ", ".join(
            f"{trace.ds[s]:%Y-%m-%d %H:%M} for {(n - s) * step / 3600:.1f} h" for s, n in followed.items()
        )
        print(f"{name:24s} {len(followed)} shift(s){': ' + spans if spans else ''}", flush=True)
    print(f"total: {total} shift starts")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="origins every 24 h instead of 6 h")
    parser.add_argument("--half", choices=tuple(splits.HALVES), help="only this half of the split (default: both)")
    parser.add_argument("--traces", help="comma-separated trace names instead of the split (benchmarks/traces.py)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--anomalies", action="store_true", help="compare the anomaly detectors on NAB labels")
    parser.add_argument("--level-shifts", action="store_true", help="where the level-shift rule fires on long traces")
    args = parser.parse_args(argv)
    if args.anomalies:
        return anomaly_comparison()
    if args.level_shifts:
        return level_shift_scan()
    if args.half and args.traces:
        parser.error("--half and --traces: give one of them")
    if args.traces:
        names = [n for n in args.traces.split(",") if n]
    else:
        names = list(splits.half(args.half)) if args.half else [*splits.TUNING, *splits.EVALUATION]
    try:  # every trace read before the first backtest: a missing one fails at once
        traces = {name: protocol_trace(splits.load(name)) for name in names}
    except (SharedTracesMissingError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = ForecastConfig()
    every = 24.0 if args.quick else 6.0
    results: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    for name, trace in traces.items():
        t0 = time.perf_counter()
        result = run_backtest(
            trace.ds, trace.y, step_seconds=trace.step_seconds, every_hours=every, config=config, name=name
        )
        results[name] = result.as_dict()
        print(
            f"# {name}: {result.origins} origins, fit {result.fit_seconds / max(1, result.origins):.2f} s/origin, "
            f"forecast {result.forecast_seconds / max(1, result.origins) * 1000:.0f} ms/origin, "
            f"{time.perf_counter() - t0:.0f} s",
            flush=True,
        )
    summary = {}
    for horizon in ("1h", "24h"):
        models = sorted({m for r in results.values() for m in r["mase"].get(horizon, {})})
        print(f"\n## MASE at {horizon}")
        print(f"{'trace':24s}{'half':>11s}" + "".join(f"{m[:12]:>13s}" for m in models) + f"{'ens/best':>10s}")
        ratios = []
        for name, r in results.items():
            row = r["mase"].get(horizon, {})
            ratio = ensemble_over_best(row)
            ratios.append(ratio)
            print(
                f"{name:24s}{splits.half_of(name) or '-':>11s}"
                + "".join(f"{row.get(m, np.nan):13.3f}" for m in models)
                + f"{ratio:10.3f}"
            )
        means = {
            m: float(np.nanmean([r["mase"].get(horizon, {}).get(m, np.nan) for r in results.values()])) for m in models
        }
        print(f"{'MEAN':24s}{'':11s}" + "".join(f"{means[m]:13.3f}" for m in models))
        smapes = {
            m: float(np.nanmean([r["smape"].get(horizon, {}).get(m, np.nan) for r in results.values()])) for m in models
        }
        print(f"{'mean sMAPE %':24s}{'':11s}" + "".join(f"{smapes[m]:13.2f}" for m in models))
        for q in ("p90", "p99"):
            values = [r["ensemble_coverage"].get(horizon, {}).get(q, np.nan) for r in results.values()]
            print(
                f"ensemble {q} coverage: mean {np.nanmean(values):.3f}, per trace min {np.nanmin(values):.3f} max {np.nanmax(values):.3f}"
            )
        ens_vs_sn = means.get("Ensemble", np.nan) / means.get("SeasonalNaive", np.nan)
        worst = float(np.nanmax(ratios)) if ratios else np.nan
        print(
            f"ensemble / SeasonalNaive = {ens_vs_sn:.3f} (target ≤ {TARGET_RATIO[horizon]}); "
            f"worst trace ensemble / best single = {worst:.3f} (target ≤ {WORST_OVER_BEST})"
        )
        summary[horizon] = {
            "mean_mase": means,
            "mean_smape": smapes,
            "ensemble_over_sn": ens_vs_sn,
            "worst_over_best": worst,
        }
    halves: dict[str, Any] = {}
    for label in (*splits.HALVES, None):
        members = {name: r for name, r in results.items() if splits.half_of(name) == label}
        if members:
            title = label or "outside the split"
            halves[title] = half_summary(members)
            print_half(title, halves[title], len(members))
    print(f"\ntotal {time.perf_counter() - started:.0f} s (measured under contention on a shared 2-core machine)")
    if args.json:
        args.json.write_text(
            json.dumps({"traces": results, "summary": summary, "halves": halves}, indent=2, default=float)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
