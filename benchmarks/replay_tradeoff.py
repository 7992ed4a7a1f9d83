"""The cost / under-provisioning trade-off of the decision settings, on recorded forecasts.

A replay's forecasts depend only on the trace (the forecaster sees loads, never capacity), so they are
recorded once per trace and the decision engine is then replayed with each setting in seconds instead
of refitting every model again. For every ``scale_in_stabilization_seconds``, commitment pricing
(``DecisionPolicy.price_commitment``) and ``violation_minute_penalty`` it prints the predictive
policy's mean ``under_time_pct`` and ``cost_ratio`` over the traces beside reactive's, and on how
many traces predictive beats reactive on both (issue 4's targets).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.replay_tradeoff [--max-days 30]
        [--penalties 0.05,0.1,0.2] [--stabilisations 300,900] [--commitment off,on]
        [--cache out/replay_forecasts]

The recorded forecasts are kept under ``--cache`` (a local pickle per trace, keyed by the engine's
source digest, so a change to ``models/`` records them again).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import sys
import time
from datetime import datetime
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from benchmarks.traces import TRACES, long_traces, span_days
from functions.domain.decision import DecisionPolicy
from functions.domain.replay import Scenario, run_replay
from functions.domain.trace import Trace
from models.api import BusinessWindow, ForecastPath, NoForecast
from models.service import ForecastEnsemble

Paths = dict[str, ForecastPath | NoForecast]
ROOT = Path(__file__).resolve().parents[1]


class RecordingForecaster:
    """The real forecasting service, keeping every answer by the time it was asked at."""

    def __init__(self, inner: ForecastEnsemble) -> None:
        self.inner = inner
        self.answers: dict[datetime, Paths] = {}

    def fit(self, history: pd.DataFrame, *, now: datetime, events: list[BusinessWindow]) -> RecordingForecaster:
        self.inner.fit(history, now=now, events=events)
        return self

    def forecast(
        self, history: pd.DataFrame, *, now: datetime, horizon_steps: int, events: list[BusinessWindow]
    ) -> Paths:
        answer = self.inner.forecast(history, now=now, horizon_steps=horizon_steps, events=events)
        self.answers[now] = answer
        return answer


class ReplayedForecaster:
    """Gives back the recorded answers; a time that was never asked is an error, not a guess."""

    def __init__(self, answers: dict[datetime, Paths]) -> None:
        self.answers = answers

    def fit(self, history: pd.DataFrame, *, now: datetime, events: list[BusinessWindow]) -> ReplayedForecaster:
        return self

    def forecast(
        self, history: pd.DataFrame, *, now: datetime, horizon_steps: int, events: list[BusinessWindow]
    ) -> Paths:
        try:
            return self.answers[now]
        except KeyError:
            raise KeyError(f"now: no forecast was recorded at {now:%Y-%m-%d %H:%M} (record again)") from None


def engine_digest() -> str:
    """Digest of the forecasting sources: recorded forecasts are only reused for the same engine."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "models").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def recorded(trace: Trace, cache: Path) -> dict[datetime, Paths]:
    path = cache / f"{trace.name}-{engine_digest()}.pkl"
    if path.exists():
        with path.open("rb") as handle:
            answers: dict[datetime, Paths] = pickle.load(handle)
            return answers
    started = time.perf_counter()
    recorder = RecordingForecaster(ForecastEnsemble(step_seconds=trace.step_seconds))
    run_replay(trace, Scenario(), forecaster=recorder, policies=("predictive",))
    cache.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        pickle.dump(recorder.answers, handle)
    print(f"# recorded {len(recorder.answers)} forecasts of {trace.name} in {time.perf_counter() - started:.0f} s")
    return recorder.answers


