"""The decider's S3 audit rows: what a decision's row holds, and how a retried round finds the rows it made.

An invocation writes its decisions' rows as one batch at its end (:meth:`functions.ports.archive.Archive.
write_audit_batch`). Each decision's row is also kept in its target's state, written with the decision, until
the target's next round: a round retried after a crash finds its forecasts decided on already, adds the kept
rows to its own batch (a record written twice is read once), and records and publishes the decisions again (the
decisions table and the executor take the same decision twice as once).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from events.contracts import ForecastDegraded, ForecastSummary, ScalingDecided, SloBreached
from functions.domain.decision import Decision
from functions.ports.archive import AuditRecord
from functions.ports.records import StoredTargetState


def decision_row(event: ScalingDecided, decision: Decision, summary: ForecastSummary) -> dict[str, Any]:
    """The S3 audit row of a decision: the event plus what only the engine knows (quantile, plan)."""
    return {
        **event.model_dump(mode="json"),
        "record": "decision",
        "forecast_id": summary.forecast_id,
        "in_service": decision.in_service,
        "quantile": decision.quantile,
        "peak_load": decision.peak_load,
        "peak_at": None if decision.peak_at is None else decision.peak_at.isoformat(),
        "plan": [[step.at.isoformat(), step.capacity] for step in decision.plan],
        "executed": decision.execute,
    }


def recovered_audit(stored: StoredTargetState, round_id: str) -> list[AuditRecord]:
    """The audit record of the decision this round made already: a retried round's batch may never have been
    written (a duplicate is read once)."""
    if stored.audit_round != round_id or stored.audit_row is None:
        return []
    row = json.loads(stored.audit_row)
    return [AuditRecord(stored.target_id, str(row["decision_id"]), [row])]


def recovered_event(stored: StoredTargetState, round_id: str) -> ScalingDecided | None:
    """The decision this round made already, as recorded and published: a retried round's crashed attempt may
    have stopped before recording it or before the bus (the executor is idempotent on the decision id)."""
    if stored.audit_round != round_id or stored.audit_row is None:
        return None
    row = json.loads(stored.audit_row)
    return ScalingDecided.model_validate({name: row[name] for name in ScalingDecided.model_fields if name in row})


RoundEvent = SloBreached | ForecastDegraded
_KEPT: dict[str, type[SloBreached] | type[ForecastDegraded]] = {
    "SloBreached": SloBreached,
    "ForecastDegraded": ForecastDegraded,
}


def recovered_events(stored: StoredTargetState, round_id: str) -> list[RoundEvent]:
    """The breach and degraded events this round sent already: a crashed attempt may not have published them."""
    if stored.audit_round != round_id or stored.round_events is None:
        return []
    return [_KEPT[name].model_validate(payload) for name, payload in json.loads(stored.round_events)]


def audit_kept(stored: StoredTargetState, round_id: str) -> dict[str, Any]:
    """The audit row and events stay in the state through a retry of their round and go at the next round's write."""
    return {} if stored.audit_round == round_id else {"audit_round": None, "audit_row": None, "round_events": None}


def round_kept(
    stored: StoredTargetState, round_id: str, *, row: dict[str, Any] | None = None, events: Sequence[RoundEvent] = ()
) -> dict[str, Any]:
    """The state fields that keep this round's decision row and events for a retry of the round."""
    if row is None and not events:
        return audit_kept(stored, round_id)
    same = stored.audit_round == round_id
    return {
        "audit_round": round_id,
        "audit_row": json.dumps(row) if row is not None else (stored.audit_row if same else None),
        "round_events": (
            json.dumps([[type(e).__name__, e.model_dump(mode="json")] for e in events])
            if events
            else (stored.round_events if same else None)
        ),
    }
