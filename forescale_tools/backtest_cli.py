"""``forescale backtest TRACE.csv [--horizons 1h,24h]``: accuracy of every model and the ensemble on a trace.

Prints JSON: per horizon, MASE and sMAPE of each model and of the ensemble, with the protocol of
models/backtest.py (5-minute steps: finer traces are averaged to 5 minutes, coarser ones are used at
their own step; origins every 6 h over the last 7 days; refit at each origin).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd

from functions.domain.trace import TraceError, check_step, read_trace
from models.backtest import parse_horizons, run_backtest
from models.config import ForecastConfig

PROTOCOL_STEP = 300


def _to_protocol_step(ds: pd.DatetimeIndex, y: np.ndarray, step: int) -> tuple[pd.DatetimeIndex, np.ndarray, int]:
    if step >= PROTOCOL_STEP or PROTOCOL_STEP % step:
        return ds, y, step
    series = pd.Series(y, index=ds).resample(pd.Timedelta(seconds=PROTOCOL_STEP)).mean()
    return pd.DatetimeIndex(series.index), np.asarray(series.to_numpy(dtype=float)), PROTOCOL_STEP


def _check_options(args: argparse.Namespace) -> None:
    """Refuse spans and spacings that give no forecast origin (a zero spacing would never end)."""
    for flag, value in (("--last-days", args.last_days), ("--every-hours", args.every_hours)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{flag}: {value} must be a positive number")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="forescale backtest", description=__doc__.splitlines()[0])
    parser.add_argument("trace", help="CSV with header timestamp,value")
    parser.add_argument("--horizons", default="1h,24h", help="comma-separated durations (default 1h,24h)")
    parser.add_argument("--last-days", type=float, default=7.0, help="span of the forecast origins (days)")
    parser.add_argument("--every-hours", type=float, default=6.0, help="spacing of the forecast origins (hours)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        _check_options(args)
        horizons = parse_horizons(args.horizons)
        trace = read_trace(args.trace)
        if not np.isfinite(trace.y).any():
            raise TraceError("trace: no known value (every value is empty or NaN)")
        ds, y, step = _to_protocol_step(trace.ds, trace.y, trace.step_seconds)
        check_step(step)
    except (ValueError, TraceError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    span_days = len(ds) * step / 86_400
    needed = args.last_days + 2
    if span_days < needed:
        print(f"error: trace: spans {span_days:.1f} days; the protocol needs at least {needed:g}", file=sys.stderr)
        return 2
    longest = max(horizons.values())
    if args.last_days * 86_400 < longest:
        print(
            f"error: --last-days: {args.last_days:g} days leave no origin with the longest horizon "
            f"({longest} s) of known load after it",
            file=sys.stderr,
        )
        return 2
    result = run_backtest(
        ds,
        y,
        step_seconds=step,
        horizons=horizons,
        last_days=args.last_days,
        every_hours=args.every_hours,
        config=ForecastConfig(),
        name=trace.name,
    )
    payload = {"trace": args.trace, "step_seconds": step, "horizons": list(horizons), **result.as_dict()}
    print(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
