"""Pipeline speed against moto's server: decider + executor per target, collector and forecaster rounds.

Three measurements, each with the real Lambda handlers and boto3 calls to a moto server running in its
own process (so the emulator's CPU is not counted in the handler's process):

- ``decide``: one target's decider invocation (ForecastReady of one) plus the executor invocation of
  the decision it published, warm, repeated; p50 / p99 of the total and of the handlers' own time
  (total minus the time spent waiting for HTTP answers from the emulator);
- ``collect``: one collector invocation for ``--collect-targets`` targets (an ordinary round and a
  round on a decision boundary, which also compacts every target's day);
- ``forecast``: one forecaster invocation for ``--forecast-targets`` targets with ``--history-days``
  of history at ``--step`` seconds (first invocation of a fresh process, then warm), one for a batch
  of ``--batch-size`` targets, and the decider for that batch.

Each timed invocation runs in a fresh child process whose peak resident memory (``ru_maxrss``) is
the figure compared with the function's memory size; seeding runs in another child first. Then the
scale-out arithmetic for 10,000 targets is printed from the measured durations.

A fourth scenario, ``cost`` (not run by default; no emulator), counts every billable request of simulated
hours of the whole pipeline on the in-memory twins at ``--cost-targets`` and ``--cost-small`` targets and
prints the cost per target-month and the fixed part of a deployment (:mod:`benchmarks.cost`).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.pipeline [--scenarios decide,collect,forecast]
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.pipeline --scenarios cost [--cost-hours 24]

On the shared 2-core machine the figures are measured under contention.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
FLEET = 10_000
NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
QUIET = {
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


# --------------------------------------------------------------------------- plumbing


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's server in its own process on loopback."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def child(step: str, args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    """Run one step in a fresh interpreter; its last stdout line is JSON."""
    command = [sys.executable, "-m", "benchmarks.pipeline", "--child", step, "--endpoint", args.endpoint]
    for name in (
        "repeats",
        "collect_targets",
        "forecast_targets",
        "history_days",
        "step",
        "batch_size",
        "models",
        "learn",
    ):
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    for key, value in extra.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **QUIET}, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"child {step} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


class HttpClock:
    """Time spent inside botocore's HTTP send (waiting for the emulator), accumulated, and the S3
    requests sent by kind (``LIST``, ``GET``, ``PUT``...: the figures of the S3 line of the cost formula)."""

    def __init__(self) -> None:
        from botocore.httpsession import URLLib3Session

        self.seconds = 0.0
        self.s3: Counter[str] = Counter()
        original = URLLib3Session.send

        def timed(session: Any, request: Any) -> Any:
            if "/s3/aws4_request" in str(request.headers.get("Authorization", "")):
                listing = request.method == "GET" and "list-type=" in request.url
                self.s3["LIST" if listing else request.method] += 1
            start = time.perf_counter()
            try:
                return original(session, request)
            finally:
                self.seconds += time.perf_counter() - start

        URLLib3Session.send = timed  # type: ignore[method-assign,assignment]


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


# --------------------------------------------------------------------------- shared set-up (children)


def aws_for(args: argparse.Namespace, prefix: str) -> Any:
    from forescale_tools.local_router import LocalAws

    aws = LocalAws(args.endpoint, prefix=prefix)
    os.environ.update(aws.environment())
    os.environ["FORESCALE_FORECAST_HISTORY_DAYS"] = str(args.history_days)
    return aws


def targets_for(prefix: str, count: int, *, step: int, mode: str = "direct", learn: bool = False) -> list[Any]:
    from functions.domain.target import LoadMetric, ScalingTarget

    interval = max(300, step) // step * step
    return [
        ScalingTarget(
            target_id=f"t{i:05d}",
            kind="asg",
            asg_name=f"{prefix}-g{i:05d}",
            metric=LoadMetric(
                namespace="Bench/Load", name="Requests", dimensions={"Target": f"{prefix}-{i}"}, period_seconds=step
            ),
            capacity_per_instance="learn" if learn else 100.0,
            min_capacity=0,
            max_capacity=20,
            mode=mode,
            decision_interval_seconds=interval,
            scale_in_stabilization_seconds=0,
            max_step_down=20,
        )
        for i in range(count)
    ]


def wire(clock: Any) -> None:
    """The handlers' container from the environment (moto's server), with the benchmark's clock and ids."""
    from functions import wiring
    from functions.domain.clock import SequentialIds
    from functions.services.common import NullSink
    from functions.wiring import Components

    wiring.install(Components.from_env(clock=clock, ids=SequentialIds(), sleep=lambda _s: None, sink=NullSink()))


