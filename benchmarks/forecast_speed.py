"""Forecasting speed: training round and forecast round for 1, 100, 1,000 targets; warm single-target latency.

Each target has 14 days of 5-minute history (a real shared trace window, rescaled and shifted in
time so targets differ). The training round is ``ForecastEnsemble.fit`` (refit + backtest), the
forecast round is ``ForecastEnsemble.forecast`` for 24 h (288 steps) of every target in one call;
the latency is one target's ``forecast`` on a warm, fitted service (p50 / p99 over repeats). A
warm-up fit on 2 targets first pays the one-off import and first-call costs (reported separately).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.forecast_speed [--sizes 1,100,1000] [--repeats 200]

Figures depend on the machine's load: on the shared 2-core machine they are measured under contention.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime

import numpy as np
import pandas as pd

from benchmarks.traces import TRACES
from models.service import ForecastEnsemble

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
STEP = 300
DAYS = 14
NOW = datetime(2024, 6, 3, 0, 0)
SOURCES = ("asg_misconfiguration", "rds_cpu_cc0c53", "ec2_cpu_5f5533", "azure2019_cpu", "bitbrains_411", "twitter_amzn")


def make_panel(n_targets: int, *, seed: int = 0) -> pd.DataFrame:
    """``n_targets`` series of 14 days ending at NOW: windows of real traces, rescaled."""
    rng = np.random.default_rng(seed)
    steps = DAYS * 86_400 // STEP
    ds = pd.date_range(
        end=pd.Timestamp(NOW) - pd.Timedelta(seconds=STEP), periods=steps, freq=pd.Timedelta(seconds=STEP)
    )
    pools = []
    for name in SOURCES:
        y = TRACES[name]().y
        pools.append(np.asarray(y[np.isfinite(y)], dtype=float))
    frames = []
    for i in range(n_targets):
        pool = pools[i % len(pools)]
        start = int(rng.integers(0, max(1, len(pool) - steps)))
        values = pool[start : start + steps]
        if len(values) < steps:
            values = np.resize(values, steps)
        values = values / max(np.mean(values), 1e-9) * 10 ** rng.uniform(0, 3)
        frames.append(pd.DataFrame({"unique_id": f"t{i:04d}", "ds": ds, "y": values}))
    return pd.concat(frames, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100,1000")
    parser.add_argument("--repeats", type=int, default=200, help="single-target latency repeats")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"{'targets':>8s} {'train s':>9s} {'train s/target':>15s} {'forecast round s':>17s} {'ms/target':>10s}")
    warm: tuple[ForecastEnsemble, pd.DataFrame] | None = None
    # imports and first calls (statsforecast, LightGBM, holidays) are paid once per process, not per round
    warmup = make_panel(2, seed=99)
    ForecastEnsemble(STEP).fit(warmup, now=NOW, events=[]).forecast(warmup, now=NOW, horizon_steps=288, events=[])
    for n in sizes:
        panel = make_panel(n)
        service = ForecastEnsemble(STEP)
        t0 = time.perf_counter()
        service.fit(panel, now=NOW, events=[])
        t1 = time.perf_counter()
        out = service.forecast(panel, now=NOW, horizon_steps=288, events=[])
        t2 = time.perf_counter()
        assert len(out) == n
        print(f"{n:8d} {t1 - t0:9.1f} {(t1 - t0) / n:15.3f} {t2 - t1:17.2f} {(t2 - t1) / n * 1000:10.1f}", flush=True)
        if warm is None or n <= 100:
            warm = (service, panel)
    if warm is not None:
        service, panel = warm
        one = panel[panel.unique_id == panel.unique_id.iloc[0]]
        service.forecast(one, now=NOW, horizon_steps=288, events=[])
        latencies = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            service.forecast(one, now=NOW, horizon_steps=288, events=[])
            latencies.append((time.perf_counter() - t0) * 1000)
        p50, p99 = np.percentile(latencies, [50, 99])
        print(f"warm single-target forecast (288 steps): p50 {p50:.1f} ms, p99 {p99:.1f} ms over {args.repeats} runs")
    print("(measured under contention on a shared 2-core machine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
