"""What the operator API answers: health, targets with their state, forecasts, decisions, business events;
and what it changes: targets and their modes (the operator's configuration object), the kill switch.

The response models below are the API's contract (its OpenAPI schema is generated from them). A
business event posted to the API is validated here (contract, times against the clock, known targets,
selector) and then put on the bus, so that the intake function stays the one writer of business events;
an invalid one is answered 422 with each field and reason and never reaches the bus.

Target changes go to the operator's object (:class:`~functions.services.targets.OperatorTargets`), never to
the deployed one, by compare-and-swap (a change that loses a race to another operator is re-applied to the
newer document); every function sees them within one collection round. A change that would make two
targets manage one group or service is refused naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from events.contracts import BusinessEvent, Mode, ScalingDecided
from functions.domain.clock import Clock
from functions.domain.target import ScalingTarget
from functions.ports.bus import EventPublisher
from functions.ports.errors import ConflictError
from functions.ports.operator_config import OperatorConfigStore
from functions.ports.records import KillSwitch, ScalingOutcome
from functions.ports.state import StateStore
from functions.services.intake import affected_targets, timing_errors
from functions.services.targets import OperatorTargets, TargetCatalog, parse_operator_targets

#: Attempts of a target change against other operators' concurrent changes.
MAX_CHANGE_ATTEMPTS = 5

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
    source: str = Field(description="Where the target comes from: deploy, operator or discovered.")
    mode_set_by_operator: bool = Field(description="The operator's configuration sets its mode.")
    state: TargetStateView
    latest_forecast: LatestForecastView | None


class ModeChange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    mode: Mode


class KillSwitchChange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    engaged: bool = Field(description="true stops every capacity change (of one target, or of all); false resumes.")
    reason: str = Field(min_length=1, max_length=500, description="Why, kept with the switch.")
    target_id: str | None = Field(default=None, description="One target's switch; omitted: the global one.")


class TargetChanged(_Out):
    target_id: str
    change: str = Field(description="put, mode or removed.")
    mode: str | None = Field(description="The target's mode after the change (None when removed).")
    version: str = Field(description="Version (ETag) of the operator's configuration object written.")


class KillSwitchView(_Out):
    target_id: str | None
    engaged: bool
    reason: str
    changed_by: str
    changed_at: datetime


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
    #: the operator's configuration object (None: this deployment takes no target changes)
    config: OperatorConfigStore | None = None

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
        catalogued = self.catalog.catalogued()
        return TargetView(
            target=target.model_dump(mode="json"),
            source=catalogued.sources.get(target.target_id, "deploy"),
            mode_set_by_operator=target.target_id in catalogued.operator_modes,
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
        actions: list[ScalingOutcome] = self.store.actions(target_id, low, high)
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

    # ----------------------------------------------------------------- changes (operator's configuration)

    def put_target(self, target: ScalingTarget, *, by: str) -> TargetChanged:
        """Add ``target`` or replace the one with its id (whatever its source); refused when another target
        manages the same group or service."""
        for other in self.catalog.targets():
            if other.target_id != target.target_id and (other.kind, other.resource_id) == (
                target.kind,
                target.resource_id,
            ):
                where = "asg_name" if target.kind == "asg" else "ecs_service"
                raise InvalidRequestError(
                    [{"field": where, "reason": f"{target.resource_id} is already managed by {other.target_id!r}"}]
                )

        def change(document: OperatorTargets) -> OperatorTargets:
            return document.model_copy(
                update={
                    "targets": [t for t in document.targets if t.target_id != target.target_id] + [target],
                    "modes": {k: v for k, v in document.modes.items() if k != target.target_id},
                    "removed": [i for i in document.removed if i != target.target_id],
                }
            )

        version = self._change(change, by)
        return TargetChanged(target_id=target.target_id, change="put", mode=target.mode, version=version)

    def set_mode(self, target_id: str, mode: Mode, *, by: str) -> TargetChanged:
        """Set a known target's mode (of an operator target: in the target itself; else in ``modes``)."""
        self.catalog.get(target_id)

        def change(document: OperatorTargets) -> OperatorTargets:
            own = [t for t in document.targets if t.target_id == target_id]
            if own:
                targets = [
                    t.model_copy(update={"mode": mode}) if t.target_id == target_id else t for t in document.targets
                ]
                return document.model_copy(update={"targets": targets})
            return document.model_copy(update={"modes": {**document.modes, target_id: mode}})

        version = self._change(change, by)
        return TargetChanged(target_id=target_id, change="mode", mode=mode, version=version)

    def remove_target(self, target_id: str, *, by: str) -> TargetChanged:
        """Stop managing a known target, whatever its source (listed in ``removed`` until put again)."""
        self.catalog.get(target_id)

        def change(document: OperatorTargets) -> OperatorTargets:
            return document.model_copy(
                update={
                    "targets": [t for t in document.targets if t.target_id != target_id],
                    "modes": {k: v for k, v in document.modes.items() if k != target_id},
                    "removed": sorted({*document.removed, target_id}),
                }
            )

        version = self._change(change, by)
        return TargetChanged(target_id=target_id, change="removed", mode=None, version=version)

    def _change(self, change: Callable[[OperatorTargets], OperatorTargets], by: str) -> str:
        """Apply ``change`` to the stored document by compare-and-swap; the new version."""
        if self.config is None:
            raise InvalidRequestError([{"field": "(body)", "reason": "this deployment takes no target changes"}])
        for _ in range(MAX_CHANGE_ATTEMPTS):
            stored = self.config.load()
            current = (
                OperatorTargets() if stored is None else parse_operator_targets(stored.body, "operator configuration")
            )
            changed = change(current).model_copy(update={"changed_at": self.clock.now(), "changed_by": by[:2048]})
            try:
                version = self.config.save(changed.to_json(), None if stored is None else stored.version)
            except ConflictError:
                continue
            self.catalog.invalidate()
            return version
        raise ConflictError("operator configuration", "targets", f"still changing after {MAX_CHANGE_ATTEMPTS} attempts")

    def set_kill_switch(self, change: KillSwitchChange, *, by: str) -> KillSwitchView:
        """Engage or release the global switch, or one known target's."""
        if change.target_id is not None:
            self.catalog.get(change.target_id)
        switch = KillSwitch(
            target_id=change.target_id,
            engaged=change.engaged,
            reason=change.reason,
            changed_by=by[:2048],
            changed_at=self.clock.now(),
        )
        self.store.set_kill_switch(switch)
        return KillSwitchView(
            target_id=switch.target_id,
            engaged=switch.engaged,
            reason=switch.reason,
            changed_by=switch.changed_by,
            changed_at=switch.changed_at,
        )