def context(name: str) -> Any:
    from forescale_tools.local_router import LambdaContext

    return LambdaContext(function_name=name, aws_request_id=uuid.uuid4().hex)


# --------------------------------------------------------------------------- decide + execute


def run_decide(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    from events.base import to_envelope
    from events.contracts import ForecastReady, ForecastSummary
    from functions.domain.clock import FixedClock
    from functions.handlers import decider, executor
    from functions.ports.records import StoredForecast
    from models.api import ForecastPath

    prefix = f"bench-decide-{uuid.uuid4().hex[:8]}"
    aws = aws_for(args, prefix)
    aws.create()
    (target,) = targets_for(prefix, 1, step=300)
    aws.create_asg(target.asg_name, desired=2, min_size=0, max_size=20)
    aws.put_targets([target])
    clock = FixedClock(NOON)
    wire(clock)
    store = _store(aws)
    http = HttpClock()
    totals: list[float] = []
    own: list[float] = []
    s3_decider: Counter[str] = Counter()
    for i in range(args.repeats + 5):
        at = NOON + timedelta(minutes=5 * i)
        level = 900.0 if i % 2 == 0 else 150.0  # alternately 10 and 2 instances: every decision acts
        ds = pd.date_range(at.replace(tzinfo=None), periods=13, freq="300s")
        path = ForecastPath("t00000", at, ds, np.full(13, level), np.full(13, level), np.full(13, level), 0.9, "bench")
        store.put_forecast(StoredForecast.from_path(path, forecast_id=f"f-{i}", model_version="bench"))
        desired = aws.asg_desired(target.asg_name)[0]
        summary = ForecastSummary(
            target_id="t00000", forecast_id=f"f-{i}", issued_at=at, history_end=at - timedelta(minutes=5),
            step_seconds=300, horizon_steps=13, model_version="bench", confidence=0.9,
            desired_capacity=desired, in_service_capacity=desired, recent_load=level,
        )  # fmt: skip
        clock.current = at + timedelta(seconds=5)
        ready = to_envelope(
            ForecastReady(round_id=f"r-{i}", forecasts=[summary]), event_id=f"e-{i}", time=clock.current
        )
        http.seconds = 0.0
        http.s3.clear()
        start = time.perf_counter()
        result = decider.handler(ready, context("decider"))
        decided_in, waited = time.perf_counter() - start, http.seconds
        if i >= 5:
            s3_decider.update(http.s3)
        (event,) = store.decisions("t00000", at, at + timedelta(minutes=1))
        envelope = to_envelope(event, event_id=f"d-{i}", time=clock.current)
        http.seconds = 0.0
        start = time.perf_counter()
        outcome = executor.handler(envelope, context("executor"))
        executed_in, waited = time.perf_counter() - start, waited + http.seconds
        if outcome["status"] != "executed" or result["decisions"][0]["action"] == "hold":
            raise RuntimeError(f"iteration {i}: expected an action, got {result} / {outcome}")
        if i >= 5:
            totals.append(decided_in + executed_in)
            own.append(decided_in + executed_in - waited)
    ms = lambda values, q: round(1000 * percentile(values, q), 1)  # noqa: E731
    return {
        "iterations": len(totals),
        "total_p50_ms": ms(totals, 50),
        "total_p99_ms": ms(totals, 99),
        "own_p50_ms": ms(own, 50),
        "own_p99_ms": ms(own, 99),
        "decider_s3_per_decision": per(s3_decider, len(totals)),
        "peak_mib": round(peak_mib(), 1),
    }


def per(counts: Counter[str], divisor: int) -> dict[str, float]:
    """S3 requests by kind, per target (or per decision)."""
    return {kind: round(count / divisor, 2) for kind, count in sorted(counts.items())}


def _store(aws: Any) -> Any:
    from functions.adapters.dynamodb import DynamoStateStore

    return DynamoStateStore(aws.client("dynamodb"), aws.table_names())


# --------------------------------------------------------------------------- collector


def setup_collect(args: argparse.Namespace) -> dict[str, Any]:
    prefix = f"bench-collect-{uuid.uuid4().hex[:8]}"
    aws = aws_for(args, prefix)
    aws.create()
    learn = args.learn == "yes"
    targets = targets_for(prefix, args.collect_targets, step=60, learn=learn)
    for target in targets:
        aws.create_asg(target.asg_name, desired=0, min_size=0, max_size=20)
    aws.put_targets(targets)
    cloudwatch = aws.client("cloudwatch")
    minutes = range(1, 11)
    data = [
        {
            "MetricName": "Requests",
            "Dimensions": [{"Name": "Target", "Value": f"{prefix}-{i}"}],
            "Timestamp": NOON - timedelta(minutes=m),
            "Value": 100.0 + m,
        }
        for i in range(len(targets))
        for m in minutes
    ]
    put_all(cloudwatch, "Bench/Load", data)
    if learn:  # the fleet's CPU, what a learning target's collector also reads
        cpu = [
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "AutoScalingGroupName", "Value": t.asg_name}],
                "Timestamp": NOON - timedelta(minutes=m),
                "Value": 50.0,
            }
            for t in targets
            for m in minutes
        ]
        put_all(cloudwatch, "AWS/EC2", cpu)
    return {"prefix": prefix}


