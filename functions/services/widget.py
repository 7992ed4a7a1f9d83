"""The dashboard's target view: what one target did, read from the records forescale stores.

CloudWatch's custom widget calls the widget function with the dashboard's time range; without a target it
shows a page of the fleet (each target's SLO state, budget and newest capacity, a link to its view), with
one its view: the load against the forecast band in force at each time, the capacity (desired when each
decision was made, in service, decided), the forecast error against the alarm's threshold, and the SLO
budget, its spend and margin. Everything comes from the stored records (the load history, the forecast
and decision rows of the audit trail, the decisions table, the target's state), so no per-target metric
is needed and the dashboard's widgets do not grow with the fleet.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from events.base import TargetId
from functions.domain.clock import Clock
from functions.domain.slo_budget import budget_pct
from functions.ports.archive import Archive
from functions.ports.state import StateStore
from functions.services.decider_budget import budget_of
from functions.services.targets import TargetCatalog
from functions.services.widget_html import render_fleet, render_target
from functions.services.widget_views import FleetPage, FleetRow, Point, TargetView

if TYPE_CHECKING:
    import pandas as pd

#: the longest range one view reads (the dashboard's range is cut to its newest part beyond this)
MAX_RANGE = timedelta(days=7)
#: targets on one page of the fleet view
PAGE_SIZE = 25
#: the range shown when the call carries no dashboard context
DEFAULT_RANGE = timedelta(hours=6)


class _Given(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Zoom(_Given):
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class TimeRange(_Given):
    """The dashboard's time range, epoch milliseconds (``zoom`` when the viewer zoomed in)."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    zoom: Zoom | None = None


class WidgetContext(_Given):
    time_range: TimeRange = Field(alias="timeRange")


class WidgetRequest(_Given):
    """One call of the custom widget: the widget's parameters (the dashboard's ``params`` and a link's JSON,
    both at the top level) and CloudWatch's ``widgetContext`` (the fields read here; the rest is ignored)."""

    target: TargetId | None = None
    page: int = Field(default=1, ge=1, le=1_000_000)
    forecast_error_threshold_pct: float = Field(default=35.0, alias="forecastErrorThresholdPercent", gt=0, le=1000)
    widget_context: WidgetContext | None = Field(default=None, alias="widgetContext")

    def time_range(self, now: datetime) -> tuple[datetime, datetime]:
        """``[start, end)`` of the call (the zoomed range when there is one; the last 6 hours without context)."""
        if self.widget_context is None:
            return now - DEFAULT_RANGE, now
        shown = self.widget_context.time_range.zoom or self.widget_context.time_range
        return (datetime.fromtimestamp(shown.start / 1000, UTC), datetime.fromtimestamp(shown.end / 1000, UTC))


