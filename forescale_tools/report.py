"""The replay's report: one CSV per policy, a text summary, a picture, and a self-contained HTML page.

Files written to the output folder:

- ``<policy>.csv``: ``timestamp,desired,in_service``, one row per trace step, so anyone can re-score;
- ``summary.txt``: the scenario and the score table;
- ``report.png``: load (as instances needed at the SLO utilisation), the forecast band p50-p99 and the
  in-service capacity of each policy, over the scored period and over its last three days;
- ``report.html``: the same picture embedded (base64), the score table, forescale's largest scale-outs
  and latest decisions with their reasons;
- ``decisions.csv``: every decision forescale took, with its one-line reason (why it scaled).
"""

from __future__ import annotations

import base64
import csv
import html
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from functions.domain.decision import Decision
from functions.domain.replay import SCORE_NAMES, ReplayResult
from functions.domain.replay.policies import ALARM, FORECAST, MODE_OF_WHY, MODES

COLOURS = {"predictive": "#1f77b4", "reactive": "#d62728", "oracle": "#2ca02c"}


@dataclass(frozen=True)
class ReportFiles:
    folder: Path
    csvs: dict[str, Path]
    summary: Path
    png: Path
    html: Path
    decisions: Path | None = None


def write_policy_csv(result: ReplayResult, policy: str, path: Path) -> None:
    run = result.runs[policy]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "desired", "in_service"])
        for stamp, desired, in_service in zip(result.trace.ds, run.desired, run.in_service, strict=True):
            writer.writerow([stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), int(desired), int(in_service)])


DECISION_COLUMNS = (
    "decided_at",
    "action",
    "previous_desired",
    "desired",
    "in_service",
    "quantile",
    "peak_load",
    "confidence",
    "reactive",
    "margin",
    "reason",
)


def write_decisions_csv(result: ReplayResult, path: Path) -> None:
    """Every predictive decision with its reason: what a user reads to see *why* forescale scaled."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(DECISION_COLUMNS)
        for _, d in result.decisions:
            writer.writerow(
                [
                    d.decided_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    d.action,
                    d.previous_desired,
                    d.desired,
                    d.in_service,
                    "" if d.quantile is None else f"{d.quantile:g}",
                    "" if d.peak_load is None else f"{d.peak_load:.6g}",
                    f"{d.confidence:.3f}",
                    str(d.reactive).lower(),
                    f"{d.margin:.3f}",
                    d.reason,
                ]
            )


def _cell(name: str, value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if name == "actions":
        return f"{int(value)}"
    if name == "instance_hours":
        return f"{value:,.1f}"
    if name == "cost_ratio":
        return f"{value:.3f}"
    return f"{value:.2f}"


def score_table(result: ReplayResult) -> str:
    """The score table as fixed-width text, one row per policy."""
    header = f"{'policy':<11}" + "".join(f"{name:>16}" for name in SCORE_NAMES)
    lines = [header, "-" * len(header)]
    for name, run in result.runs.items():
        values = run.scores.as_dict()
        lines.append(f"{name:<11}" + "".join(f"{_cell(key, values[key]):>16}" for key in SCORE_NAMES))
    return "\n".join(lines)


@dataclass(frozen=True)
class ModeRow:
    """forescale's decisions and the minutes governed by one mode (see policies.MODES), over the scored steps."""

    mode: str
    decisions: int
    decision_share_pct: float
    minutes: float
    minute_share_pct: float
    under_time_pct: float
    #: target tracking's under-time on the same minutes (NaN without the reactive policy)
    reactive_under_time_pct: float