def put_all(cloudwatch: Any, namespace: str, data: list[dict[str, Any]]) -> None:
    """``PutMetricData`` in calls of at most 1,000 datums (the API's limit)."""
    for offset in range(0, len(data), 1000):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[offset : offset + 1000])


def run_collect(args: argparse.Namespace) -> dict[str, Any]:
    from functions.domain.clock import FixedClock
    from functions.handlers import collector

    aws_for(args, args.prefix)
    clock = FixedClock(NOON + timedelta(minutes=1, seconds=5))  # an ordinary round first
    wire(clock)
    http = HttpClock()
    out: dict[str, Any] = {}
    for label, at in (
        ("ordinary", NOON + timedelta(minutes=1, seconds=5)),
        ("boundary", NOON + timedelta(minutes=5, seconds=5)),
    ):
        clock.current = at
        http.seconds = 0.0
        http.s3.clear()
        start = time.perf_counter()
        result = collector.handler({}, context("collector"))
        elapsed = time.perf_counter() - start
        if result["targets"] != args.collect_targets:
            raise RuntimeError(f"collector handled {result['targets']} targets")
        out[label] = {
            "seconds": round(elapsed, 2),
            "http_seconds": round(http.seconds, 2),
            "points": result["points"],
            "compacted": result["compacted"],
            "batches": result["batches"],
            "s3_per_target": per(http.s3, args.collect_targets),
        }
    out["peak_mib"] = round(peak_mib(), 1)
    return out


# --------------------------------------------------------------------------- forecaster