@dataclass
class WidgetService:
    catalog: TargetCatalog
    store: StateStore
    archive: Archive
    clock: Clock
    page_size: int = PAGE_SIZE

    def fleet_page(self, page: int) -> FleetPage:
        """Page ``page`` (1-based, clamped) of the targets by id, each with its stored state."""
        targets = sorted(self.catalog.targets(), key=lambda t: t.target_id)
        pages = max(1, math.ceil(len(targets) / self.page_size))
        page = min(max(1, page), pages)
        rows = []
        for target in targets[(page - 1) * self.page_size : page * self.page_size]:
            state = self.store.get_target_state(target.target_id)
            budget = budget_of(state)
            rows.append(
                FleetRow(
                    target=target,
                    slo_breached=state.slo_breached,
                    budget_pct=budget_pct(target, budget),
                    spend_pct=budget.spend_pct,
                    last_desired=state.last_desired,
                    updated_at=state.updated_at,
                )
            )
        return FleetPage(rows=rows, page=page, pages=pages, total=len(targets))

    def target_view(
        self, target_id: str, start: datetime, end: datetime, *, error_threshold_pct: float
    ) -> TargetView | None:
        """The view of ``target_id`` over ``[start, end)`` (at most :data:`MAX_RANGE`, ending at ``end``); None
        for an unknown target."""
        target = self.catalog.find(target_id)
        if target is None:
            return None
        if end <= start:
            raise ValueError(f"time range: start {start.isoformat()} is not before end {end.isoformat()}")
        start = max(start, end - MAX_RANGE)
        history = self.archive.read_history(target_id, start, end)
        load = [(_aware(ds), float(y)) for ds, y in zip(history["ds"], history["y"], strict=True)]
        # the forecast in force at ``start`` was issued at most one decision interval before it
        audit = self.archive.read_audit(target_id, start - timedelta(seconds=target.decision_interval_seconds), end)
        p50, p90 = _bands(audit, start, end)
        latest = self.store.latest_forecast(target_id)
        if latest is not None and latest.no_forecast_reason is None:
            newest = max((t for t, _ in p50), default=start)
            p50 += [(t, v) for t, v in zip(latest.ds, latest.p50, strict=True) if newest < t < end]
            p90 += [(t, v) for t, v in zip(latest.ds, latest.p90, strict=True) if newest < t < end]
        decisions = self.store.decisions(target_id, start, end)
        state = self.store.get_target_state(target_id)
        budget = budget_of(state)
        return TargetView(
            target=target,
            start=start,
            end=end,
            load=load,
            p50=p50,
            p90=p90,
            decided=[(d.decided_at, float(d.desired_capacity)) for d in decisions],
            desired=[(d.decided_at, float(d.previous_desired)) for d in decisions],
            in_service=_decision_column(audit, "in_service", start, end),
            errors=_errors(load, dict(p50)),
            error_threshold_pct=error_threshold_pct,
            budget_pct=budget_pct(target, budget),
            spend_pct=budget.spend_pct,
            margin=budget.margin,
            slo_breached=state.slo_breached,
            slo_recent=state.slo_recent,
            updated_at=state.updated_at,
            forecast_degraded=state.forecast_degraded,
        )

    def render(self, request: WidgetRequest, *, endpoint: str) -> str:
        """The widget's HTML: the target's view when the call names one, else a page of the fleet."""
        if request.target is None:
            return render_fleet(self.fleet_page(request.page), endpoint)
        start, end = request.time_range(self.clock.now())
        view = self.target_view(request.target, start, end, error_threshold_pct=request.forecast_error_threshold_pct)
        if view is None:
            page = render_fleet(self.fleet_page(request.page), endpoint)
            return f"<p>target {request.target!r} is not a configured or discovered target</p>{page}"
        return render_target(view, endpoint, page=request.page)


def _aware(value: Any) -> datetime:
    """A naive-UTC timestamp (pandas, ISO text) as an aware datetime."""
    import pandas as pd

    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    moment: datetime = stamp.to_pydatetime()
    return moment


def _listed(value: Any) -> list[Any]:
    """A list column as the audit trail keeps it (JSON text or a list); empty when neither."""
    if isinstance(value, str):
        try:
            loaded = json.loads(value)
        except json.JSONDecodeError:
            return []
        return loaded if isinstance(loaded, list) else []
    return list(value) if isinstance(value, list | tuple) else []


def _records(audit: pd.DataFrame, kind: str) -> list[dict[str, Any]]:
    if audit.empty or "record" not in audit.columns:
        return []
    return [{str(k): v for k, v in row.items()} for row in audit[audit["record"] == kind].to_dict("records")]


def _bands(audit: pd.DataFrame, start: datetime, end: datetime) -> tuple[list[Point], list[Point]]:
    """The p50 and p90 in force at each time: each forecast's path from when it was issued until the next one."""
    forecasts = sorted(
        ((_aware(row["recorded_at"]), row) for row in _records(audit, "forecast")), key=lambda pair: pair[0]
    )
    p50: list[Point] = []
    p90: list[Point] = []
    for index, (issued, row) in enumerate(forecasts):
        until = forecasts[index + 1][0] if index + 1 < len(forecasts) else end
        for ds, low, high in zip(
            _listed(row.get("ds")), _listed(row.get("p50")), _listed(row.get("p90")), strict=False
        ):
            at = _aware(ds)
            if issued <= at < until and start <= at < end:
                p50.append((at, float(low)))
                p90.append((at, float(high)))
    return p50, p90


def _decision_column(audit: pd.DataFrame, column: str, start: datetime, end: datetime) -> list[Point]:
    out = []
    for row in _records(audit, "decision"):
        value, at = row.get(column), row.get("decided_at")
        if value is None or at is None or (isinstance(value, float) and math.isnan(value)):
            continue
        moment = _aware(at)
        if start <= moment < end:
            out.append((moment, float(value)))
    return sorted(out)


def _errors(load: list[Point], p50: dict[datetime, float]) -> list[Point]:
    """Absolute % error of the p50 in force at each datapoint with a positive load."""
    return [(at, abs(y - p50[at]) / y * 100.0) for at, y in load if y > 0 and at in p50]
