"""What the operator API answers: health, targets with their state, forecasts, decisions, business events.

The response models below are the API's contract (its OpenAPI schema is generated from them). A
business event posted to the API is validated here (contract, times against the clock, known targets,
selector) and then put on the bus, so that the intake function stays the one writer of business events;
an invalid one is answered 422 with each field and reason and never reaches the bus.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from events.contracts import BusinessEvent, ScalingDecided
from functions.domain.clock import Clock
from functions.domain.target import ScalingTarget
from functions.ports.bus import EventPublisher
from functions.ports.records import ScalingAction
from functions.ports.state import StateStore
from functions.services.intake import affected_targets, timing_errors
from functions.services.targets import TargetCatalog

MAX_QUERY_DAYS = 31


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Health(_Out):
    status: str
    time: datetime
    targets: int
    kill_switch: bool = Field(description="The global kill switch is engaged: forescale changes no capacity.")
    discovery_problems: list[str] = Field(default_factory=list)


class TargetStateView(_Out):
    sequence: int
    executed_sequence: int
    last_desired: int | None
    last_safe_capacity: int | None
    updated_at: datetime | None


class LatestForecastView(_Out):
    forecast_id: str
    issued_at: datetime
    model_version: str
    confidence: float
    no_forecast_reason: str | None


class TargetView(_Out):
    target: dict[str, Any] = Field(description="The target's configuration (ScalingTarget).")
    state: TargetStateView
    latest_forecast: LatestForecastView | None


class ForecastView(_Out):
    target_id: str
    forecast_id: str
    issued_at: datetime
    model_version: str
    confidence: float
    history_end: datetime | None
    no_forecast_reason: str | None
    ds: list[datetime]
    p50: list[float]
    p90: list[float]
    p99: list[float]


class DecisionsView(_Out):
    target_id: str
    start: datetime
    end: datetime
    decisions: list[ScalingDecided]
    actions: list[dict[str, Any]]


class EventView(_Out):
    event_id: str
    target_id: str
    received_at: datetime
    expires_at: datetime
    event: BusinessEvent


class RejectedView(_Out):
    event_id: str
    received_at: datetime
    errors: list[str]
    payload: str


class EventsView(_Out):
    start: datetime
    end: datetime
    events: list[EventView]
    rejected: list[RejectedView]


class Submitted(_Out):
    event_id: str = Field(description="EventBridge id of the event put on the bus.")
    targets: list[str] = Field(description="Targets the event affects.")


class InvalidRequestError(ValueError):
    """A request the API refuses (422): ``errors`` lists ``{"field", "reason"}``."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['reason']}" for e in errors))


_FIELD_PREFIX = re.compile(r"^([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*): (.*)$", re.DOTALL)


def request_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """``{"field", "reason"}`` per validation error of a request (location ``body``/``query`` dropped)."""
    out = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] in {"body", "query", "path", "header"}:
            loc = loc[1:]
        reason = str(error.get("msg", error.get("type", "invalid"))).removeprefix("Value error, ")
        prefixed = _FIELD_PREFIX.match(reason)
        if prefixed:
            loc.append(prefixed.group(1))
            reason = prefixed.group(2)
        out.append({"field": ".".join(loc) or "(body)", "reason": reason})
    return out


def window(
    start: datetime | None, end: datetime | None, now: datetime, *, default: timedelta
) -> tuple[datetime, datetime]:
    """A query window, defaulting to ``default`` before now; refused when inverted or too long."""
    end = end or now
    try:
        start = start or end - default
    except OverflowError:
        raise InvalidRequestError([{"field": "end", "reason": "is too early for a window"}]) from None
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidRequestError([{"field": "start", "reason": "give times with a time zone (e.g. ...Z)"}])
    if end <= start:
        raise InvalidRequestError([{"field": "end", "reason": "must be after start"}])
    if end - start > timedelta(days=MAX_QUERY_DAYS):
        raise InvalidRequestError([{"field": "start", "reason": f"a window spans at most {MAX_QUERY_DAYS} days"}])
    return start, end