def setup_forecast(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    from functions.adapters.s3 import S3Store
    from functions.ports.records import ModelVersion
    from functions.services.model_registry import ARTIFACT_KEY, save_artifact

    prefix = f"bench-forecast-{uuid.uuid4().hex[:8]}"
    aws = aws_for(args, prefix)
    aws.create()
    targets = targets_for(prefix, args.forecast_targets, step=args.step)
    aws.put_targets(targets)
    archive = S3Store.for_bucket(aws.client("s3"), aws.bucket)
    end = NOON.replace(tzinfo=None)
    ds = pd.date_range(end - timedelta(days=args.history_days), end, freq=f"{args.step}s", inclusive="left")
    hours = ds.hour + ds.minute / 60
    rng = np.random.default_rng(0)
    frames = []
    for i, target in enumerate(targets):
        level = 10 ** rng.uniform(1, 3)
        y = level * (1 + 0.5 * np.sin(2 * np.pi * (hours / 24 + i / 50))) * (1 + 0.05 * rng.standard_normal(len(ds)))
        frame = pd.DataFrame({"ds": ds, "y": np.maximum(y, 0)})
        for day, rows in frame.groupby(frame["ds"].dt.date):
            archive.write_history(target.target_id, rows, part_id=f"{day:%Y%m%d}T000000Z-seed")
        frames.append(frame.assign(unique_id=target.target_id))
    fit_seconds = None
    if args.models != "none":
        from models.config import ForecastConfig
        from models.service import ForecastEnsemble

        config = ForecastConfig(models=tuple(args.models.split(",")))
        history = pd.concat(frames, ignore_index=True)[["unique_id", "ds", "y"]]
        start = time.perf_counter()
        service = ForecastEnsemble(args.step, config).fit(history, now=end - timedelta(hours=1), events=[])
        fit_seconds = round(time.perf_counter() - start, 1)
        uri = save_artifact(service, archive, artifact_key="bench", version="v1")
        store = _store(aws)
        for target in targets:
            store.register_model(ModelVersion(target.target_id, "v1", NOON, uri, {}, {ARTIFACT_KEY: "bench"}))
            store.promote(target.target_id, "v1", expected_current=None, at=NOON)
    return {"prefix": prefix, "fit_seconds": fit_seconds}


def run_forecast(args: argparse.Namespace) -> dict[str, Any]:
    from events.base import to_envelope
    from events.contracts import CollectedTarget, ForecastReady, MetricsCollected
    from functions.domain.clock import FixedClock
    from functions.handlers import decider, forecaster

    aws_for(args, args.prefix)
    clock = FixedClock(NOON + timedelta(seconds=5))
    wire(clock)
    ids = [f"t{i:05d}" for i in range(args.forecast_targets)]
    store = _store(aws_for(args, args.prefix))
    http = HttpClock()
    out: dict[str, Any] = {}

    def invoke(label: str, at: datetime, chosen: list[str]) -> list[dict[str, Any]]:
        clock.current = at
        items = [
            CollectedTarget(
                target_id=tid,
                last_timestamp=at - timedelta(seconds=args.step + 5),
                last_value=100.0,
                points_written=1,
                desired_capacity=2,
                in_service_capacity=2,
            )
            for tid in chosen
        ]
        event = MetricsCollected(round_id=f"r-{label}", collected_at=at, step_seconds=args.step, targets=items)
        http.s3.clear()
        start = time.perf_counter()
        result = forecaster.handler(to_envelope(event, event_id=f"e-{label}", time=at), context("forecaster"))
        out[label] = {
            "targets": len(chosen),
            "seconds": round(time.perf_counter() - start, 2),
            "s3_per_target": per(http.s3, len(chosen)),
        }
        forecasts = result["forecasts"]
        if len(forecasts) != len(chosen):
            raise RuntimeError(f"{label}: {len(forecasts)} forecasts for {len(chosen)} targets")
        out[label]["model"] = sorted({f["model"] for f in forecasts})[:3]
        out[label]["no_forecast"] = sum(1 for f in forecasts if f["no_forecast_reason"])
        return forecasts

    def decide(label: str, chosen: list[str], forecasts: list[dict[str, Any]]) -> None:
        """The decider for ``chosen``, from the forecasts just stored."""
        summaries = []
        for tid, forecast in zip(chosen, forecasts, strict=True):
            stored = store.latest_forecast(tid)
            summaries.append(
                {
                    "target_id": tid,
                    "forecast_id": forecast["forecast_id"],
                    "issued_at": stored.issued_at,
                    "history_end": stored.history_end,
                    "step_seconds": args.step,
                    "horizon_steps": len(stored.ds),
                    "model_version": stored.model_version,
                    "confidence": stored.confidence,
                    "desired_capacity": 2,
                    "in_service_capacity": 2,
                    "recent_load": 100.0,
                }
            )
        ready = ForecastReady(round_id=f"r-{label}", forecasts=summaries)
        http.s3.clear()
        start = time.perf_counter()
        decider.handler(to_envelope(ready, event_id=f"e-{label}", time=clock.current), context("decider"))
        out[label] = {
            "targets": len(chosen),
            "seconds": round(time.perf_counter() - start, 2),
            "s3_per_target": per(http.s3, len(chosen)),
        }

    invoke("first", NOON + timedelta(seconds=5), ids)
    out["peak_mib_after_first"] = round(peak_mib(), 1)
    batch = ids[: args.batch_size]
    warm = {f["target_id"]: f for f in invoke("warm", NOON + timedelta(minutes=5, seconds=5), ids)}
    # a first decision (fresh forecast records), then one that scores the forecasts still pending
    decide("decider_first", batch, [warm[tid] for tid in batch])
    forecasts = invoke("batch", NOON + timedelta(minutes=10, seconds=5), batch)
    decide("decider_batch", batch, forecasts)
    out["peak_mib"] = round(peak_mib(), 1)
    return out


# --------------------------------------------------------------------------- report


def arithmetic(collect: dict[str, Any] | None, forecast: dict[str, Any] | None, args: argparse.Namespace) -> list[str]:
    lines = [f"Scale-out arithmetic for {FLEET:,} targets (collect every 60 s, decide every 300 s):"]
    if collect:
        shard = args.collect_targets
        slowest = max(collect["ordinary"]["seconds"], collect["boundary"]["seconds"])
        shards = math.ceil(FLEET / shard)
        lines.append(
            f"  collector: {shards} shards of {shard} (1 scheduled + {shards - 1} async self-invocations), "
            f"slowest round {slowest:.1f} s per shard -> concurrency {shards}, "
            f"{'fits' if slowest < 60 else 'DOES NOT fit'} the 60 s cadence"
        )
    if forecast:
        per_batch = forecast["batch"]["seconds"]
        batches = math.ceil(FLEET / args.batch_size)
        busy = batches * per_batch
        lines.append(
            f"  forecaster: {batches} invocations of {args.batch_size} targets per 300 s interval, "
            f"{per_batch:.1f} s each (warm) -> {busy:,.0f} invocation-seconds per interval, "
            f"mean concurrency {busy / 300:.1f}, burst concurrency {batches} if all start together"
        )
        decide = forecast["decider_batch"]["seconds"]
        lines.append(
            f"  decider: {batches} invocations of {args.batch_size}, {decide:.1f} s each -> mean concurrency "
            f"{batches * decide / 300:.1f}; executor: one invocation per changed target"
        )
        lines.append(
            f"  forecaster {args.forecast_targets} targets in one invocation: first {forecast['first']['seconds']:.1f} s, "
            f"warm {forecast['warm']['seconds']:.1f} s, peak {forecast['peak_mib']:.0f} MiB "
            f"(limits: 900 s, 3008 MiB configured)"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="decide,collect,forecast")
    parser.add_argument("--repeats", type=int, default=200, help="decide+execute iterations (after 5 warm-up)")
    parser.add_argument("--collect-targets", type=int, default=500)
    parser.add_argument("--forecast-targets", type=int, default=200)
    parser.add_argument("--history-days", type=float, default=8.0)
    parser.add_argument("--step", type=int, default=60, help="metric period of the forecast scenario, seconds")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument(
        "--models",
        default="SeasonalNaive,SeasonalWindowAverage,LightGBM",
        help="models of the champion fitted before the forecast scenario ('none': unfitted fallback)",
    )
    parser.add_argument(
        "--learn",
        choices=("no", "yes"),
        default="no",
        help="collect scenario: targets learn capacity_per_instance (the collector also reads CPU and stores busy)",
    )
    parser.add_argument("--cost-targets", type=int, default=1000, help="cost scenario: the fleet measured")
    parser.add_argument(
        "--cost-small", type=int, default=10, help="cost scenario: the second, small fleet (fixed part)"
    )
    parser.add_argument(
        "--cost-hours", type=float, default=24.0, help="cost scenario: simulated hours of 1-minute rounds"
    )
    parser.add_argument("--cost-warmup", type=int, default=5, help="cost scenario: minutes run before counting starts")
    parser.add_argument(
        "--cost-train", choices=("yes", "no"), default="yes", help="cost scenario: one trainer run (the daily one)"
    )
    parser.add_argument(
        "--cost-stream",
        choices=("yes", "no", "both"),
        default="both",
        help="cost scenario: the collector reads a metric stream (yes), GetMetricData alone (no), or each in turn",
    )
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        steps: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
            "decide": run_decide,
            "setup-collect": setup_collect,
            "collect": run_collect,
            "setup-forecast": setup_forecast,
            "forecast": run_forecast,
        }
        print(json.dumps(steps[args.child](args)))
        return 0
    chosen = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    results: dict[str, Any] = {}
    if "cost" in chosen:
        from benchmarks import cost

        streams = {"yes": (True,), "no": (False,), "both": (True, False)}[args.cost_stream]
        for stream in streams:
            options = {"train": args.cost_train == "yes", "warmup_minutes": args.cost_warmup, "stream": stream}
            small = cost.simulate(args.cost_small, args.cost_hours, args.history_days, **options)
            large = cost.simulate(args.cost_targets, args.cost_hours, args.history_days, **options)
            print(json.dumps({"small": small, "large": large}), flush=True)
            for line in cost.report(large, small):
                print(line, flush=True)
        chosen.discard("cost")
        if not chosen:
            return 0
    with moto_server() as endpoint:
        args.endpoint = endpoint
        if "decide" in chosen:
            results["decide"] = child("decide", args)
            print("decide+execute, one target, warm:", json.dumps(results["decide"]), flush=True)
        if "collect" in chosen:
            setup = child("setup-collect", args)
            results["collect"] = child("collect", args, prefix=setup["prefix"])
            print(f"collector, {args.collect_targets} targets:", json.dumps(results["collect"]), flush=True)
        if "forecast" in chosen:
            setup = child("setup-forecast", args)
            results["forecast"] = child("forecast", args, prefix=setup["prefix"]) | {
                "fit_seconds": setup["fit_seconds"]
            }
            print(f"forecaster, {args.forecast_targets} targets:", json.dumps(results["forecast"]), flush=True)
    print()
    for line in arithmetic(results.get("collect"), results.get("forecast"), args):
        print(line)
    if "decide" in results:
        figure = results["decide"]
        verdict = "meets" if figure["own_p99_ms"] <= 50 else "MISSES"
        print(
            f"  decider + executor per target: p99 {figure['total_p99_ms']} ms with the emulator, "
            f"{figure['own_p99_ms']} ms own time ({verdict} the 50 ms target)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
