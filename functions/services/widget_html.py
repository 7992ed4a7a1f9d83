"""HTML with inline SVG for the dashboard's custom widget (no script: CloudWatch runs none).

Links re-invoke the widget function through ``<cwdb-action action="call">`` (CloudWatch's custom-widget
interactivity): the JSON in the element becomes the top-level parameters of the next call, so the fleet
page's links carry ``{"target": ...}`` or ``{"page": ...}`` and the target view's back link its page.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from functions.services.widget_views import FleetPage, Point, TargetView

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 760, 170, 48, 18, 8
STYLE = (
    "<style>.fs{font:12px sans-serif}.fs table{border-collapse:collapse}.fs td,.fs th{padding:2px 8px;"
    "text-align:left}.fs .bad{color:#d13212;font-weight:bold}.fs .ok{color:#1d8102}.fs h4{margin:8px 0 2px}"
    "</style>"
)


@dataclass(frozen=True)
class Line:
    label: str
    points: Sequence[Point]
    color: str
    step: bool = False
    dashed: bool = False


def action(label: str, endpoint: str, params: dict[str, object], *, title: str = "") -> str:
    """A link that calls the widget function again with ``params`` and shows its answer in the widget."""
    hint = f' title="{escape(title)}"' if title else ""
    body = escape(json.dumps(params, sort_keys=True), quote=False)
    return f'<a class="btn"{hint}>{escape(label)}</a><cwdb-action action="call" endpoint="{escape(endpoint)}">{body}</cwdb-action>'


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} %"


def render_fleet(page: FleetPage, endpoint: str) -> str:
    """A page of the fleet: one row per target with its SLO state, budget and newest capacity, linked to its view."""
    rows = []
    for row in page.rows:
        target = row.target
        state = '<span class="bad">breached</span>' if row.slo_breached else '<span class="ok">ok</span>'
        overspent = row.budget_pct is not None and row.spend_pct is not None and row.spend_pct > row.budget_pct
        spend = f'<span class="{"bad" if overspent else "ok"}">{_pct(row.spend_pct)}</span>'
        rows.append(
            "<tr>"
            f"<td>{action(target.target_id, endpoint, {'target': target.target_id}, title='open this target')}</td>"
            f"<td>{escape(target.kind)}</td><td>{escape(target.mode)}</td><td>{state}</td>"
            f"<td>{_pct(row.budget_pct)}</td><td>{spend}</td>"
            f"<td>{'-' if row.last_desired is None else row.last_desired}</td>"
            f"<td>{'-' if row.updated_at is None else escape(row.updated_at.strftime('%Y-%m-%d %H:%M'))}</td>"
            "</tr>"
        )
    nav = []
    if page.page > 1:
        nav.append(action("< previous", endpoint, {"page": page.page - 1}))
    nav.append(f" page {page.page} of {page.pages} ({page.total} targets) ")
    if page.page < page.pages:
        nav.append(action("next >", endpoint, {"page": page.page + 1}))
    header = (
        "<tr><th>target</th><th>kind</th><th>mode</th><th>SLO</th><th>budget</th><th>spent</th>"
        "<th>desired</th><th>updated (UTC)</th></tr>"
    )
    return f'{STYLE}<div class="fs"><p>{"".join(nav)}</p><table>{header}{"".join(rows)}</table></div>'


def render_target(view: TargetView, endpoint: str, *, page: int = 1) -> str:
    """One target: load against the forecast band, capacity, forecast error and SLO budget."""
    target = view.target
    resource = target.asg_name if target.kind == "asg" else f"{target.ecs_cluster}/{target.ecs_service}"
    back = action("< all targets", endpoint, {"page": page})
    title = (
        f"<h4>{escape(target.target_id)} — {escape(target.kind)} <code>{escape(str(resource))}</code>, mode "
        f"<b>{escape(target.mode)}</b></h4>"
    )
    unit = escape(target.metric.unit_label)
    load = chart(
        view,
        [
            Line("p90", view.p90, "#f89256", dashed=True),
            Line("p50", view.p50, "#ff7f0e"),
            Line(f"load ({target.metric.unit_label})", view.load, "#1f77b4"),
        ],
    )
    capacity = chart(
        view,
        [
            Line("desired at decision", view.desired, "#7f7f7f", step=True),
            Line("in service", view.in_service, "#2ca02c", step=True),
            Line("decided", view.decided, "#9467bd", step=True),
        ],
        hlines=[(float(target.min_capacity), "min"), (float(target.max_capacity), "max")],
    )
    errors = chart(
        view, [Line("forecast error %", view.errors, "#d62728")], hlines=[(view.error_threshold_pct, "alarm")]
    )
    mean = view.mean_error_pct
    over = mean is not None and mean > view.error_threshold_pct
    error_line = (
        f'mean forecast error <span class="{"bad" if over else "ok"}">{_pct(mean)}</span> '
        f"(alarm threshold {view.error_threshold_pct:g} %)"
        + (
            '; <span class="bad">degraded</span>: ForecastDegraded sent, clears below 80 % of the threshold'
            if view.forecast_degraded
            else ""
        )
    )
    overspent = view.budget_pct is not None and view.spend_pct is not None and view.spend_pct > view.budget_pct
    recent = ", ".join("-" if math.isnan(value) else f"{value:.0%}" for value in view.slo_recent) or "-"
    slo = (
        f"SLO utilisation {target.slo_utilization:.0%}: "
        + ('<span class="bad">breached</span>' if view.slo_breached else '<span class="ok">ok</span>')
        + f" (last periods: {escape(recent)}); budget {_pct(view.budget_pct)}, spent "
        f'<span class="{"bad" if overspent else "ok"}">{_pct(view.spend_pct)}</span>, '
        + (f"margin x{view.margin:.2f}" if view.margin >= 1 else f"violation price x{view.margin:.2f}")
    )
    return (
        f'{STYLE}<div class="fs"><p>{back}</p>{title}'
        f"<h4>load ({unit}) against the forecast band</h4>{load}"
        f"<h4>capacity</h4>{capacity}"
        f"<h4>forecast error</h4><p>{error_line}</p>{errors}"
        f"<h4>SLO budget</h4><p>{slo}</p></div>"
    )


def chart(view: TargetView, lines: Sequence[Line], *, hlines: Sequence[tuple[float, str]] = ()) -> str:
    """An SVG line chart over the view's time range (y from 0 to the largest value shown)."""
    start, end = view.start.timestamp(), view.end.timestamp()
    values = [v for line in lines for _, v in line.points] + [v for v, _ in hlines]
    top = max(values, default=1.0) * 1.08 or 1.0
    plot_w, plot_h = WIDTH - LEFT - 10, HEIGHT - BOTTOM - TOP

    def x(at: datetime) -> float:
        return LEFT + (at.timestamp() - start) / (end - start) * plot_w

    def y(value: float) -> float:
        return TOP + plot_h - min(value, top) / top * plot_h

    parts = [
        f'<svg width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg" font-size="10">',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#888"/>',
        f'<text x="2" y="{TOP + 8}">{top:.4g}</text><text x="2" y="{TOP + plot_h}">0</text>',
        f'<text x="{LEFT}" y="{HEIGHT - 4}">{view.start:%m-%d %H:%M}</text>',
        f'<text x="{LEFT + plot_w - 70}" y="{HEIGHT - 4}">{view.end:%m-%d %H:%M} UTC</text>',
    ]
    for value, label in hlines:
        parts.append(
            f'<line x1="{LEFT}" y1="{y(value):.1f}" x2="{LEFT + plot_w}" y2="{y(value):.1f}" stroke="#aaa" '
            f'stroke-dasharray="2,3"/><text x="{LEFT + plot_w - 30}" y="{y(value) - 2:.1f}">{escape(label)}</text>'
        )
    legend = LEFT + 4
    for line in lines:
        points = sorted(line.points)
        coords: list[str] = []
        for index, (at, value) in enumerate(points):
            if line.step and index:
                coords.append(f"{x(at):.1f},{y(points[index - 1][1]):.1f}")
            coords.append(f"{x(at):.1f},{y(value):.1f}")
        if line.step and points:
            coords.append(f"{LEFT + plot_w:.1f},{y(points[-1][1]):.1f}")
        dash = ' stroke-dasharray="4,3"' if line.dashed else ""
        if coords:
            parts.append(
                f'<polyline fill="none" stroke="{line.color}" stroke-width="1.5"{dash} points="{" ".join(coords)}"/>'
            )
        parts.append(f'<text x="{legend}" y="{TOP + 10}" fill="{line.color}">{escape(line.label)}</text>')
        legend += 8 + 6 * len(line.label)
    parts.append("</svg>")
    return "".join(parts)
