"""DynamoDB state store: targets' state, latest forecasts, decisions, business events, models, kill switch.

One adapter (:class:`DynamoStateStore`, low-level ``dynamodb`` client injected) implements every port
of :mod:`functions.ports.state` (records in :mod:`functions.ports.records`);
:class:`forescale_tools.memory.InMemoryStateStore` is its twin. Both pass
``tests/contract/test_state_store_contract.py`` (twin, moto's server, DynamoDB Local).

The store is built from three parts: :mod:`functions.adapters.dynamodb_layout` (each record's item: its
keys and attribute values, with the table of item layouts), :mod:`functions.adapters.dynamodb_codec` (plain
values <-> DynamoDB attribute values) and :mod:`functions.adapters.dynamodb_items` (the item engine and its
write conditions; the twin swaps in an in-memory engine).

Records that are immutable are put with ``attribute_not_exists(pk)``; putting the very same record
again is a no-op (a retried Lambda), putting different content raises :class:`AlreadyExistsError`.
Mutable records carry a ``version`` number: a write names the version it read and raises
:class:`ConflictError` when another writer got there first.

The decider's forecast record is not here: at about 140 KB rewritten every decision it is an S3 object
(:mod:`functions.adapters.tracker_records`), a fraction of the cost of DynamoDB write units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from events.contracts import BusinessEvent, ScalingDecided
from functions.adapters import tables
from functions.adapters._timefmt import epoch_seconds, iso, require_aware

# The codec and the item engine, importable from here as before (the in-memory twin, tests).
from functions.adapters.dynamodb_codec import from_item, to_item  # noqa: F401
from functions.adapters.dynamodb_items import ABSENT, Condition, ConditionFailedError, DynamoItems, ItemEngine
from functions.adapters.dynamodb_layout import (
    action_from_json,
    action_values,
    champion_from_values,
    champion_values,
    decision_key,
    decision_values,
    effect_from_values,
    effect_values,
    event_from_values,
    event_query_bounds,
    event_values,
    forecast_from_values,
    forecast_values,
    kill_from_values,
    kill_values,
    learned_capacity_from_values,
    learned_capacity_values,
    model_from_values,
    model_values,
    overlaps,
    rejected_from_values,
    rejected_values,
    state_from_values,
    state_values,
    target_pk,
)
from functions.ports import records
from functions.ports.errors import AlreadyExistsError, ConflictError, NotFoundError

# The ports this store implements, importable from here as before (tests); product code imports functions.ports.
from functions.ports.state import (  # noqa: F401
    BusinessEventStore,
    CapacityStore,
    DecisionLog,
    ForecastStore,
    KillSwitchStore,
    LeaseStore,
    ModelRegistry,
    StateStore,
    TargetStateStore,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

#: Business events and rejected events stay this long after their end (then DynamoDB's TTL drops them).
DEFAULT_EVENT_RETENTION = timedelta(days=90)


# --------------------------------------------------------------------------- table names


@dataclass(frozen=True)
class TableNames:
    """Physical names of the application tables."""

    state: str
    audit: str
    business_events: str
    model_registry: str

    @classmethod
    def with_prefix(cls, prefix: str) -> TableNames:
        """``<prefix>-State``, ... (tests and local runs)."""
        return cls(
            state=f"{prefix}-{tables.STATE.logical_name}",
            audit=f"{prefix}-{tables.AUDIT.logical_name}",
            business_events=f"{prefix}-{tables.BUSINESS_EVENTS.logical_name}",
            model_registry=f"{prefix}-{tables.MODEL_REGISTRY.logical_name}",
        )

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> TableNames:
        """From the ``*_TABLE`` variables the CDK stack sets; raises naming the missing variable."""
        specs = (tables.STATE, tables.AUDIT, tables.BUSINESS_EVENTS, tables.MODEL_REGISTRY)
        missing = [spec.env_var for spec in specs if not environment.get(spec.env_var)]
        if missing:
            raise ValueError(f"{missing[0]}: environment variable is not set (table name)")
        return cls(*(environment[spec.env_var] for spec in specs))

    def specs(self) -> list[tuple[tables.TableSpec, str]]:
        return [
            (tables.STATE, self.state),
            (tables.AUDIT, self.audit),
            (tables.BUSINESS_EVENTS, self.business_events),
            (tables.MODEL_REGISTRY, self.model_registry),
        ]


def create_tables(client: DynamoDBClient, names: TableNames) -> None:
    """Create the application tables (on-demand) and enable TTL where the spec has one: tests, local runs."""
    for spec, name in names.specs():
        client.create_table(**tables.create_table_kwargs(spec, name))  # type: ignore[arg-type]
    for spec, name in names.specs():
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        if spec.ttl_attribute:
            client.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
            )


# --------------------------------------------------------------------------- store


class DynamoStateStore:
    """:class:`StateStore` on DynamoDB (the twin is the same class over an in-memory item engine)."""

    def __init__(
        self,
        client: DynamoDBClient,
        names: TableNames,
        *,
        event_retention: timedelta = DEFAULT_EVENT_RETENTION,
    ) -> None:
        self._setup(DynamoItems(client), names, event_retention)

    def _setup(self, engine: ItemEngine, names: TableNames, event_retention: timedelta) -> None:
        self._items = engine
        self._names = names
        self._retention = event_retention

    @property
    def items(self) -> ItemEngine:
        """The raw item access (tests and tools inspect stored layouts through it)."""
        return self._items

    @property
    def names(self) -> TableNames:
        return self._names

    # ----------------------------------------------------------------- plumbing

    def _put_new(self, table: str, values: Mapping[str, Any], what: str, compare: str) -> None:
        """Put once; the same ``compare`` attribute again is a retry (no-op), anything else a conflict."""
        try:
            self._items.put(table, values, ABSENT)
        except ConditionFailedError as error:
            existing = self._items.get(table, values["pk"], values["sk"])
            if existing is None or existing.get(compare) != values.get(compare):
                raise AlreadyExistsError(what, f"{values['pk']}/{values['sk']}") from error

    def _put_versioned(self, table: str, values: Mapping[str, Any], version: int, what: str) -> None:
        """Put if the stored ``version`` is still ``version`` (0: nothing stored yet)."""
        if version < 0:
            raise ValueError("version: must not be negative")
        condition = ABSENT if version == 0 else Condition("equals", "version", version)
        try:
            self._items.put(table, {**values, "version": version + 1}, condition)
        except ConditionFailedError as error:
            raise ConflictError(what, f"{values['pk']}/{values['sk']}", f"expected version {version}") from error

    # ----------------------------------------------------------------- target state

    def get_target_state(self, target_id: str) -> records.StoredTargetState:
        item = self._items.get(self._names.state, target_pk(target_id), "STATE")
        return records.StoredTargetState(target_id=target_id) if item is None else state_from_values(item)

    def put_target_state(self, state: records.StoredTargetState) -> records.StoredTargetState:
        self._put_versioned(self._names.state, state_values(state), state.version, "target state")
        return replace(state, version=state.version + 1)

    # ----------------------------------------------------------------- learned capacity (trainer)

    def get_learned_capacity(self, target_id: str) -> records.LearnedCapacity | None:
        item = self._items.get(self._names.state, target_pk(target_id), "CAPACITY")
        return None if item is None else learned_capacity_from_values(item)

    def put_learned_capacity(self, learned: records.LearnedCapacity) -> records.LearnedCapacity:
        values = learned_capacity_values(learned)
        self._put_versioned(self._names.state, values, learned.version, "learned capacity")
        return replace(learned, version=learned.version + 1)

    # ----------------------------------------------------------------- forecasts

    def put_forecast(self, forecast: records.StoredForecast) -> bool:
        condition = Condition("absent_or_at_most", "issued_at", iso(forecast.issued_at))
        try:
            self._items.put(self._names.state, forecast_values(forecast), condition)
        except ConditionFailedError:
            return False
        return True

    def latest_forecast(self, target_id: str) -> records.StoredForecast | None:
        item = self._items.get(self._names.state, target_pk(target_id), "FORECAST#LATEST")
        return None if item is None else forecast_from_values(item)

    # ----------------------------------------------------------------- audit

    def record_decision(self, decision: ScalingDecided) -> None:
        self._put_new(self._names.audit, decision_values(decision), "decision", "body")

    def decisions(self, target_id: str, start: datetime, end: datetime) -> list[ScalingDecided]:
        low, high = f"DECISION#{iso(start, 'start')}", f"DECISION#{iso(end, 'end')}"
        return [
            ScalingDecided.model_validate_json(item["body"])
            for item in self._items.query(self._names.audit, target_pk(target_id), low, high)
        ]

    def recorded_decision(self, target_id: str, decided_at: datetime, decision_id: str) -> ScalingDecided | None:
        item = self._items.get(self._names.audit, target_pk(target_id), decision_key(decided_at, decision_id))
        return None if item is None else ScalingDecided.model_validate_json(item["body"])

    def record_action(self, action: records.ScalingOutcome) -> None:
        self._put_new(self._names.audit, action_values(action), "action", "body")

    def actions(self, target_id: str, start: datetime, end: datetime) -> list[records.ScalingOutcome]:
        low, high = f"ACTION#{iso(start, 'start')}", f"ACTION#{iso(end, 'end')}"
        items = self._items.query(self._names.audit, target_pk(target_id), low, high)
        return [action_from_json(item["body"]) for item in items]

    # ----------------------------------------------------------------- business events

    def put_business_event(
        self, event_id: str, event: BusinessEvent, target_ids: Sequence[str], *, received_at: datetime
    ) -> list[records.StoredBusinessEvent]:
        if not target_ids:
            raise ValueError("target_ids: an accepted business event affects at least one target")
        received = require_aware(received_at, "received_at")
        stored = [
            records.StoredBusinessEvent(event_id, target_id, event, received, event.end + self._retention)
            for target_id in dict.fromkeys(target_ids)
        ]
        for record in stored:
            self._put_new(self._names.business_events, event_values(record), "business event", "body")
        return stored

    def business_events(self, target_id: str, start: datetime, end: datetime) -> list[records.StoredBusinessEvent]:
        low, high = event_query_bounds(start, end)
        items = self._items.query(self._names.business_events, target_pk(target_id), low, high)
        records = (event_from_values(item) for item in items)
        return [record for record in records if overlaps(record.event, start, end)]

    def active_business_events(self, target_id: str, at: datetime) -> list[records.StoredBusinessEvent]:
        return self.business_events(target_id, at, at + timedelta(microseconds=1))

    def put_rejected_event(self, rejected: records.RejectedBusinessEvent) -> records.RejectedBusinessEvent:
        record = replace(rejected, expires_at=require_aware(rejected.received_at, "received_at") + self._retention)
        self._put_new(self._names.business_events, rejected_values(record), "rejected event", "payload")
        return record

    def rejected_events(self, start: datetime, end: datetime) -> list[records.RejectedBusinessEvent]:
        low, high = iso(start, "start"), iso(end, "end")
        return [
            rejected_from_values(item) for item in self._items.query(self._names.business_events, "REJECTED", low, high)
        ]

    def put_event_effect(self, effect: records.EventEffect) -> records.EventEffect:
        self._put_versioned(self._names.business_events, effect_values(effect), effect.version, "event effect")
        return replace(effect, version=effect.version + 1)

    def event_effect(self, event_type: str, target_id: str = records.ALL_TARGETS) -> records.EventEffect | None:
        item = self._items.get(self._names.business_events, f"EFFECT#{event_type}", f"TARGET#{target_id}")
        return None if item is None else effect_from_values(item)

    # ----------------------------------------------------------------- model registry

    def register_model(self, model: records.ModelVersion) -> None:
        self._put_new(self._names.model_registry, model_values(model), "model version", "body")

    def model_version(self, target_id: str, version: str) -> records.ModelVersion | None:
        item = self._items.get(self._names.model_registry, target_pk(target_id), f"VERSION#{version}")
        return None if item is None else model_from_values(item)

    def model_versions(self, target_id: str) -> list[records.ModelVersion]:
        items = self._items.query(self._names.model_registry, target_pk(target_id), "VERSION#", "VERSION$")
        return sorted((model_from_values(item) for item in items), key=lambda m: (m.created_at, m.version))

    def champion(self, target_id: str) -> records.Champion | None:
        item = self._items.get(self._names.model_registry, target_pk(target_id), "CHAMPION")
        return None if item is None else champion_from_values(item)

    def promote(self, target_id: str, version: str, *, expected_current: str | None, at: datetime) -> records.Champion:
        if self.model_version(target_id, version) is None:
            raise NotFoundError("model version", f"{target_id}/{version}")
        champion = records.Champion(target_id, version, require_aware(at, "at"), expected_current)
        condition = ABSENT if expected_current is None else Condition("equals", "model_version", expected_current)
        try:
            self._items.put(self._names.model_registry, champion_values(champion), condition)
        except ConditionFailedError as error:
            raise ConflictError("champion", target_id, f"expected current version {expected_current!r}") from error
        return champion

    # ----------------------------------------------------------------- leases

    def acquire_lease(self, target_id: str, owner: str, *, now: datetime, seconds: int) -> bool:
        if seconds <= 0:
            raise ValueError("seconds: a lease lasts a positive number of seconds")
        at = epoch_seconds(now, "now")
        values = {"pk": target_pk(target_id), "sk": "LEASE", "owner": owner, "expires_at": at + seconds}
        try:
            self._items.put(self._names.state, values, Condition("absent_or_at_most", "expires_at", at))
        except ConditionFailedError:
            return False
        return True

    def release_lease(self, target_id: str, owner: str) -> None:
        values = {"pk": target_pk(target_id), "sk": "LEASE", "owner": owner, "expires_at": 0}
        try:
            self._items.put(self._names.state, values, Condition("equals", "owner", owner))
        except ConditionFailedError:
            return

    # ----------------------------------------------------------------- kill switch

    def set_kill_switch(self, switch: records.KillSwitch) -> None:
        self._items.put(self._names.state, kill_values(switch))

    def kill_switch(self, target_id: str) -> records.KillSwitch | None:
        for sk in ("GLOBAL", f"TARGET#{target_id}"):
            item = self._items.get(self._names.state, "KILL", sk)
            if item is not None and item["engaged"]:
                return kill_from_values(item)
        return None
