"""``forescale replay TRACE.csv --out DIR [scenario options]``: what forescale would have done on a trace.

Runs the trace through forescale (the forecasting service and the decision engine, exactly as the
Lambda functions run them), the reactive target-tracking rule and the oracle, prints the score table
and writes the report (CSV per policy, summary, PNG, HTML) to ``--out``. Every scenario option of
docs/replay-spec.md is a flag; without flags the defaults of that document apply.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Literal

from functions.domain.replay.runner import POLICY_NAMES
from functions.domain.replay.scenario import Scenario

#: Help text of each scenario flag (the defaults come from :class:`Scenario`).
FLAG_HELP: dict[str, str] = {
    "capacity_per_instance": "load one instance serves at 100%% utilisation (default: p99 of the trace / (30 x 0.9))",
    "boot_seconds": "launch to in service, seconds",
    "min_instances": "lower bound of the fleet",
    "max_instances": "upper bound of the fleet",
    "target_utilization": "set-point of the reactive target-tracking policy",
    "slo_utilization": "highest utilisation that still meets the service level",
    "warmup_days": "history given before scoring starts, days",
    "decision_interval_seconds": "forescale decides every so many seconds (default: 300 or the trace step)",
    "max_step_up": "forescale: most instances added per decision",
    "max_step_down": "forescale: most instances removed per decision",
    "scale_in_stabilization_seconds": "forescale: the plan must stay lower this long before a scale-in",
    "instance_hour_price": "price of one instance-hour (chooses the load quantile)",
    "violation_minute_penalty": "cost of one minute with demand above in-service capacity",
    "slo_budget_pct": "share of minutes (percent) forescale may be under-provisioned: a number, 'auto' "
    "(target tracking's on the trace's last window) or 'none'",
    "slo_budget_window_days": "the rolling window of the SLO budget, days",
    "plan_horizon_seconds": "how far ahead forescale's plan looks, seconds",
    "refit_every_seconds": "models are refitted on this schedule (aligned on 00:00 UTC), seconds",
    "forecast_lead_days": "forescale is switched on this many days before scoring starts",
    "unit_label": "unit of the load, shown in decision reasons",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forescale replay",
        description=(
            "Replay a timestamp,value load trace through forescale, reactive scaling and the oracle. The fleet "
            "model, the scores and the reference policies are specified in docs/replay-spec.md."
        ),
    )
    parser.add_argument("trace", type=Path, help="CSV with header timestamp,value (docs/replay-spec.md)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the report (created if missing)")
    parser.add_argument(
        "--policies",
        default=",".join(POLICY_NAMES),
        help=f"comma-separated subset of {','.join(POLICY_NAMES)} (default: all)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    defaults = Scenario()
    for item in fields(Scenario):
        default = getattr(defaults, item.name)
        kind: type[str] | type[int] | type[float] | Callable[[str], float | Literal["auto"] | None]
        if item.name == "slo_budget_pct":
            kind = _budget
        elif item.name == "unit_label":
            kind = str
        elif item.name == "decision_interval_seconds" or (isinstance(default, int) and not isinstance(default, bool)):
            kind = int
        else:
            kind = float
        shown = "derived from the trace" if default is None else default
        parser.add_argument(
            "--" + item.name.replace("_", "-"),
            dest=item.name,
            type=kind,
            default=default,
            help=f"{FLAG_HELP.get(item.name, item.name)} [default: {shown}]",
        )
    return parser


def _budget(text: str) -> float | Literal["auto"] | None:
    """``--slo-budget-pct``: 'auto', 'none' or a percentage in (0, 50]."""
    word = text.strip().lower()
    if word == "auto":
        return "auto"
    if word == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage, 'auto' or 'none'") from None
    if not (math.isfinite(value) and 0 < value <= 50):
        raise argparse.ArgumentTypeError(f"{text!r} must lie in (0, 50] percent")
    return value


def _policies(text: str) -> list[str]:
    policies = list(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    if not policies:
        raise ValueError(f"--policies: give at least one of {','.join(POLICY_NAMES)}")
    unknown = [p for p in policies if p not in POLICY_NAMES]
    if unknown:
        raise ValueError(f"--policies: {unknown[0]!r} is not a policy (known: {','.join(POLICY_NAMES)})")
    return policies


def _check_numbers(args: argparse.Namespace) -> None:
    """A number option that is NaN or infinite names no field once inside the scenario: refuse it here."""
    for item in fields(Scenario):
        value = getattr(args, item.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"--{item.name.replace('_', '-')}: {value} is not a finite number")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from forescale_tools.report import budget_lines, check_report_folder, mode_table, score_table, write_report
    from functions.domain.replay import run_replay
    from functions.domain.trace import TraceError, check_step, read_trace

    try:
        policies = _policies(args.policies)
        _check_numbers(args)
        scenario = Scenario(**{item.name: getattr(args, item.name) for item in fields(Scenario)})
    except ValueError as exc:
        print(f"forescale replay: {exc}", file=sys.stderr)
        return 2
    try:
        check_report_folder(args.out, policies)  # before a replay of minutes or hours, not after
    except ValueError as exc:
        print(f"forescale replay: --out: {exc}", file=sys.stderr)
        return 2
    try:
        trace = read_trace(args.trace)
        check_step(trace.step_seconds)
    except (TraceError, ValueError, OSError) as exc:
        print(f"forescale replay: {exc}", file=sys.stderr)
        return 2
    forecaster = None
    if "predictive" in policies:
        from models.service import ForecastEnsemble

        try:
            forecaster = ForecastEnsemble(step_seconds=trace.step_seconds)
        except ValueError as exc:
            print(f"forescale replay: {exc}", file=sys.stderr)
            return 2
    try:
        scenario.resolve(trace)  # refuse a bad scenario before drawing a progress bar
    except ValueError as exc:
        print(f"forescale replay: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(trace), desc=f"replay {trace.name}", unit="step", file=sys.stderr)
    try:
        result = run_replay(
            trace, scenario, forecaster=forecaster, policies=policies, progress=bar.update if bar else None
        )
    except ValueError as exc:
        print(f"forescale replay: {exc}", file=sys.stderr)
        return 2
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - started
    files = write_report(result, args.out)
    print(score_table(result))
    print()
    for line in budget_lines(result):
        print(line)
        print()
    modes = mode_table(result)
    if modes:
        print(modes)
        print()
    print(f"replayed {len(trace)} steps in {elapsed:.1f} s")
    print(f"report: {files.html}")
    others = [files.png, files.summary, *files.csvs.values(), *([files.decisions] if files.decisions else [])]
    print("        " + ", ".join(str(p) for p in others))
    return 0


if __name__ == "__main__":
    sys.exit(main())
