"""DynamoDB state store: targets' state, latest forecasts, decisions, business events, models, kill switch.

One adapter (:class:`DynamoStateStore`, low-level ``dynamodb`` client injected) implements every port
of :mod:`functions.ports.state` (records in :mod:`functions.ports.records`);
:class:`forescale_tools.memory.InMemoryStateStore` is its twin. Both pass
``tests/contract/test_state_store_contract.py`` (twin, moto's server, DynamoDB Local).

Item layouts (tables from :mod:`functions.adapters.tables`, keys ``pk``/``sk``, times as fixed-width
UTC ISO text so that sort keys sort chronologically):

=================  ====================  ==========================================  =========================
table              pk                    sk                                          notes
=================  ====================  ==========================================  =========================
State              ``TARGET#<id>``       ``STATE``                                   optimistic ``version``
State              ``TARGET#<id>``       ``FORECAST#LATEST``                         only a newer one replaces
State              ``TARGET#<id>``       ``LEASE``                                   free or expired to take
State              ``TARGET#<id>``       ``CAPACITY``                                optimistic ``version``
State              ``KILL``              ``GLOBAL`` or ``TARGET#<id>``               last writer wins
Audit              ``TARGET#<id>``       ``DECISION#<decided_at>#<decision_id>``     immutable (put once)
Audit              ``TARGET#<id>``       ``ACTION#<at>#<decision_id>``               immutable (put once)
BusinessEvents     ``TARGET#<id>``       ``EVENT#<start>#<event_id>``                TTL ``expires_at``
BusinessEvents     ``REJECTED``          ``<received_at>#<event_id>``                TTL ``expires_at``
BusinessEvents     ``EFFECT#<type>``     ``TARGET#<id>`` (``TARGET#*`` = all)        optimistic ``version``
ModelRegistry      ``TARGET#<id>``       ``VERSION#<version>``                       immutable (put once)
ModelRegistry      ``TARGET#<id>``       ``CHAMPION``                                conditional on current
=================  ====================  ==========================================  =========================

Records that are immutable are put with ``attribute_not_exists(pk)``; putting the very same record
again is a no-op (a retried Lambda), putting different content raises :class:`AlreadyExistsError`.
Mutable records carry a ``version`` number: a write names the version it read and raises
:class:`ConflictError` when another writer got there first. A forecast is stored compactly: the
timestamps as int64 epoch seconds and the three quantile paths as float64, each one binary attribute.

The decider's forecast record is not here: at about 140 KB rewritten every decision it is an S3 object
(:mod:`functions.adapters.tracker_records`), a fraction of the cost of DynamoDB write units.
"""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from events.contracts import MAX_EVENT_DAYS, BusinessEvent, ScalingDecided, ScalingExecuted, ScalingFailed
from functions.adapters import tables
from functions.adapters._timefmt import epoch_seconds, iso, parse_iso, require_aware
from functions.ports.errors import AlreadyExistsError, ConflictError, NotFoundError
from functions.ports.records import (
    ALL_TARGETS,
    Champion,
    EventEffect,
    KillSwitch,
    LearnedCapacity,
    ModelVersion,
    RejectedBusinessEvent,
    ScalingAction,
    StoredBusinessEvent,
    StoredForecast,
    TargetState,
)

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


# --------------------------------------------------------------------------- attribute codec