def toward_actual(trace: Trace, answers: dict[datetime, Paths], error_scale: float = 0.0) -> dict[datetime, Paths]:
    """The recorded forecasts with every quantile moved to the load that came (unknown steps keep the
    forecast): ``error_scale`` 0 takes forecasting error out (the decision rules' own cost); 0.8 keeps
    80 % of each quantile's distance from the load that came (a forecaster with 20 % smaller errors)."""
    from dataclasses import replace

    loads = pd.Series(trace.y, index=trace.ds)
    tolerance = pd.Timedelta(int(trace.step_seconds) * 500, unit="ms")  # half a step

    def closer(path: ForecastPath | NoForecast) -> ForecastPath | NoForecast:
        if isinstance(path, NoForecast):
            return path
        came = loads.reindex(path.ds, method="nearest", tolerance=tolerance).to_numpy()
        known = np.isfinite(came)

        def moved(values: np.ndarray) -> np.ndarray:
            return np.clip(
                np.where(known, came + error_scale * (values - np.where(known, came, 0.0)), values), 0.0, None
            )

        p50, p90, p99 = moved(path.p50), moved(path.p90), moved(path.p99)
        p90 = np.maximum(p90, p50)
        return replace(
            path, p50=p50, p90=p90, p99=np.maximum(p99, p90), confidence=1.0 if error_scale == 0 else path.confidence
        )

    return {now: {uid: closer(path) for uid, path in paths.items()} for now, paths in answers.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", help="comma-separated trace names (default: every trace of >= 14 days)")
    parser.add_argument("--max-days", type=float, help="leave out traces longer than this (bounds the time)")
    parser.add_argument("--penalties", default="0.05,0.07,0.1,0.15,0.25")
    parser.add_argument("--stabilisations", default="300,900")
    parser.add_argument(
        "--commitment", default="off", help="price added instances for the stabilisation window: off, on or off,on"
    )
    parser.add_argument("--cache", type=Path, default=ROOT / "out" / "replay_forecasts")
    parser.add_argument(
        "--perfect", action="store_true", help="replace the forecasts by the loads that came (no forecast error)"
    )
    parser.add_argument(
        "--error-scale",
        type=float,
        help="keep this share of each forecast's distance from the load that came (0 = --perfect, 1 = as recorded)",
    )
    parser.add_argument("--per-trace", action="store_true", help="also print each trace's scores")
    args = parser.parse_args()

    traces = {n: TRACES[n]() for n in args.traces.split(",")} if args.traces else long_traces(14.0)
    if args.max_days is not None:
        traces = {n: t for n, t in traces.items() if span_days(t) <= args.max_days}
    answers = {name: recorded(trace, args.cache) for name, trace in traces.items()}
    if args.perfect or args.error_scale is not None:
        scale = 0.0 if args.perfect else float(args.error_scale)
        answers = {name: toward_actual(traces[name], found, scale) for name, found in answers.items()}
        print(f"forecasts moved to the loads that came: {scale:g} of each error kept")
    print(f"traces: {', '.join(traces)}")
    commitments = [{"off": False, "on": True}[v] for v in args.commitment.split(",")]
    print(
        f"{'stabilisation s':>16}{'commitment':>11}{'penalty':>9}{'under pred':>12}{'under react/2':>15}"
        f"{'cost pred':>11}{'wins':>6}"
    )
    settings = [
        (int(stab), committed, float(pen))
        for stab in args.stabilisations.split(",")
        for committed in commitments
        for pen in args.penalties.split(",")
    ]
    for stabilisation, committed, penalty in settings:
        scenario = Scenario(scale_in_stabilization_seconds=stabilisation, violation_minute_penalty=penalty)
        policy = DecisionPolicy(price_commitment=committed)
        under, react_under, cost, wins = [], [], [], 0
        for name, trace in traces.items():
            result = run_replay(trace, scenario, forecaster=ReplayedForecaster(answers[name]), decision_policy=policy)
            pred, react = result.runs["predictive"].scores, result.runs["reactive"].scores
            under.append(pred.under_time_pct)
            react_under.append(react.under_time_pct)
            cost.append(pred.cost_ratio)
            below = pred.under_time_pct < react.under_time_pct or pred.under_time_pct == react.under_time_pct == 0
            wins += int(below and pred.cost_ratio < react.cost_ratio)
            if args.per_trace:
                print(
                    f"  {name:24s} under {pred.under_time_pct:6.2f} / {react.under_time_pct:6.2f}"
                    f"  cost {pred.cost_ratio:6.3f} / {react.cost_ratio:6.3f}"
                )
        print(
            f"{stabilisation:>16}{'on' if committed else 'off':>11}{penalty:>9g}{np.mean(under):>12.2f}{np.mean(react_under) / 2:>15.2f}"
            f"{np.mean(cost):>11.3f}{wins:>4}/{len(traces)}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
