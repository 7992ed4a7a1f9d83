"""Event contracts of the forescale bus: one pydantic model per event (see ``events.contracts``)."""

from events.base import (
    BusEvent,
    event_pattern,
    matches,
    parse_envelope,
    to_envelope,
    to_put_events_entry,
)
from events.contracts import (
    ALL_CONTRACTS,
    AnomalyDetected,
    BusinessEvent,
    CollectedTarget,
    ForecastDegraded,
    ForecastReady,
    ForecastSummary,
    MetricsCollected,
    ModelTrained,
    ScalingDecided,
    ScalingExecuted,
    ScalingFailed,
    SloBreached,
)
from events.errors import ContractError, describe, field_errors

__all__ = [
    "ALL_CONTRACTS",
    "AnomalyDetected",
    "BusEvent",
    "BusinessEvent",
    "CollectedTarget",
    "ContractError",
    "ForecastDegraded",
    "ForecastReady",
    "ForecastSummary",
    "MetricsCollected",
    "ModelTrained",
    "ScalingDecided",
    "ScalingExecuted",
    "ScalingFailed",
    "SloBreached",
    "describe",
    "event_pattern",
    "field_errors",
    "matches",
    "parse_envelope",
    "to_envelope",
    "to_put_events_entry",
]
