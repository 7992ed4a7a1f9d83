"""The item of each record: its keys and its attribute values (plain Python, encoded by
:mod:`functions.adapters.dynamodb_codec`), both ways.

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

A forecast is stored compactly: the timestamps as int64 epoch seconds and the three quantile paths as
float64, each one binary attribute.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from events.contracts import MAX_EVENT_DAYS, BusinessEvent, ScalingDecided, ScalingExecuted, ScalingFailed
from functions.adapters._timefmt import epoch_seconds, iso, parse_iso, require_aware
from functions.adapters.dynamodb_codec import (
    finite,
    optional_finite,
    optional_iso,
    optional_time,
    pack_floats,
    pack_text,
    pack_times,
    unpack_floats,
    unpack_text,
    unpack_times,
)
from functions.ports.records import (
    Champion,
    EventEffect,
    KillSwitch,
    LearnedCapacity,
    ModelVersion,
    RejectedBusinessEvent,
    StoredBusinessEvent,
    StoredForecast,
    StoredTargetState,
)

if TYPE_CHECKING:
    from functions.ports.records import ScalingOutcome

# --------------------------------------------------------------------------- keys (shared with the twin)


def target_pk(target_id: str) -> str:
    return f"TARGET#{target_id}"


def decision_sk(decision: ScalingDecided) -> str:
    return decision_key(decision.decided_at, decision.decision_id)


def decision_key(decided_at: datetime, decision_id: str) -> str:
    return f"DECISION#{iso(decided_at, 'decided_at')}#{decision_id}"


def action_at(action: ScalingOutcome) -> datetime:
    return action.executed_at if isinstance(action, ScalingExecuted) else action.failed_at


def action_sk(action: ScalingOutcome) -> str:
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


def action_from_json(body: str) -> ScalingOutcome:
    payload = json.loads(body)
    if "failed_at" in payload:
        return ScalingFailed.model_validate(payload)
    return ScalingExecuted.model_validate(payload)


# --------------------------------------------------------------------------- record <-> attribute values


def state_values(state: StoredTargetState) -> dict[str, Any]:
    return {
        "pk": target_pk(state.target_id),
        "sk": "STATE",
        "target_id": state.target_id,
        "sequence": state.sequence,
        "last_desired": state.last_desired,
        "last_safe_capacity": state.last_safe_capacity,
        "last_scale_out_at": optional_iso(state.last_scale_out_at, "last_scale_out_at"),
        "last_scale_in_at": optional_iso(state.last_scale_in_at, "last_scale_in_at"),
        "last_decision_id": state.last_decision_id,
        "updated_at": optional_iso(state.updated_at, "updated_at"),
        "plan_lower_since": optional_iso(state.plan_lower_since, "plan_lower_since"),
        "executed_sequence": state.executed_sequence,
        "reactive_why": state.reactive_why,
        "decided_forecast_id": state.decided_forecast_id,
        "tracking_above": state.tracking_above,
        "tracking_below": state.tracking_below,
        "tracking_fed_at": optional_iso(state.tracking_fed_at, "tracking_fed_at"),
        "budget_level": finite(state.budget_level, "budget_level"),
        "budget_minutes": finite(state.budget_minutes, "budget_minutes"),
        "budget_under_minutes": finite(state.budget_under_minutes, "budget_under_minutes"),
        "budget_under_run_minutes": finite(state.budget_under_run_minutes, "budget_under_run_minutes"),
        "budget_observed_at": optional_iso(state.budget_observed_at, "budget_observed_at"),
        "budget_reference_pct": optional_finite(state.budget_reference_pct, "budget_reference_pct"),
        "budget_reference_at": optional_iso(state.budget_reference_at, "budget_reference_at"),
        "alarm_governs": bool(state.alarm_governs),
        # NaN (a period without data) has no DynamoDB number: stored as null
        "slo_recent": [None if math.isnan(v) else finite(v, "slo_recent") for v in state.slo_recent],
        "slo_breached": bool(state.slo_breached),
        "slo_fed_at": optional_iso(state.slo_fed_at, "slo_fed_at"),
        "forecast_degraded": bool(state.forecast_degraded),
        "audit_round": state.audit_round,
        # compressed (a decision row with its plan is ~2.8 KB of JSON, ~0.7 KB so): write units go by the KB
        "audit_row": None if state.audit_row is None else pack_text(state.audit_row),
        "round_events": None if state.round_events is None else pack_text(state.round_events),
    }


def state_from_values(item: Mapping[str, Any]) -> StoredTargetState:
    return StoredTargetState(
        target_id=item["target_id"],
        sequence=int(item["sequence"]),
        last_desired=item.get("last_desired"),
        last_safe_capacity=item.get("last_safe_capacity"),
        last_scale_out_at=optional_time(item.get("last_scale_out_at")),
        last_scale_in_at=optional_time(item.get("last_scale_in_at")),
        last_decision_id=item.get("last_decision_id"),
        updated_at=optional_time(item.get("updated_at")),
        version=int(item["version"]),
        plan_lower_since=optional_time(item.get("plan_lower_since")),
        executed_sequence=int(item.get("executed_sequence", 0)),
        reactive_why=item.get("reactive_why"),
        decided_forecast_id=item.get("decided_forecast_id"),
        tracking_above=int(item.get("tracking_above", 0)),
        tracking_below=int(item.get("tracking_below", 0)),
        tracking_fed_at=optional_time(item.get("tracking_fed_at")),
        budget_level=finite(item.get("budget_level", 0.0), "budget_level"),
        budget_minutes=finite(item.get("budget_minutes", 0.0), "budget_minutes"),
        budget_under_minutes=finite(item.get("budget_under_minutes", 0.0), "budget_under_minutes"),
        budget_under_run_minutes=finite(item.get("budget_under_run_minutes", 0.0), "budget_under_run_minutes"),
        budget_observed_at=optional_time(item.get("budget_observed_at")),
        budget_reference_pct=optional_finite(item.get("budget_reference_pct"), "budget_reference_pct"),
        budget_reference_at=optional_time(item.get("budget_reference_at")),
        alarm_governs=bool(item.get("alarm_governs", False)),
        slo_recent=tuple(math.nan if v is None else finite(v, "slo_recent") for v in item.get("slo_recent", [])),
        slo_breached=bool(item.get("slo_breached", False)),
        slo_fed_at=optional_time(item.get("slo_fed_at")),
        forecast_degraded=bool(item.get("forecast_degraded", False)),
        audit_round=item.get("audit_round"),
        audit_row=None if item.get("audit_row") is None else unpack_text(item["audit_row"]),
        round_events=None if item.get("round_events") is None else unpack_text(item["round_events"]),
    )


def forecast_values(forecast: StoredForecast) -> dict[str, Any]:
    return {
        "pk": target_pk(forecast.target_id),
        "sk": "FORECAST#LATEST",
        "target_id": forecast.target_id,
        "forecast_id": forecast.forecast_id,
        "issued_at": iso(forecast.issued_at),
        "model_version": forecast.model_version,
        "confidence": float(forecast.confidence),
        "history_end": optional_iso(forecast.history_end, "history_end"),
        "no_forecast_reason": forecast.no_forecast_reason,
        # Empty paths (no forecast) are left out rather than stored as empty binaries.
        "ds": pack_times(forecast.ds) or None,
        "p50": pack_floats(forecast.p50) or None,
        "p90": pack_floats(forecast.p90) or None,
        "p99": pack_floats(forecast.p99) or None,
    }


def forecast_from_values(item: Mapping[str, Any]) -> StoredForecast:
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
        history_end=optional_time(item.get("history_end")),
        no_forecast_reason=item.get("no_forecast_reason"),
    )


def decision_values(decision: ScalingDecided) -> dict[str, Any]:
    return {
        "pk": target_pk(decision.target_id),
        "sk": decision_sk(decision),
        "decision_id": decision.decision_id,
        "at": iso(decision.decided_at),
        "body": decision.model_dump_json(),
    }


def action_values(action: ScalingOutcome) -> dict[str, Any]:
    return {
        "pk": target_pk(action.target_id),
        "sk": action_sk(action),
        "decision_id": action.decision_id,
        "outcome": "executed" if isinstance(action, ScalingExecuted) else "failed",
        "at": iso(action_at(action)),
        "body": action.model_dump_json(),
    }


def event_values(record: StoredBusinessEvent) -> dict[str, Any]:
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


def event_from_values(item: Mapping[str, Any]) -> StoredBusinessEvent:
    return StoredBusinessEvent(
        event_id=item["event_id"],
        target_id=item["target_id"],
        event=BusinessEvent.model_validate_json(item["body"]),
        received_at=parse_iso(item["received_at"]),
        expires_at=datetime.fromtimestamp(int(item["expires_at"]), UTC),
    )


def rejected_values(record: RejectedBusinessEvent) -> dict[str, Any]:
    return {
        "pk": "REJECTED",
        "sk": f"{iso(record.received_at)}#{record.event_id}",
        "event_id": record.event_id,
        "received_at": iso(record.received_at),
        "payload": record.payload,
        "errors": list(record.errors),
        "expires_at": None if record.expires_at is None else epoch_seconds(record.expires_at),
    }


def rejected_from_values(item: Mapping[str, Any]) -> RejectedBusinessEvent:
    expires = item.get("expires_at")
    return RejectedBusinessEvent(
        event_id=item["event_id"],
        received_at=parse_iso(item["received_at"]),
        payload=item["payload"],
        errors=tuple(item.get("errors", [])),
        expires_at=None if expires is None else datetime.fromtimestamp(int(expires), UTC),
    )


def effect_values(effect: EventEffect) -> dict[str, Any]:
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


def effect_from_values(item: Mapping[str, Any]) -> EventEffect:
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


def model_values(model: ModelVersion) -> dict[str, Any]:
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


def model_from_values(item: Mapping[str, Any]) -> ModelVersion:
    body = json.loads(item["body"])
    return ModelVersion(
        target_id=item["target_id"],
        version=item["model_version"],
        created_at=parse_iso(body["created_at"]),
        artifact_uri=body["artifact_uri"],
        scores=body["scores"],
        info=body["info"],
    )


def champion_values(champion: Champion) -> dict[str, Any]:
    return {
        "pk": target_pk(champion.target_id),
        "sk": "CHAMPION",
        "target_id": champion.target_id,
        "model_version": champion.version,
        "promoted_at": iso(champion.promoted_at),
        "previous_version": champion.previous_version,
    }


def champion_from_values(item: Mapping[str, Any]) -> Champion:
    return Champion(
        target_id=item["target_id"],
        version=item["model_version"],
        promoted_at=parse_iso(item["promoted_at"]),
        previous_version=item.get("previous_version"),
    )


def kill_values(switch: KillSwitch) -> dict[str, Any]:
    return {
        "pk": "KILL",
        "sk": "GLOBAL" if switch.target_id is None else f"TARGET#{switch.target_id}",
        "target_id": switch.target_id,
        "engaged": switch.engaged,
        "reason": switch.reason,
        "changed_by": switch.changed_by,
        "changed_at": iso(switch.changed_at, "changed_at"),
    }


def kill_from_values(item: Mapping[str, Any]) -> KillSwitch:
    return KillSwitch(
        target_id=item.get("target_id"),
        engaged=bool(item["engaged"]),
        reason=item["reason"],
        changed_by=item["changed_by"],
        changed_at=parse_iso(item["changed_at"]),
    )


def learned_capacity_values(learned: LearnedCapacity) -> dict[str, Any]:
    value = learned.capacity_per_instance
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ValueError("capacity_per_instance: a learned capacity is finite and positive")
    if value is None and not learned.reason:
        raise ValueError("reason: say why nothing is learned when capacity_per_instance is None")
    return {
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


def learned_capacity_from_values(item: Mapping[str, Any]) -> LearnedCapacity:
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
