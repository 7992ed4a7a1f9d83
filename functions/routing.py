"""Which function consumes which event: the one routing table.

The CDK stack builds one EventBridge rule per entry (pattern from ``events.base.event_pattern``) and the
local router delivers events with the very same table, so local runs and deployments cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from events.base import BusEvent, event_pattern
from events.contracts import BusinessEvent, ForecastReady, MetricsCollected, ScalingDecided, SloBreached


@dataclass(frozen=True)
class Route:
    contract: type[BusEvent]
    function: str

    @property
    def pattern(self) -> dict[str, list[str]]:
        return event_pattern(self.contract)


ROUTES: tuple[Route, ...] = (
    Route(MetricsCollected, "forecaster"),
    Route(ForecastReady, "decider"),
    Route(ScalingDecided, "executor"),
    Route(BusinessEvent, "intake"),
    Route(SloBreached, "alarm_responder"),
)
