"""The state store's ports: one Protocol per concern, and :class:`StateStore`, all of them.

:class:`functions.adapters.dynamodb.DynamoStateStore` implements every one (DynamoDB, or in memory in the
twin); both pass ``tests/contract/test_contract_state_store.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from events.contracts import BusinessEvent, ScalingDecided
from functions.ports.records import (
    ALL_TARGETS,
    Champion,
    EventEffect,
    KillSwitch,
    LearnedCapacity,
    ModelVersion,
    RejectedBusinessEvent,
    ScalingOutcome,
    StoredBusinessEvent,
    StoredForecast,
    StoredTargetState,
)


class TargetStateStore(Protocol):
    def get_target_state(self, target_id: str) -> StoredTargetState:
        """The stored state, or a fresh ``StoredTargetState(target_id)`` (version 0) when none is stored."""
        ...

    def put_target_state(self, state: StoredTargetState) -> StoredTargetState:
        """Store ``state`` if nobody stored another version since it was read; returns it with the new version.

        Raises :class:`ConflictError` when another writer won.
        """
        ...


class CapacityStore(Protocol):
    def get_learned_capacity(self, target_id: str) -> LearnedCapacity | None: ...

    def put_learned_capacity(self, learned: LearnedCapacity) -> LearnedCapacity:
        """Store (optimistic ``version``, ConflictError when another writer won); returns the new version."""
        ...


class ForecastStore(Protocol):
    def put_forecast(self, forecast: StoredForecast) -> bool:
        """Store as the target's latest forecast; False (nothing stored) when a newer one is already there."""
        ...

    def latest_forecast(self, target_id: str) -> StoredForecast | None: ...


class DecisionLog(Protocol):
    def record_decision(self, decision: ScalingDecided) -> None:
        """Append to the audit table; same decision again is a no-op, different content raises AlreadyExistsError."""
        ...

    def decisions(self, target_id: str, start: datetime, end: datetime) -> list[ScalingDecided]:
        """Decisions with ``start <= decided_at < end``, oldest first."""
        ...

    def recorded_decision(self, target_id: str, decided_at: datetime, decision_id: str) -> ScalingDecided | None:
        """The decision recorded under this key (one read), or None: what the executor checks an event against."""
        ...

    def record_action(self, action: ScalingOutcome) -> None:
        """Append an executor outcome (``ScalingExecuted`` or ``ScalingFailed``), immutable like decisions."""
        ...

    def actions(self, target_id: str, start: datetime, end: datetime) -> list[ScalingOutcome]: ...


class BusinessEventStore(Protocol):
    def put_business_event(
        self, event_id: str, event: BusinessEvent, target_ids: Sequence[str], *, received_at: datetime
    ) -> list[StoredBusinessEvent]:
        """Store an accepted event once per affected target (TTL = end + retention)."""
        ...

    def business_events(self, target_id: str, start: datetime, end: datetime) -> list[StoredBusinessEvent]:
        """Events of ``target_id`` whose window overlaps ``[start, end)``, by start."""
        ...

    def active_business_events(self, target_id: str, at: datetime) -> list[StoredBusinessEvent]:
        """Events of ``target_id`` with ``start <= at < end``."""
        ...

    def put_rejected_event(self, rejected: RejectedBusinessEvent) -> RejectedBusinessEvent:
        """Keep a refused event with its errors (TTL = received + retention); returns it with ``expires_at``."""
        ...

    def rejected_events(self, start: datetime, end: datetime) -> list[RejectedBusinessEvent]:
        """Refused events received in ``[start, end)``, oldest first."""
        ...

    def put_event_effect(self, effect: EventEffect) -> EventEffect:
        """Store a learned effect (optimistic ``version`` like :class:`StoredTargetState`)."""
        ...

    def event_effect(self, event_type: str, target_id: str = ALL_TARGETS) -> EventEffect | None: ...


class ModelRegistry(Protocol):
    def register_model(self, model: ModelVersion) -> None:
        """Add a version (immutable; same record again is a no-op)."""
        ...

    def model_version(self, target_id: str, version: str) -> ModelVersion | None: ...

    def model_versions(self, target_id: str) -> list[ModelVersion]:
        """Every registered version of the target, oldest first."""
        ...

    def champion(self, target_id: str) -> Champion | None: ...

    def promote(self, target_id: str, version: str, *, expected_current: str | None, at: datetime) -> Champion:
        """Make ``version`` the champion if the champion is still ``expected_current`` (None: no champion yet).

        Raises :class:`NotFoundError` for an unregistered version, :class:`ConflictError` if the
        champion changed meanwhile.
        """
        ...


class LeaseStore(Protocol):
    def acquire_lease(self, target_id: str, owner: str, *, now: datetime, seconds: int) -> bool:
        """Take the target's lease until ``now + seconds`` if it is free or expired; False when another holds it."""
        ...

    def release_lease(self, target_id: str, owner: str) -> None:
        """Give the lease back now (a no-op when ``owner`` no longer holds it)."""
        ...


class KillSwitchStore(Protocol):
    def set_kill_switch(self, switch: KillSwitch) -> None:
        """Engage or release the global switch (``target_id=None``) or one target's."""
        ...

    def kill_switch(self, target_id: str) -> KillSwitch | None:
        """The engaged switch that stops ``target_id`` (global first), or None."""
        ...


class StateStore(
    TargetStateStore,
    CapacityStore,
    ForecastStore,
    DecisionLog,
    BusinessEventStore,
    ModelRegistry,
    KillSwitchStore,
    LeaseStore,
    Protocol,
):
    """Everything the handlers keep in DynamoDB."""