def to_attribute(value: Any) -> dict[str, Any]:
    """Python value → DynamoDB attribute value (floats as exact decimal text, never Decimal objects)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"value: {value} cannot be stored (DynamoDB numbers are finite)")
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_attribute(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(v) for v in value]}
    raise TypeError(f"value: type {type(value).__name__} cannot be stored")


def from_attribute(attribute: Mapping[str, Any]) -> Any:
    """DynamoDB attribute value → Python value (``N`` → int when integral text, else float)."""
    ((kind, value),) = attribute.items()
    if kind == "NULL":
        return None
    if kind == "BOOL":
        return bool(value)
    if kind == "N":
        text = str(value)
        return int(text) if text.lstrip("-").isdigit() else float(text)
    if kind == "S":
        return str(value)
    if kind == "B":
        return bytes(value)
    if kind == "M":
        return {k: from_attribute(v) for k, v in value.items()}
    if kind == "L":
        return [from_attribute(v) for v in value]
    raise TypeError(f"attribute type {kind} is not used by forescale")


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: to_attribute(v) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: from_attribute(v) for k, v in item.items()}


def pack_floats(values: Sequence[float]) -> bytes:
    return array("d", values).tobytes()


def unpack_floats(blob: bytes) -> tuple[float, ...]:
    out = array("d")
    out.frombytes(blob)
    return tuple(out)


def pack_times(values: Sequence[datetime]) -> bytes:
    return array("q", (epoch_seconds(v, "ds") for v in values)).tobytes()


def unpack_times(blob: bytes) -> tuple[datetime, ...]:
    out = array("q")
    out.frombytes(blob)
    return tuple(datetime.fromtimestamp(v, UTC) for v in out)


def _opt_iso(value: datetime | None, field: str) -> str | None:
    return None if value is None else iso(value, field)


def _opt_time(value: str | None) -> datetime | None:
    return None if value is None else parse_iso(value)


def _finite(value: Any, field: str) -> float:
    """``value`` as a float, refused (naming ``field``) unless a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{field}: must be a finite number, got {value!r}")
    return float(value)


def _opt_finite(value: Any, field: str) -> float | None:
    return None if value is None else _finite(value, field)


# --------------------------------------------------------------------------- keys (shared with the twin)


def target_pk(target_id: str) -> str:
    return f"TARGET#{target_id}"


def decision_sk(decision: ScalingDecided) -> str:
    return decision_key(decision.decided_at, decision.decision_id)


def decision_key(decided_at: datetime, decision_id: str) -> str:
    return f"DECISION#{iso(decided_at, 'decided_at')}#{decision_id}"


def action_at(action: ScalingAction) -> datetime:
    return action.executed_at if isinstance(action, ScalingExecuted) else action.failed_at


def action_sk(action: ScalingAction) -> str:
    return f"ACTION#{iso(action_at(action))}#{action.decision_id}"


def event_sk(event_id: str, event: BusinessEvent) -> str:
    return f"EVENT#{iso(event.start)}#{event_id}"


def event_query_bounds(start: datetime, end: datetime) -> tuple[str, str]:
    """Sort-key range holding every event that can overlap ``[start, end)``: it starts before ``end``
    and at most :data:`MAX_EVENT_DAYS` before ``start`` (no event lasts longer)."""
    earliest = require_aware(start, "start") - timedelta(days=MAX_EVENT_DAYS)
    return f"EVENT#{iso(earliest)}", f"EVENT#{iso(end, 'end')}"


def overlaps(event: BusinessEvent, start: datetime, end: datetime) -> bool:
    return event.start < end and event.end > start


def action_from_json(body: str) -> ScalingAction:
    payload = json.loads(body)
    if "failed_at" in payload:
        return ScalingFailed.model_validate(payload)
    return ScalingExecuted.model_validate(payload)


# --------------------------------------------------------------------------- item engines


@dataclass(frozen=True)
class Condition:
    """The few write conditions the store uses, so DynamoDB and the twin evaluate the same thing.

    ``absent``: no item with the key; ``equals``: ``attribute == value``; ``absent_or_at_most``: no
    item, or ``attribute <= value``.
    """

    kind: str
    attribute: str = ""
    value: Any = None


ABSENT = Condition("absent")


class ConditionFailedError(Exception):
    """Internal: the item engine refused a conditional put."""


class ItemEngine(Protocol):
    """Key-value access to the tables in plain Python values (see :func:`to_item`)."""

    def get(self, table: str, pk: str, sk: str) -> dict[str, Any] | None: ...

    def put(self, table: str, values: Mapping[str, Any], condition: Condition | None = None) -> None:
        """Store the item; raises :class:`ConditionFailedError` when ``condition`` does not hold."""
        ...

    def query(self, table: str, pk: str, low: str, high: str) -> Iterator[dict[str, Any]]:
        """Items with ``pk`` and ``low <= sk <= high``, ascending by ``sk``."""
        ...


