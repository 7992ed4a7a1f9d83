"""The decider's S3 audit rows: what a decision's row holds, and how a retried round finds the rows it made.

An invocation writes its decisions' rows as one batch at its end (:meth:`functions.ports.archive.Archive.
write_audit_batch`). Each decision's row is also kept in its target's state, written with the decision, until
the target's next round: a round retried after a crash finds its forecasts decided on already, adds the kept
rows to its own batch (a record written twice is read once), and records and publishes the decisions again (the
decisions table and the executor take the same decision twice as once).
"""

from __future__ import annotations

import json
from typing import Any

from events.contracts import ForecastSummary, ScalingDecided
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


def audit_kept(stored: StoredTargetState, round_id: str) -> dict[str, Any]:
    """The audit row stays in the state through a retry of its round and goes at the next round's write."""
    return {} if stored.audit_round == round_id else {"audit_round": None, "audit_row": None}
