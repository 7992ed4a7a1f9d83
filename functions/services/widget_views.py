"""What the dashboard's target view shows: one target's series and SLO figures, a page of the fleet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from functions.domain.target import ScalingTarget

Point = tuple[datetime, float]


@dataclass(frozen=True)
class TargetView:
    """One target over ``[start, end)``: series as (time, value), oldest first, and its SLO figures now."""

    target: ScalingTarget
    start: datetime
    end: datetime
    load: list[Point] = field(default_factory=list)
    p50: list[Point] = field(default_factory=list)
    p90: list[Point] = field(default_factory=list)
    #: the capacity each decision asked for, what the group was asked for before it, and what was in service
    decided: list[Point] = field(default_factory=list)
    desired: list[Point] = field(default_factory=list)
    in_service: list[Point] = field(default_factory=list)
    #: absolute % error of the p50 in force against the load, per datapoint
    errors: list[Point] = field(default_factory=list)
    error_threshold_pct: float = 35.0
    budget_pct: float | None = None
    spend_pct: float | None = None
    margin: float = 1.0
    slo_breached: bool = False
    slo_recent: tuple[float, ...] = ()
    updated_at: datetime | None = None
    #: the decider's ForecastDegraded episode is open for this target
    forecast_degraded: bool = False

    @property
    def mean_error_pct(self) -> float | None:
        values = [v for _, v in self.errors]
        return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class FleetRow:
    target: ScalingTarget
    slo_breached: bool
    budget_pct: float | None
    spend_pct: float | None
    last_desired: int | None
    updated_at: datetime | None


@dataclass(frozen=True)
class FleetPage:
    rows: list[FleetRow]
    page: int
    pages: int
    total: int