def mode_rows(result: ReplayResult) -> list[ModeRow]:
    """Per mode: decisions made in it (decide()'s, by mode; the alarm responder's scale-outs) and under-time
    in the scored minutes it governed (forescale's, and target tracking's on the same minutes)."""
    if "predictive" not in result.runs or len(result.modes) != len(result.trace):
        return []
    mask = ~np.isnan(result.trace.y)
    mask[: result.scored_from] = False
    short = result.runs["predictive"].in_service < result.demand
    theirs = result.runs["reactive"].in_service < result.demand if "reactive" in result.runs else None
    counts = np.zeros(len(MODES), dtype=np.int64)
    for step, decision in result.decisions:
        if step >= result.scored_from:
            counts[MODE_OF_WHY[decision.reactive_why] if decision.reactive else FORECAST] += 1
    counts[ALARM] += sum(1 for step, _, _ in result.alarm_responses if step >= result.scored_from)
    total = max(1, int(counts.sum()))
    scored = max(1, int(mask.sum()))
    minute = result.trace.step_seconds / 60.0
    rows = []
    for index, mode in enumerate(MODES):
        steps = mask & (result.modes == index)
        n = int(steps.sum())
        if n == 0 and counts[index] == 0:
            continue
        rows.append(
            ModeRow(
                mode=mode,
                decisions=int(counts[index]),
                decision_share_pct=100.0 * counts[index] / total,
                minutes=n * minute,
                minute_share_pct=100.0 * n / scored,
                under_time_pct=100.0 * float(short[steps].mean()) if n else math.nan,
                reactive_under_time_pct=100.0 * float(theirs[steps].mean()) if n and theirs is not None else math.nan,
            )
        )
    return rows


def mode_table(result: ReplayResult) -> str:
    """forescale by mode as fixed-width text ('' without a predictive run)."""
    rows = mode_rows(result)
    if not rows:
        return ""

    def pct(value: float) -> str:
        return "n/a" if math.isnan(value) else f"{value:.2f}"

    header = f"{'forescale mode':<26}{'decisions':>11}{'%':>8}{'minutes':>11}{'%':>8}{'under_time_pct':>16}{'reactive same min':>19}"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row.mode:<26}{row.decisions:>11}{row.decision_share_pct:>8.1f}{row.minutes:>11,.0f}"
            f"{row.minute_share_pct:>8.1f}{pct(row.under_time_pct):>16}{pct(row.reactive_under_time_pct):>19}"
        )
    return "\n".join(lines)


def budget_lines(result: ReplayResult) -> list[str]:
    """The SLO budget against what forescale spent of it over the scored steps ([] without a predictive run)."""
    if "predictive" not in result.runs or not result.budget_log:
        return []
    setting = result.resolved.scenario.slo_budget_pct
    window = result.resolved.scenario.slo_budget_window_days
    scored = [(b, m) for step, b, _, m in result.budget_log if step >= result.scored_from]
    if setting is None:
        return ["SLO budget: none (the violation-minute price alone sets the margin)"]
    budgets = [b for b, _ in scored if b is not None]
    margins = np.array([m for _, m in scored]) if scored else np.ones(1)
    spent = result.runs["predictive"].scores.under_time_pct
    if not budgets:
        return [f"SLO budget: {setting} (no reference known yet at any scored decision)"]
    low, high = min(budgets), max(budgets)
    budget = f"{low:.2f} %" if math.isclose(low, high) else f"{low:.2f} to {high:.2f} %"
    source = "auto, target tracking's on the last " if setting == "auto" else "set, over "
    return [
        f"SLO budget: {budget} of minutes ({source}{window:g} days); spent: {spent:.2f} % of the scored minutes "
        f"({'within' if spent <= high + 1e-9 else 'OVER'} budget); margin (above 1 on the priced load, below 1 on the violation price): median "
        f"{float(np.median(margins)):.2f}, range {float(margins.min()):.2f} to {float(margins.max()):.2f}"
    ]


def scenario_lines(result: ReplayResult) -> list[str]:
    r = result.resolved
    s = r.scenario
    trace = result.trace
    scored = int(result.runs[next(iter(result.runs))].scores.scored_steps)
    return [
        f"trace: {trace.name}, {len(trace)} steps of {trace.step_seconds} s "
        f"({trace.ds[0]:%Y-%m-%d %H:%M} to {trace.ds[-1]:%Y-%m-%d %H:%M} UTC), "
        f"{int(np.isnan(trace.y).sum())} of unknown load",
        f"scored: {scored} steps after a warm-up of {s.warmup_days:g} days",
        f"capacity_per_instance: {r.capacity_per_instance:.6g}"
        + (" (p99 of the trace needs 30 instances)" if s.capacity_per_instance is None else ""),
        f"boot: {s.boot_seconds} s ({r.boot_steps} step{'' if r.boot_steps == 1 else 's'}); bounds [{s.min_instances}, {s.max_instances}]; "
        f"target utilisation {s.target_utilization:g}; SLO utilisation {s.slo_utilization:g}",
        f"forescale: decision every {r.decision_interval_seconds} s, refit every {s.refit_every_seconds} s, "
        f"switched on {s.forecast_lead_days:g} day(s) before scoring; prices {s.instance_hour_price:g} per "
        f"instance-hour, {s.violation_minute_penalty:g} per violation-minute; {result.fits} fits",
    ]


