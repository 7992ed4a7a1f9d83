"""``forescale history TARGET_ID --out TRACE.csv``: a target's own load history from CloudWatch, as a trace.

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from functions.domain.history import csv_lines, history_window, replay_flags, trace_rows
from functions.domain.target import ScalingTarget, parse_targets

TARGETS_KEY = "forescale:targets"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forescale history",
        description="Export a target's load history from CloudWatch as a timestamp,value trace for forescale replay.",
    )
    parser.add_argument("target_id", help="target_id of the target in --targets")
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write (timestamp,value)")
    parser.add_argument("--targets", type=Path, default=Path("cdk.json"), help="cdk.json or a JSON list of targets")
    parser.add_argument("--days", type=float, default=14.0, help="days of history to read [default: 14]")
    parser.add_argument("--period", type=int, help="seconds per step [default: the metric's period_seconds]")
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


def _end(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"end: not an ISO-8601 time ({text!r})") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _client(args: argparse.Namespace) -> Any:
    import boto3

    return boto3.client("cloudwatch", region_name=args.region, endpoint_url=args.endpoint_url)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        targets = {t.target_id: t for t in load_targets(args.targets)}
        if args.target_id not in targets:
            known = ", ".join(sorted(targets)) or "none"
            raise ValueError(f"target_id: {args.target_id!r} is not in {args.targets} (known: {known})")
        target = targets[args.target_id]
        period = args.period or target.metric.period_seconds
        window = history_window(end=_end(args.end), days=args.days, period_seconds=period)
        metric = target.metric.model_validate({**target.metric.model_dump(), "period_seconds": period})
    except ValueError as exc:
        print(f"forescale history: {exc}", file=sys.stderr)
        return 2
    from botocore.exceptions import BotoCoreError, ClientError

    from functions.adapters.cloudwatch import CloudWatchMetricsSource

    try:
        series = CloudWatchMetricsSource(_client(args)).fetch(
            {target.target_id: metric}, start=window.start, end=window.end
        )
    except (BotoCoreError, ClientError) as exc:
        print(f"forescale history: {target.target_id}: CloudWatch GetMetricData failed: {exc}", file=sys.stderr)
        return 1
    found = series.get(target.target_id)
    rows = [] if found is None else trace_rows(found.timestamps, found.values, window=window)
    if not rows:
        print(
            f"forescale history: {target.target_id}: CloudWatch returned no datapoints between "
            f"{window.start:%Y-%m-%d %H:%M} and {window.end:%Y-%m-%d %H:%M} UTC (check the metric and region)",
            file=sys.stderr,
        )
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(csv_lines(rows)) + "\n")
    missing = window.steps - len(rows)
    print(
        f"{target.target_id}: {len(rows)} steps of {period} s from {rows[0][0]:%Y-%m-%d %H:%M} to "
        f"{rows[-1][0]:%Y-%m-%d %H:%M} UTC ({missing} without data: gaps) -> {args.out}"
    )
    command = ["forescale", "replay", str(args.out), "--out", f"out/replay-{target.target_id}"]
    print(
        "replay it with its own configuration:\n  " + shlex.join(command + replay_flags(target, period_seconds=period))
    )
    return 0
