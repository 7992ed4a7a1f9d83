"""The alarm responder: a target breached its SLO, so forecasting missed; scale out now, record the miss.

The decider detects the breach (:mod:`functions.services.decider_slo`: utilisation above ``slo_utilization``
in 2 of the last 3 periods, the rule the replay simulates) and publishes :class:`~events.contracts.SloBreached`
naming the target, with the utilisation of the periods it evaluated. The responder asks for
``ceil(highest utilisation x in-service / target_utilization)`` instances (what brings utilisation back to the
set-point), at least one more than now, within the step limit and the bounds
(:func:`functions.domain.reactive.alarm_scale_out`, the code the replay runs when its rule fires), from the
capacity it describes when the event comes.

The response is a ``ScalingDecided`` like the decider's (``reactive=True``, the target's next sequence
number), recorded in the audit trail with a ``forecast_miss`` row (the breach, the utilisation, the
forecast that was in force) and published for the executor, which applies it with the usual checks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from events.contracts import ScalingDecided, SloBreached
from functions.domain.clock import Clock, IdSource
from functions.domain.reactive import alarm_scale_out
from functions.domain.target import ScalingTarget
from functions.ports.archive import Archive
from functions.ports.bus import EventPublisher
from functions.ports.capacity import CapacityApi, CapacityError
from functions.ports.errors import ConflictError
from functions.ports.state import StateStore
from functions.services.common import Retrier, decision_validity, field_values
from functions.services.targets import TargetCatalog

MAX_CONFLICT_RETRIES = 5


@dataclass
class AlarmResponse:
    breach: str
    status: str
    reason: str
    target_id: str | None = None
    decision_id: str | None = None
    previous: int | None = None
    desired: int | None = None

    def summary(self) -> dict[str, Any]:
        return field_values(self)


@dataclass
class AlarmResponderService:
    catalog: TargetCatalog
    store: StateStore
    archive: Archive
    publisher: EventPublisher
    capacity: CapacityApi
    clock: Clock
    ids: IdSource
    retrier: Retrier

    def respond(self, breach: SloBreached) -> AlarmResponse:
        name = breach.breach_id
        target = self.catalog.find(breach.target_id)
        if target is None:
            return AlarmResponse(name, "ignored", f"target {breach.target_id!r} is not a known target")
        snapshot, _ = self.retrier.run(
            lambda: self.capacity.describe(target),
            errors=(CapacityError,),
            retryable=lambda e: bool(getattr(e, "retryable", False)),
        )
        points = list(breach.datapoints)
        utilization = max(points)
        desired = alarm_scale_out(target, desired=snapshot.desired, in_service=snapshot.in_service, datapoints=points)
        now = self.clock.now()
        kill = self.store.kill_switch(target.target_id)
        if kill is not None:
            desired = target.clamp(snapshot.desired)
        for _ in range(MAX_CONFLICT_RETRIES):
            state = self.store.get_target_state(target.target_id)
            sequence = state.sequence + 1
            try:
                self.store.put_target_state(
                    replace(
                        state,
                        sequence=sequence,
                        last_scale_out_at=now if desired > snapshot.desired else state.last_scale_out_at,
                        plan_lower_since=None,
                        updated_at=now,
                        # the alarm's capacity until the next decision (the SLO budget does not price it)
                        alarm_governs=state.alarm_governs or desired > snapshot.desired,
                    )
                )
            except ConflictError:
                continue
            break
        else:
            raise ConflictError(
                "target state", target.target_id, f"still changing after {MAX_CONFLICT_RETRIES} attempts"
            )
        action = "scale_out" if desired > snapshot.desired else "hold"
        reason = (
            f"SLO breach {name}: utilisation {utilization:.0%} above {target.slo_utilization:.0%}; "
            f"reactive scale-out {snapshot.desired} → {desired}"
            if kill is None
            else f"SLO breach {name}: kill switch on ({kill.reason}): hold {snapshot.desired}"
        )
        event = ScalingDecided(
            decision_id=self.ids.new_id("alarm"),
            target_id=target.target_id,
            kind=target.kind,
            mode=target.mode,
            decided_at=now,
            valid_until=now + decision_validity(target.decision_interval_seconds),
            sequence=sequence,
            previous_desired=target.clamp(snapshot.desired),
            desired_capacity=desired,
            min_capacity=target.min_capacity,
            max_capacity=target.max_capacity,
            action=action,
            confidence=0.0,
            reactive=True,
            reason=reason[:500],
        )
        self._record(target, event, breach, utilization, now)
        if action == "scale_out":
            self.publisher.publish([event])
        return AlarmResponse(name, "decided", reason, target.target_id, event.decision_id, snapshot.desired, desired)

    def _record(
        self, target: ScalingTarget, event: ScalingDecided, breach: SloBreached, utilization: float, now: datetime
    ) -> None:
        self.store.record_decision(event)
        latest = self.store.latest_forecast(target.target_id)
        miss = {
            "record": "forecast_miss",
            "breach": breach.breach_id,
            "utilization": utilization,
            "datapoints": list(breach.datapoints),
            "datapoint_at": breach.datapoint_at.isoformat(),
            "forecast_id": latest.forecast_id if latest is not None else "",
            "forecast_model": latest.model_version if latest is not None else "",
            "decision_id": event.decision_id,
        }
        self.archive.write_audit(target.target_id, f"miss-{event.decision_id}", now, [miss])
        decision = {**event.model_dump(mode="json"), "record": "decision"}
        self.archive.write_audit(target.target_id, event.decision_id, now, [decision])