@dataclass
class OperatorService:
    catalog: TargetCatalog
    store: StateStore
    publisher: EventPublisher
    clock: Clock

    def health(self) -> Health:
        targets = self.catalog.targets()
        global_switch = self.store.kill_switch("*")
        return Health(
            status="ok",
            time=self.clock.now(),
            targets=len(targets),
            kill_switch=global_switch is not None and global_switch.target_id is None,
            discovery_problems=list(self.catalog.problems),
        )

    def _view(self, target: ScalingTarget) -> TargetView:
        state = self.store.get_target_state(target.target_id)
        latest = self.store.latest_forecast(target.target_id)
        return TargetView(
            target=target.model_dump(mode="json"),
            state=TargetStateView(
                sequence=state.sequence,
                executed_sequence=state.executed_sequence,
                last_desired=state.last_desired,
                last_safe_capacity=state.last_safe_capacity,
                updated_at=state.updated_at,
            ),
            latest_forecast=None
            if latest is None
            else LatestForecastView(
                forecast_id=latest.forecast_id,
                issued_at=latest.issued_at,
                model_version=latest.model_version,
                confidence=latest.confidence,
                no_forecast_reason=latest.no_forecast_reason,
            ),
        )

    def targets(self) -> list[TargetView]:
        return [self._view(t) for t in self.catalog.targets()]

    def target(self, target_id: str) -> TargetView:
        return self._view(self.catalog.get(target_id))

    def forecast(self, target_id: str) -> ForecastView | None:
        self.catalog.get(target_id)
        latest = self.store.latest_forecast(target_id)
        if latest is None:
            return None
        return ForecastView(
            target_id=latest.target_id,
            forecast_id=latest.forecast_id,
            issued_at=latest.issued_at,
            model_version=latest.model_version,
            confidence=latest.confidence,
            history_end=latest.history_end,
            no_forecast_reason=latest.no_forecast_reason,
            ds=list(latest.ds),
            p50=list(latest.p50),
            p90=list(latest.p90),
            p99=list(latest.p99),
        )

    def decisions(self, target_id: str, start: datetime | None, end: datetime | None) -> DecisionsView:
        self.catalog.get(target_id)
        low, high = window(start, end, self.clock.now(), default=timedelta(days=1))
        actions: list[ScalingAction] = self.store.actions(target_id, low, high)
        return DecisionsView(
            target_id=target_id,
            start=low,
            end=high,
            decisions=self.store.decisions(target_id, low, high),
            actions=[{"outcome": type(a).__name__, **a.model_dump(mode="json")} for a in actions],
        )

    def events(self, target_id: str | None, start: datetime | None, end: datetime | None) -> EventsView:
        low, high = window(start, end, self.clock.now(), default=timedelta(days=7))
        ids = [self.catalog.get(target_id).target_id] if target_id else [t.target_id for t in self.catalog.targets()]
        events = [
            EventView(
                event_id=r.event_id,
                target_id=r.target_id,
                received_at=r.received_at,
                expires_at=r.expires_at,
                event=r.event,
            )
            for tid in ids
            for r in self.store.business_events(tid, low, high)
        ]
        rejected = [
            RejectedView(event_id=r.event_id, received_at=r.received_at, errors=list(r.errors), payload=r.payload)
            for r in self.store.rejected_events(low, high)
        ]
        return EventsView(start=low, end=high, events=events, rejected=rejected)

    def submit(self, event: BusinessEvent) -> Submitted:
        errors = timing_errors(event, self.clock.now())
        target_ids, target_errors = affected_targets(event, self.catalog.targets())
        errors += target_errors
        if errors:
            raise InvalidRequestError(errors)
        (event_id,) = self.publisher.publish([event])
        return Submitted(event_id=event_id, targets=target_ids)
