"""``forescale history TARGET_ID --out TRACE.csv`` (or ``--all --out DIR``): targets' own load history from
CloudWatch, as replay traces.

Reads the target's load metric (or metric-math expression) exactly as the collector does, over the
last ``--days`` at the metric's period (or ``--period``: CloudWatch keeps 1-minute data 15 days,
5-minute data 63 days), writes the ``timestamp,value`` CSV ``forescale replay`` reads, and prints the
replay command with the target's own configuration. Targets come from ``cdk.json``
(``context["forescale:targets"]``) or from a JSON file holding the list.

Uses the ordinary AWS credential chain; ``--endpoint-url`` points it elsewhere (moto's server in tests).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from functions.domain.history import HistoryWindow, csv_lines, history_window, replay_flags, trace_rows
from functions.domain.target import LoadMetric, ScalingTarget, parse_targets

if TYPE_CHECKING:
    from functions.ports.metrics import MetricSeries

TARGETS_KEY = "forescale:targets"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forescale history",
        description="Export targets' load history from CloudWatch as timestamp,value traces for forescale replay.",
    )
    parser.add_argument("target_ids", nargs="*", metavar="target_id", help="target_id of a target in --targets")
    parser.add_argument("--all", action="store_true", help="every target in --targets")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="one target: the CSV file to write; several or --all: a folder of <target_id>.csv",
    )
    parser.add_argument("--targets", type=Path, default=Path("cdk.json"), help="cdk.json or a JSON list of targets")
    parser.add_argument("--days", type=float, default=14.0, help="days of history to read [default: 14]")
    parser.add_argument("--period", type=int, help="seconds per step [default: each metric's period_seconds]")
    parser.add_argument("--end", help="end of the window, ISO-8601 [default: now]; rounded down to the period")
    parser.add_argument("--region", help="AWS region [default: the usual AWS configuration]")
    parser.add_argument("--endpoint-url", help="CloudWatch endpoint [default: AWS's]")
    return parser


def load_targets(path: Path) -> list[ScalingTarget]:
    """Targets of a ``cdk.json`` (its ``forescale:targets`` context) or of a JSON list; errors name the file."""
    try:
        raw: Any = json.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"targets: cannot read {path} ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"targets: {path} is not JSON ({exc.msg}, line {exc.lineno})") from exc
    if isinstance(raw, dict):
        if TARGETS_KEY not in raw.get("context", {}):
            raise ValueError(f"targets: {path} has no context[{TARGETS_KEY!r}]")
        raw = raw["context"][TARGETS_KEY]
    return parse_targets(raw)


def _end(text: str | None, now: datetime) -> datetime:
    if text is None:
        return now
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"end: not an ISO-8601 time ({text!r})") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _client(args: argparse.Namespace) -> Any:
    import boto3

    return boto3.client("cloudwatch", region_name=args.region, endpoint_url=args.endpoint_url)


@dataclass(frozen=True)
class _Export:
    target: ScalingTarget
    window: HistoryWindow
    metric: LoadMetric
    out: Path


def _plan(args: argparse.Namespace) -> list[_Export]:
    """What to read and where to write it; raises ``ValueError`` naming the argument or field."""
    targets = {t.target_id: t for t in load_targets(args.targets)}
    if args.all == bool(args.target_ids):
        raise ValueError("target_id: name one or more targets, or give --all")
    wanted = sorted(targets) if args.all else list(dict.fromkeys(args.target_ids))
    if not wanted:
        raise ValueError(f"targets: {args.targets} lists no targets")
    unknown = [t for t in wanted if t not in targets]
    if unknown:
        known = ", ".join(sorted(targets)) or "none"
        raise ValueError(f"target_id: {unknown[0]!r} is not in {args.targets} (known: {known})")
    now = datetime.now(UTC)
    end = _end(args.end, now)
    plan = []
    for target_id in wanted:
        target = targets[target_id]
        period = args.period or target.metric.period_seconds
        metric = target.metric.model_validate({**target.metric.model_dump(), "period_seconds": period})
        out = args.out if len(wanted) == 1 and not args.all else args.out / f"{target_id}.csv"
        plan.append(
            _Export(target, history_window(end=end, days=args.days, period_seconds=period, now=now), metric, out)
        )
    return plan


def _export(item: _Export, series: MetricSeries | None) -> bool:
    """Write one trace and print how to replay it; False (said on stderr) when CloudWatch had nothing."""
    target, window = item.target, item.window
    try:
        rows = [] if series is None else trace_rows(series.timestamps, series.values, window=window)
    except ValueError as exc:  # a datapoint off the period grid: the replay could not read the file
        print(f"forescale history: {target.target_id}: {exc}", file=sys.stderr)
        return False
    if not rows:
        print(
            f"forescale history: {target.target_id}: CloudWatch returned no datapoints between "
            f"{window.start:%Y-%m-%d %H:%M} and {window.end:%Y-%m-%d %H:%M} UTC (check the metric and region)",
            file=sys.stderr,
        )
        return False
    item.out.parent.mkdir(parents=True, exist_ok=True)
    item.out.write_text("\n".join(csv_lines(rows)) + "\n")
    period = window.period_seconds
    print(
        f"{target.target_id}: {len(rows)} steps of {period} s from {rows[0][0]:%Y-%m-%d %H:%M} to "
        f"{rows[-1][0]:%Y-%m-%d %H:%M} UTC ({window.steps - len(rows)} without data: gaps) -> {item.out}"
    )
    command = ["forescale", "replay", str(item.out), "--out", f"out/replay-{target.target_id}"]
    flags = replay_flags(target, period_seconds=period)
    print("  replay it with its own configuration: " + shlex.join(command + flags))
    return True


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        plan = _plan(args)
    except ValueError as exc:
        print(f"forescale history: {exc}", file=sys.stderr)
        return 2
    from botocore.exceptions import BotoCoreError, ClientError

    from functions.adapters.cloudwatch import CloudWatchMetricsSource

    try:
        client = _client(args)
    except BotoCoreError as exc:  # NoRegionError: nothing says which region's CloudWatch to ask
        reason = str(exc).rstrip(".")
        print(
            f"forescale history: --region: {reason}: give --region, or set AWS_REGION (or a region in ~/.aws/config)",
            file=sys.stderr,
        )
        return 2
    source = CloudWatchMetricsSource(client)
    written = 0
    # one GetMetricData round per window (targets of one period share it; the adapter batches the queries)
    by_window: dict[HistoryWindow, list[_Export]] = {}
    for item in plan:
        by_window.setdefault(item.window, []).append(item)
    for window, group in by_window.items():
        try:
            series = source.fetch({i.target.target_id: i.metric for i in group}, start=window.start, end=window.end)
        except (BotoCoreError, ClientError) as exc:
            names = ", ".join(i.target.target_id for i in group)
            print(f"forescale history: {names}: CloudWatch GetMetricData failed: {exc}", file=sys.stderr)
            continue
        written += sum(_export(item, series.get(item.target.target_id)) for item in group)
    return 0 if written == len(plan) else 1