class DynamoItems:
    """:class:`ItemEngine` on DynamoDB through an injected low-level client (strongly consistent reads)."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client

    def get(self, table: str, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._client.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)
        item = response.get("Item")
        return from_item(item) if item else None

    def put(self, table: str, values: Mapping[str, Any], condition: Condition | None = None) -> None:
        kwargs: dict[str, Any] = {"TableName": table, "Item": to_item(values)}
        if condition is not None:
            if condition.kind == "absent":
                kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
            elif condition.kind == "equals":
                kwargs["ConditionExpression"] = "#a = :v"
            elif condition.kind == "absent_or_at_most":
                kwargs["ConditionExpression"] = "attribute_not_exists(pk) OR #a <= :v"
            else:
                raise ValueError(f"condition: unknown kind {condition.kind!r}")
            if condition.kind != "absent":
                kwargs["ExpressionAttributeNames"] = {"#a": condition.attribute}
                kwargs["ExpressionAttributeValues"] = {":v": to_attribute(condition.value)}
        try:
            self._client.put_item(**kwargs)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ConditionFailedError from error
            raise

    def query(self, table: str, pk: str, low: str, high: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":lo": {"S": low}, ":hi": {"S": high}},
            "ConsistentRead": True,
        }
        while True:
            response = self._client.query(**kwargs)
            for item in response.get("Items", []):
                yield from_item(item)
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last


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

    def get_target_state(self, target_id: str) -> TargetState:
        item = self._items.get(self._names.state, target_pk(target_id), "STATE")
        return TargetState(target_id=target_id) if item is None else _state_from_values(item)

    def put_target_state(self, state: TargetState) -> TargetState:
        self._put_versioned(self._names.state, _state_values(state), state.version, "target state")
        return replace(state, version=state.version + 1)

    # ----------------------------------------------------------------- learned capacity (trainer)

    def get_learned_capacity(self, target_id: str) -> LearnedCapacity | None:
        item = self._items.get(self._names.state, target_pk(target_id), "CAPACITY")
        if item is None:
            return None
        value = item.get("capacity_per_instance")
        return LearnedCapacity(
            target_id=item["target_id"],
            capacity_per_instance=None if value is None else float(value),
            samples=int(item["samples"]),
            r2=float(item["r2"]),
            outliers=int(item["outliers"]),
            learned_at=parse_iso(item["learned_at"]),
            method=str(item["method"]),
            reason=item.get("reason"),
            version=int(item["version"]),
        )

    def put_learned_capacity(self, learned: LearnedCapacity) -> LearnedCapacity:
        value = learned.capacity_per_instance
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError("capacity_per_instance: a learned capacity is finite and positive")
        if value is None and not learned.reason:
            raise ValueError("reason: say why nothing is learned when capacity_per_instance is None")
        values = {
            "pk": target_pk(learned.target_id),
            "sk": "CAPACITY",
            "target_id": learned.target_id,
            "capacity_per_instance": None if value is None else float(value),
            "samples": int(learned.samples),
            "r2": float(learned.r2) if math.isfinite(learned.r2) else 0.0,
            "outliers": int(learned.outliers),
            "learned_at": iso(learned.learned_at, "learned_at"),
            "method": learned.method,
            "reason": learned.reason,
        }
        self._put_versioned(self._names.state, values, learned.version, "learned capacity")
        return replace(learned, version=learned.version + 1)

    # ----------------------------------------------------------------- forecasts

    def put_forecast(self, forecast: StoredForecast) -> bool:
        condition = Condition("absent_or_at_most", "issued_at", iso(forecast.issued_at))
        try:
            self._items.put(self._names.state, _forecast_values(forecast), condition)
        except ConditionFailedError:
            return False
        return True

    def latest_forecast(self, target_id: str) -> StoredForecast | None:
        item = self._items.get(self._names.state, target_pk(target_id), "FORECAST#LATEST")
        return None if item is None else _forecast_from_values(item)

    # ----------------------------------------------------------------- audit

    def record_decision(self, decision: ScalingDecided) -> None:
        self._put_new(self._names.audit, _decision_values(decision), "decision", "body")

    def decisions(self, target_id: str, start: datetime, end: datetime) -> list[ScalingDecided]:
        low, high = f"DECISION#{iso(start, 'start')}", f"DECISION#{iso(end, 'end')}"
        return [
            ScalingDecided.model_validate_json(item["body"])
            for item in self._items.query(self._names.audit, target_pk(target_id), low, high)
        ]

    def recorded_decision(self, target_id: str, decided_at: datetime, decision_id: str) -> ScalingDecided | None:
        item = self._items.get(self._names.audit, target_pk(target_id), decision_key(decided_at, decision_id))
        return None if item is None else ScalingDecided.model_validate_json(item["body"])

    def record_action(self, action: ScalingAction) -> None:
        self._put_new(self._names.audit, _action_values(action), "action", "body")

    def actions(self, target_id: str, start: datetime, end: datetime) -> list[ScalingAction]:
        low, high = f"ACTION#{iso(start, 'start')}", f"ACTION#{iso(end, 'end')}"
        items = self._items.query(self._names.audit, target_pk(target_id), low, high)
        return [action_from_json(item["body"]) for item in items]

    # ----------------------------------------------------------------- business events

    def put_business_event(
        self, event_id: str, event: BusinessEvent, target_ids: Sequence[str], *, received_at: datetime
    ) -> list[StoredBusinessEvent]:
        if not target_ids:
            raise ValueError("target_ids: an accepted business event affects at least one target")
        received = require_aware(received_at, "received_at")
        stored = [
            StoredBusinessEvent(event_id, target_id, event, received, event.end + self._retention)
            for target_id in dict.fromkeys(target_ids)
        ]
        for record in stored:
            self._put_new(self._names.business_events, _event_values(record), "business event", "body")
        return stored

    def business_events(self, target_id: str, start: datetime, end: datetime) -> list[StoredBusinessEvent]:
        low, high = event_query_bounds(start, end)
        items = self._items.query(self._names.business_events, target_pk(target_id), low, high)
        records = (_event_from_values(item) for item in items)
        return [record for record in records if overlaps(record.event, start, end)]

    def active_business_events(self, target_id: str, at: datetime) -> list[StoredBusinessEvent]:
        return self.business_events(target_id, at, at + timedelta(microseconds=1))

    def put_rejected_event(self, rejected: RejectedBusinessEvent) -> RejectedBusinessEvent:
        record = replace(rejected, expires_at=require_aware(rejected.received_at, "received_at") + self._retention)
        self._put_new(self._names.business_events, _rejected_values(record), "rejected event", "payload")
        return record

    def rejected_events(self, start: datetime, end: datetime) -> list[RejectedBusinessEvent]:
        low, high = iso(start, "start"), iso(end, "end")
        return [
            _rejected_from_values(item)
            for item in self._items.query(self._names.business_events, "REJECTED", low, high)
        ]

    def put_event_effect(self, effect: EventEffect) -> EventEffect:
        self._put_versioned(self._names.business_events, _effect_values(effect), effect.version, "event effect")
        return replace(effect, version=effect.version + 1)

    def event_effect(self, event_type: str, target_id: str = ALL_TARGETS) -> EventEffect | None:
        item = self._items.get(self._names.business_events, f"EFFECT#{event_type}", f"TARGET#{target_id}")
        return None if item is None else _effect_from_values(item)

    # ----------------------------------------------------------------- model registry

    def register_model(self, model: ModelVersion) -> None:
        self._put_new(self._names.model_registry, _model_values(model), "model version", "body")

    def model_version(self, target_id: str, version: str) -> ModelVersion | None:
        item = self._items.get(self._names.model_registry, target_pk(target_id), f"VERSION#{version}")
        return None if item is None else _model_from_values(item)

    def model_versions(self, target_id: str) -> list[ModelVersion]:
        items = self._items.query(self._names.model_registry, target_pk(target_id), "VERSION#", "VERSION$")
        return sorted((_model_from_values(item) for item in items), key=lambda m: (m.created_at, m.version))

    def champion(self, target_id: str) -> Champion | None:
        item = self._items.get(self._names.model_registry, target_pk(target_id), "CHAMPION")
        return None if item is None else _champion_from_values(item)

    def promote(self, target_id: str, version: str, *, expected_current: str | None, at: datetime) -> Champion:
        if self.model_version(target_id, version) is None:
            raise NotFoundError("model version", f"{target_id}/{version}")
        champion = Champion(target_id, version, require_aware(at, "at"), expected_current)
        condition = ABSENT if expected_current is None else Condition("equals", "model_version", expected_current)
        try:
            self._items.put(self._names.model_registry, _champion_values(champion), condition)
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

    def set_kill_switch(self, switch: KillSwitch) -> None:
        self._items.put(self._names.state, _kill_values(switch))

    def kill_switch(self, target_id: str) -> KillSwitch | None:
        for sk in ("GLOBAL", f"TARGET#{target_id}"):
            item = self._items.get(self._names.state, "KILL", sk)
            if item is not None and item["engaged"]:
                return _kill_from_values(item)
        return None


# --------------------------------------------------------------------------- record <-> attribute values


def _state_values(state: TargetState) -> dict[str, Any]:
    return {
        "pk": target_pk(state.target_id),
        "sk": "STATE",
        "target_id": state.target_id,
        "sequence": state.sequence,
        "last_desired": state.last_desired,
        "last_safe_capacity": state.last_safe_capacity,
        "last_scale_out_at": _opt_iso(state.last_scale_out_at, "last_scale_out_at"),
        "last_scale_in_at": _opt_iso(state.last_scale_in_at, "last_scale_in_at"),
        "last_decision_id": state.last_decision_id,
        "updated_at": _opt_iso(state.updated_at, "updated_at"),
        "plan_lower_since": _opt_iso(state.plan_lower_since, "plan_lower_since"),
        "executed_sequence": state.executed_sequence,
        "reactive_why": state.reactive_why,
        "decided_forecast_id": state.decided_forecast_id,
        "tracking_above": state.tracking_above,
        "tracking_below": state.tracking_below,
        "tracking_fed_at": _opt_iso(state.tracking_fed_at, "tracking_fed_at"),
        "budget_level": _finite(state.budget_level, "budget_level"),
        "budget_minutes": _finite(state.budget_minutes, "budget_minutes"),
        "budget_under_minutes": _finite(state.budget_under_minutes, "budget_under_minutes"),
        "budget_under_run_minutes": _finite(state.budget_under_run_minutes, "budget_under_run_minutes"),
        "budget_observed_at": _opt_iso(state.budget_observed_at, "budget_observed_at"),
        "budget_reference_pct": _opt_finite(state.budget_reference_pct, "budget_reference_pct"),
        "budget_reference_at": _opt_iso(state.budget_reference_at, "budget_reference_at"),
        "alarm_governs": bool(state.alarm_governs),
    }


def _state_from_values(item: Mapping[str, Any]) -> TargetState:
    return TargetState(
        target_id=item["target_id"],
        sequence=int(item["sequence"]),
        last_desired=item.get("last_desired"),
        last_safe_capacity=item.get("last_safe_capacity"),
        last_scale_out_at=_opt_time(item.get("last_scale_out_at")),
        last_scale_in_at=_opt_time(item.get("last_scale_in_at")),
        last_decision_id=item.get("last_decision_id"),
        updated_at=_opt_time(item.get("updated_at")),
        version=int(item["version"]),
        plan_lower_since=_opt_time(item.get("plan_lower_since")),
        executed_sequence=int(item.get("executed_sequence", 0)),
        reactive_why=item.get("reactive_why"),
        decided_forecast_id=item.get("decided_forecast_id"),
        tracking_above=int(item.get("tracking_above", 0)),
        tracking_below=int(item.get("tracking_below", 0)),
        tracking_fed_at=_opt_time(item.get("tracking_fed_at")),
        budget_level=_finite(item.get("budget_level", 0.0), "budget_level"),
        budget_minutes=_finite(item.get("budget_minutes", 0.0), "budget_minutes"),
        budget_under_minutes=_finite(item.get("budget_under_minutes", 0.0), "budget_under_minutes"),
        budget_under_run_minutes=_finite(item.get("budget_under_run_minutes", 0.0), "budget_under_run_minutes"),
        budget_observed_at=_opt_time(item.get("budget_observed_at")),
        budget_reference_pct=_opt_finite(item.get("budget_reference_pct"), "budget_reference_pct"),
        budget_reference_at=_opt_time(item.get("budget_reference_at")),
        alarm_governs=bool(item.get("alarm_governs", False)),
    )


def _forecast_values(forecast: StoredForecast) -> dict[str, Any]:
    return {
        "pk": target_pk(forecast.target_id),
        "sk": "FORECAST#LATEST",
        "target_id": forecast.target_id,
        "forecast_id": forecast.forecast_id,
        "issued_at": iso(forecast.issued_at),
        "model_version": forecast.model_version,
        "confidence": float(forecast.confidence),
        "history_end": _opt_iso(forecast.history_end, "history_end"),
        "no_forecast_reason": forecast.no_forecast_reason,
        # Empty paths (no forecast) are left out rather than stored as empty binaries.
        "ds": pack_times(forecast.ds) or None,
        "p50": pack_floats(forecast.p50) or None,
        "p90": pack_floats(forecast.p90) or None,
        "p99": pack_floats(forecast.p99) or None,
    }


def _forecast_from_values(item: Mapping[str, Any]) -> StoredForecast:
    return StoredForecast(
        target_id=item["target_id"],
        forecast_id=item["forecast_id"],
        issued_at=parse_iso(item["issued_at"]),
        model_version=item["model_version"],
        confidence=float(item["confidence"]),
        ds=unpack_times(item.get("ds", b"")),
        p50=unpack_floats(item.get("p50", b"")),
        p90=unpack_floats(item.get("p90", b"")),
        p99=unpack_floats(item.get("p99", b"")),
        history_end=_opt_time(item.get("history_end")),
        no_forecast_reason=item.get("no_forecast_reason"),
    )


def _decision_values(decision: ScalingDecided) -> dict[str, Any]:
    return {
        "pk": target_pk(decision.target_id),
        "sk": decision_sk(decision),
        "decision_id": decision.decision_id,
        "at": iso(decision.decided_at),
        "body": decision.model_dump_json(),
    }


def _action_values(action: ScalingAction) -> dict[str, Any]:
    return {
        "pk": target_pk(action.target_id),
        "sk": action_sk(action),
        "decision_id": action.decision_id,
        "outcome": "executed" if isinstance(action, ScalingExecuted) else "failed",
        "at": iso(action_at(action)),
        "body": action.model_dump_json(),
    }


def _event_values(record: StoredBusinessEvent) -> dict[str, Any]:
    return {
        "pk": target_pk(record.target_id),
        "sk": event_sk(record.event_id, record.event),
        "event_id": record.event_id,
        "target_id": record.target_id,
        "event_type": record.event.event_type,
        "start": iso(record.event.start),
        "end": iso(record.event.end),
        "received_at": iso(record.received_at),
        "expires_at": epoch_seconds(record.expires_at),
        "body": record.event.model_dump_json(),
    }


def _event_from_values(item: Mapping[str, Any]) -> StoredBusinessEvent:
    return StoredBusinessEvent(
        event_id=item["event_id"],
        target_id=item["target_id"],
        event=BusinessEvent.model_validate_json(item["body"]),
        received_at=parse_iso(item["received_at"]),
        expires_at=datetime.fromtimestamp(int(item["expires_at"]), UTC),
    )


def _rejected_values(record: RejectedBusinessEvent) -> dict[str, Any]:
    return {
        "pk": "REJECTED",
        "sk": f"{iso(record.received_at)}#{record.event_id}",
        "event_id": record.event_id,
        "received_at": iso(record.received_at),
        "payload": record.payload,
        "errors": list(record.errors),
        "expires_at": None if record.expires_at is None else epoch_seconds(record.expires_at),
    }


def _rejected_from_values(item: Mapping[str, Any]) -> RejectedBusinessEvent:
    expires = item.get("expires_at")
    return RejectedBusinessEvent(
        event_id=item["event_id"],
        received_at=parse_iso(item["received_at"]),
        payload=item["payload"],
        errors=tuple(item.get("errors", [])),
        expires_at=None if expires is None else datetime.fromtimestamp(int(expires), UTC),
    )


def _effect_values(effect: EventEffect) -> dict[str, Any]:
    return {
        "pk": f"EFFECT#{effect.event_type}",
        "sk": f"TARGET#{effect.target_id}",
        "event_type": effect.event_type,
        "target_id": effect.target_id,
        "multiplier": float(effect.multiplier),
        "samples": int(effect.samples),
        "updated_at": iso(effect.updated_at, "updated_at"),
        "extra": {k: float(v) for k, v in effect.extra.items()},
    }


def _effect_from_values(item: Mapping[str, Any]) -> EventEffect:
    return EventEffect(
        event_type=item["event_type"],
        target_id=item["target_id"],
        multiplier=float(item["multiplier"]),
        samples=int(item["samples"]),
        updated_at=parse_iso(item["updated_at"]),
        extra={k: float(v) for k, v in item.get("extra", {}).items()},
        version=int(item["version"]),
    )


def _model_body(model: ModelVersion) -> str:
    return json.dumps(
        {
            "created_at": iso(model.created_at, "created_at"),
            "artifact_uri": model.artifact_uri,
            "scores": {k: float(v) for k, v in model.scores.items()},
            "info": dict(model.info),
        },
        sort_keys=True,
    )


def _model_values(model: ModelVersion) -> dict[str, Any]:
    for name, score in model.scores.items():
        if not math.isfinite(score):
            raise ValueError(f"scores.{name}: must be finite")
    return {
        "pk": target_pk(model.target_id),
        "sk": f"VERSION#{model.version}",
        "target_id": model.target_id,
        "model_version": model.version,
        "body": _model_body(model),
    }


def _model_from_values(item: Mapping[str, Any]) -> ModelVersion:
    body = json.loads(item["body"])
    return ModelVersion(
        target_id=item["target_id"],
        version=item["model_version"],
        created_at=parse_iso(body["created_at"]),
        artifact_uri=body["artifact_uri"],
        scores=body["scores"],
        info=body["info"],
    )


def _champion_values(champion: Champion) -> dict[str, Any]:
    return {
        "pk": target_pk(champion.target_id),
        "sk": "CHAMPION",
        "target_id": champion.target_id,
        "model_version": champion.version,
        "promoted_at": iso(champion.promoted_at),
        "previous_version": champion.previous_version,
    }


def _champion_from_values(item: Mapping[str, Any]) -> Champion:
    return Champion(
        target_id=item["target_id"],
        version=item["model_version"],
        promoted_at=parse_iso(item["promoted_at"]),
        previous_version=item.get("previous_version"),
    )


def _kill_values(switch: KillSwitch) -> dict[str, Any]:
    return {
        "pk": "KILL",
        "sk": "GLOBAL" if switch.target_id is None else f"TARGET#{switch.target_id}",
        "target_id": switch.target_id,
        "engaged": switch.engaged,
        "reason": switch.reason,
        "changed_by": switch.changed_by,
        "changed_at": iso(switch.changed_at, "changed_at"),
    }


def _kill_from_values(item: Mapping[str, Any]) -> KillSwitch:
    return KillSwitch(
        target_id=item.get("target_id"),
        engaged=bool(item["engaged"]),
        reason=item["reason"],
        changed_by=item["changed_by"],
        changed_at=parse_iso(item["changed_at"]),
    )
