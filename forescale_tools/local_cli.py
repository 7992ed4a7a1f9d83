"""``forescale local run TRACE.csv``: the whole pipeline on this machine, against moto's server, from a trace.

It starts moto's server on loopback (or uses ``--endpoint``), creates forescale's tables, bucket and bus,
an Auto Scaling group (``direct`` mode) and an ECS service (``floor`` mode) that both carry the trace's
load, and writes the first ``--warmup-days`` of the trace as history (what the collector would have
stored). Then, minute by minute, it puts the load of each finished period into CloudWatch, invokes the
collector as the schedule would, and lets the local event router carry every event through the
forecaster, the decider and the executor, printing what each stage did. At the end: the capacity the
group and the service had at each decision, next to the load.

Nothing here is simulated beyond the emulator: the handlers are the Lambda handlers, the events go
through moto's EventBridge rules (built from ``functions.routing``) and SQS.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from forescale_tools.local_router import Delivery, LocalAws
    from functions.domain.target import ScalingTarget
    from functions.domain.trace import Trace

NAMESPACE = "forescale/local"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="forescale local", description="Run forescale locally against moto's server.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="drive a simulated ASG and ECS service from a timestamp,value trace")
    run.add_argument("trace", type=Path, help="CSV with header timestamp,value (step a multiple of 60 s)")
    run.add_argument("--minutes", type=int, default=120, help="minutes to run after the warm-up [120]")
    run.add_argument("--warmup-days", type=float, default=2.0, help="days of the trace stored as history first [2]")
    run.add_argument("--p99-instances", type=int, default=10, help="instances the trace's p99 load needs [10]")
    run.add_argument("--boot-seconds", type=int, default=300, help="launch to in service [300]")
    run.add_argument("--endpoint", help="use this running moto server instead of starting one")
    run.add_argument("--quiet", action="store_true", help="print the summary only")
    return parser


# --------------------------------------------------------------------------- set-up


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _moto(endpoint: str | None) -> Iterator[str]:
    if endpoint:
        yield endpoint
        return
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _targets(aws: LocalAws, trace: Trace, args: argparse.Namespace) -> tuple[ScalingTarget, ScalingTarget, float]:
    import numpy as np

    from functions.domain.target import LoadMetric, ScalingTarget

    known = trace.y[~np.isnan(trace.y)]
    p99 = float(np.percentile(known, 99)) if len(known) else 0.0
    if not p99 > 0:
        raise ValueError("trace: its p99 load is 0; nothing to scale")
    capacity = p99 / (args.p99_instances * 0.9)
    step = trace.step_seconds
    common: dict[str, Any] = {
        "capacity_per_instance": capacity,
        "boot_seconds": args.boot_seconds,
        "min_capacity": 1,
        "max_capacity": max(4, 4 * args.p99_instances),
        "decision_interval_seconds": max(300, step) // step * step,
        "scale_in_stabilization_seconds": 900,
    }
    web = ScalingTarget(
        target_id="web",
        kind="asg",
        asg_name=f"{aws.prefix}-web",
        mode="direct",
        metric=LoadMetric(namespace=NAMESPACE, name="Load", dimensions={"Target": "web"}, period_seconds=step),
        **common,
    )
    api = ScalingTarget(
        target_id="api",
        kind="ecs",
        ecs_cluster=aws.prefix,
        ecs_service="api",
        mode="floor",
        metric=LoadMetric(namespace=NAMESPACE, name="Load", dimensions={"Target": "api"}, period_seconds=step),
        **common,
    )
    return web, api, capacity


# --------------------------------------------------------------------------- printing


def _line(delivery: Delivery) -> list[str]:
    name = delivery.function
    if delivery.error is not None:
        return [f"{name:<16}ERROR after {delivery.attempts} attempt(s): {delivery.error}"]
    result = delivery.result or {}
    if name == "collector":
        missing = f", metric missing: {', '.join(result['metric_missing'])}" if result.get("metric_missing") else ""
        return [f"{name:<16}{result.get('targets', 0)} targets, {result.get('points', 0)} points{missing}"]
    if name == "forecaster":
        return [
            f"{name:<16}{f['target_id']}: "
            + (
                f"no forecast ({f['no_forecast_reason']})"
                if f["no_forecast_reason"]
                else f"p90 peak {f['peak_p90']:,.1f}"
            )
            + f" [{f['model']}]"
            for f in result.get("forecasts", [])
        ]
    if name == "decider":
        return [
            f"{name:<16}{d['target_id']}: {d['action']} {d['previous']} → {d['desired']}: {d['reason']}"
            for d in result.get("decisions", [])
        ]
    if name == "executor":
        return [f"{name:<16}{result.get('target_id')}: {result.get('status')}: {result.get('reason')}"]
    return [f"{name:<16}{result}"]


def _printer(out: TextIO, clock: Any) -> Any:
    def show(delivery: Delivery) -> None:
        for index, text in enumerate(_line(delivery)):
            stamp = f"{clock.now():%m-%d %H:%M}" if delivery.function == "collector" and index == 0 else ""
            print(f"{stamp:<12} {text}", file=out)

    return show


# --------------------------------------------------------------------------- the run


def _check_options(args: argparse.Namespace) -> None:
    """Refuse an option out of range before moto's server starts, naming it."""
    if not (math.isfinite(args.warmup_days) and args.warmup_days >= 0):
        raise ValueError(f"--warmup-days: {args.warmup_days} must be a number of days, 0 or more")
    for flag, value, least in (
        ("--minutes", args.minutes, 1),
        ("--p99-instances", args.p99_instances, 1),
        ("--boot-seconds", args.boot_seconds, 0),
    ):
        if value < least:
            raise ValueError(f"{flag}: {value} must be {least} or more")


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from forescale_tools.local_router import LocalAws, LocalRouter
    from functions import wiring
    from functions.adapters.s3 import S3Store
    from functions.domain.clock import FixedClock
    from functions.domain.trace import check_step, read_trace
    from functions.services.common import RecordingSink
    from functions.wiring import Components

    _check_options(args)
    trace = read_trace(args.trace)
    step = trace.step_seconds
    check_step(step)  # CloudWatch periods are whole minutes
    frame = trace.frame
    # CloudWatch stamps each period with its start: the history is kept on that grid.
    frame["ds"] = frame["ds"].dt.floor(f"{step}s")
    frame = frame.drop_duplicates("ds", keep="last")
    first = frame["ds"].iloc[0].to_pydatetime().replace(tzinfo=UTC)
    start = first + timedelta(days=args.warmup_days)
    start = datetime.fromtimestamp(math.ceil(start.timestamp() / step) * step, UTC)
    end = start + timedelta(minutes=args.minutes)
    if frame["ds"].iloc[-1].to_pydatetime().replace(tzinfo=UTC) < end - timedelta(seconds=step):
        raise ValueError("trace: shorter than --warmup-days plus --minutes")
    quiet_env = {
        **{k: v for k, v in FAKE_CREDENTIALS.items() if not os.environ.get(k)},
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    with _moto(args.endpoint) as endpoint, _environment(quiet_env):
        aws = LocalAws(endpoint, prefix=f"forescale-local-{int(datetime.now(UTC).timestamp())}")
        with _environment(aws.environment()):
            aws.create()
            web, api, capacity = _targets(aws, trace, args)
            recent = frame[frame["ds"] < start.replace(tzinfo=None)]["y"]
            initial = max(
                1, math.ceil(float(recent.iloc[-1] if len(recent) else frame["y"].iloc[0]) / (capacity * 0.6))
            )
            aws.create_asg(web.asg_name or "", desired=initial, min_size=1, max_size=web.max_capacity)
            aws.create_ecs_service(api.ecs_cluster or "", "api", desired=initial)
            aws.put_targets([web, api])
            archive = S3Store.for_bucket(aws.client("s3"), aws.bucket, audit_bucket=aws.audit_bucket)
            warm = frame[frame["ds"] < start.replace(tzinfo=None)]
            for target in (web, api):
                archive.write_history(target.target_id, warm[["ds", "y"]], part_id="00000000T000000Z-warmup")
            clock = FixedClock(start)
            router = LocalRouter(aws.transport(), keep_history=False)
            if not args.quiet:
                router.on_delivery = _printer(out, clock)
            components = Components.from_env(
                clock=clock, sleep=lambda _seconds: None, invoker=router, sink=RecordingSink()
            )
            loads = dict(zip(frame["ds"], frame["y"], strict=True))
            rows: list[tuple[datetime, float | None, int, str]] = []
            cloudwatch = aws.client("cloudwatch")
            with wiring.use(components):
                at = start
                while at < end:
                    finished = (at - timedelta(seconds=step)).replace(tzinfo=None)
                    value = loads.get(finished)
                    if value is not None and not math.isnan(value):
                        cloudwatch.put_metric_data(
                            Namespace=NAMESPACE,
                            MetricData=[
                                {
                                    "MetricName": "Load",
                                    "Dimensions": [{"Name": "Target", "Value": t.target_id}],
                                    "Timestamp": finished.replace(tzinfo=UTC),
                                    "Value": float(value),
                                }
                                for t in (web, api)
                            ],
                        )
                    clock.current = at + timedelta(seconds=5)
                    router.invoke("collector", {})
                    router.pump()
                    if int(at.timestamp()) % web.decision_interval_seconds == 0:
                        api_now = f"{aws.ecs_desired(aws.prefix, 'api')} / {aws.ecs_floor(aws.prefix, 'api') or '-'}"
                        rows.append((at, value, aws.asg_desired(web.asg_name or "")[0], api_now))
                    at += timedelta(seconds=60)
            _summary(out, rows, capacity, len(router.dead_letters))
            return 0 if not router.dead_letters else 1


def _summary(out: TextIO, rows: list[tuple[datetime, float | None, int, str]], capacity: float, dead: int) -> None:
    print("\ntime          load (prev. period)  need@0.9   ASG web desired   ECS api desired / min", file=out)
    for at, load, web, api in rows:
        need = "" if load is None else str(max(1, math.ceil(load / (capacity * 0.9))))
        shown = "gap" if load is None else f"{load:,.1f}"
        print(f"{at:%m-%d %H:%M}   {shown:>17}  {need:>8}   {web:>15}   {api:>21}", file=out)
    print(f"\ncapacity per instance {capacity:,.2f}; dead-lettered invocations: {dead}", file=out)


def main(argv: list[str] | None = None) -> int:
    import warnings

    args = _parser().parse_args(argv)
    # Metrics are switched off locally; Powertools warns at every invocation that there were none.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    try:
        return run(args)
    except (ValueError, OSError) as error:
        print(f"forescale local: {error}", file=sys.stderr)
        return 2