def summary_text(result: ReplayResult) -> str:
    modes = mode_table(result)
    budget = budget_lines(result)
    return "\n".join([*scenario_lines(result), *budget, "", score_table(result), "", *([modes, ""] if modes else [])])


def _bucket_mean(values: np.ndarray, size: int) -> np.ndarray:
    """Means over consecutive buckets of ``size`` steps (NaN when a bucket knows nothing)."""
    if size == 1:
        return values
    usable = len(values) // size * size
    blocks = values[:usable].reshape(-1, size)
    known = np.isfinite(blocks)
    counts = known.sum(axis=1)
    sums = np.where(known, blocks, 0.0).sum(axis=1)
    return np.divide(sums, counts, out=np.full(len(counts), np.nan), where=counts > 0)


def _bucket_times(ds: pd.DatetimeIndex, size: int) -> pd.DatetimeIndex:
    return ds[: len(ds) // size * size : size] if size > 1 else ds


def plot(result: ReplayResult, path: Path) -> None:
    """The picture: demand, forecast band and each policy's in-service capacity (see module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = result.resolved
    per_instance = r.capacity_per_instance * r.scenario.slo_utilization
    start = result.scored_from
    ds = result.trace.ds
    load_in_instances = result.trace.y / per_instance
    last_days = max(start, len(ds) - int(3 * 86_400 / r.step_seconds))
    fig, axes = plt.subplots(2, 1, figsize=(14, 8.5), constrained_layout=True)
    hourly = max(1, 3600 // r.step_seconds) if len(ds) - start > 4 * 86_400 // r.step_seconds else 1
    for axis, first, bucket, title in (
        (axes[0], start, hourly, "scored period" + (", hourly means" if hourly > 1 else "")),
        (axes[1], last_days, 1, "last three days"),
    ):
        x = _bucket_times(ds[first:], bucket)
        axis.plot(
            x,
            _bucket_mean(load_in_instances[first:], bucket),
            color="#555555",
            lw=0.7,
            label="load (instances needed at SLO)",
        )
        low = _bucket_mean(result.band_p50[first:] / per_instance, bucket)
        high = _bucket_mean(result.band_p99[first:] / per_instance, bucket)
        if np.isfinite(low).any():
            axis.fill_between(x, low, high, color=COLOURS["predictive"], alpha=0.2, lw=0, label="forecast p50-p99")
        for name, run in result.runs.items():
            axis.step(
                x,
                _bucket_mean(run.in_service[first:].astype(float), bucket),
                where="post",
                lw=1.0,
                color=COLOURS.get(name),
                label=f"{name} in service",
            )
        axis.set_title(f"{result.trace.name}: {title}")
        axis.set_ylabel("instances")
        axis.grid(alpha=0.3)
    axes[0].legend(loc="upper left", fontsize=8, ncol=3)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _html_page(result: ReplayResult, png: bytes) -> str:
    rows = []
    for name, run in result.runs.items():
        values = run.scores.as_dict()
        cells = "".join(f"<td>{_cell(key, values[key])}</td>" for key in SCORE_NAMES)
        rows.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    head = "".join(f"<th>{name}</th>" for name in SCORE_NAMES)
    scenario = "".join(f"<li>{html.escape(line)}</li>" for line in scenario_lines(result))
    mode_cells = "".join(
        f"<tr><th>{html.escape(row.mode)}</th><td>{row.decisions}</td><td>{row.decision_share_pct:.1f}</td>"
        f"<td>{row.minutes:,.0f}</td><td>{row.minute_share_pct:.1f}</td><td>{_cell('', row.under_time_pct)}</td>"
        f"<td>{_cell('', row.reactive_under_time_pct)}</td></tr>"
        for row in mode_rows(result)
    )
    modes = (
        "<h2>forescale by mode</h2><table><tr><th>mode</th><th>decisions</th><th>%</th><th>minutes</th><th>%</th>"
        f"<th>under_time_pct</th><th>reactive, same minutes</th></tr>{mode_cells}</table>"
        "<p>A mode governs from the decision made in it (or the SLO alarm's scale-out) to the next one.</p>"
        if mode_cells
        else ""
    )
    changes = [d for _, d in result.decisions if d.action != "hold"]
    outs = [d for d in changes if d.action == "scale_out"]
    largest = sorted(outs, key=lambda d: (d.previous_desired - d.desired, d.decided_at))[:8]

    def listed(chosen: list[Decision]) -> str:
        items = "".join(f"<li><code>{d.decided_at:%Y-%m-%d %H:%M}</code> {html.escape(d.reason)}</li>" for d in chosen)
        return items or "<li>none</li>"

    image = base64.b64encode(png).decode()
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>forescale replay: {html.escape(result.trace.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: right; }}
img {{ max-width: 100%; }} code {{ color: #555; }}
</style></head><body>
<h1>forescale replay: {html.escape(result.trace.name)}</h1>
<ul>{scenario}</ul>
<h2>Scores</h2>
<table><tr><th>policy</th>{head}</tr>{"".join(rows)}</table>
<p>Definitions: docs/replay-spec.md (under_time_pct: % of steps with in-service below demand; cost_ratio:
instance-hours over the oracle's). Each policy's capacity is in <code>&lt;policy&gt;.csv</code>.</p>
{modes}
<h2>Load, forecast and capacity</h2>
<img alt="load, forecast band and capacity of each policy" src="data:image/png;base64,{image}">
<h2>Largest scale-outs of forescale</h2>
<ul>{listed(largest)}</ul>
<h2>Latest scaling decisions of forescale</h2>
<ul>{listed(changes[-8:])}</ul>
<p>Every decision with its reason: <code>decisions.csv</code>.</p>
</body></html>
"""


def report_paths(folder: str | Path, policies: Sequence[str]) -> list[Path]:
    """Every file :func:`write_report` may write for a replay of ``policies`` (oracle is always run)."""
    out = Path(folder)
    files = [f"{name}.csv" for name in dict.fromkeys([*policies, "oracle"])]
    files += ["summary.txt", "report.png", "report.html", "decisions.csv"]
    return [out / name for name in files]


def check_report_folder(folder: str | Path, policies: Sequence[str]) -> None:
    """Create ``folder`` and prove every report file can be written there, before a replay of minutes or hours.

    Raises ``ValueError`` naming the path and the reason.
    """
    import tempfile

    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".forescale-write-check-"):
            pass
    except OSError as exc:
        raise ValueError(f"{out}: cannot write there ({exc.strerror or exc})") from exc
    for path in report_paths(out, policies):
        if path.exists() and (path.is_dir() or not os.access(path, os.W_OK)):
            raise ValueError(f"{path} exists and cannot be replaced ({'a folder' if path.is_dir() else 'read-only'})")


def write_report(result: ReplayResult, folder: str | Path) -> ReportFiles:
    """Write every file of the report into ``folder`` (created when missing)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    csvs = {}
    for name in result.runs:
        csvs[name] = out / f"{name}.csv"
        write_policy_csv(result, name, csvs[name])
    summary = out / "summary.txt"
    summary.write_text(summary_text(result))
    png = out / "report.png"
    plot(result, png)
    page = out / "report.html"
    page.write_text(_html_page(result, png.read_bytes()))
    decisions = None
    if result.decisions:
        decisions = out / "decisions.csv"
        write_decisions_csv(result, decisions)
    return ReportFiles(folder=out, csvs=csvs, summary=summary, png=png, html=page, decisions=decisions)
