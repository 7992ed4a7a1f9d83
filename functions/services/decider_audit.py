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
from dataclasses import dataclass, field
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


RoundEvent = SloBreached | ForecastDegraded
_KEPT: dict[str, type[SloBreached] | type[ForecastDegraded]] = {
    "SloBreached": SloBreached,
    "ForecastDegraded": ForecastDegraded,
}


@dataclass(frozen=True)
class KeptRound:
    """What a round kept in the target's state: its decision's audit record and event, and its other events."""

    audit: list[AuditRecord] = field(default_factory=list)
    decision: ScalingDecided | None = None
    events: list[RoundEvent] = field(default_factory=list)


def kept_round(stored: StoredTargetState, round_id: str) -> KeptRound:
    """What round ``round_id`` made already, to write, record and publish again: a retried round's crashed attempt
    may have stopped before its audit batch, ``record_decision`` or the bus (a record written twice is read once;
    the executor is idempotent on the decision)."""
    if stored.audit_round != round_id:
        return KeptRound()
    events = [_KEPT[name].model_validate(payload) for name, payload in json.loads(stored.round_events or "[]")]
    if stored.audit_row is None:
        return KeptRound(events=events)
    row = json.loads(stored.audit_row)
    decision = ScalingDecided.model_validate({name: row[name] for name in ScalingDecided.model_fields if name in row})
    return KeptRound([AuditRecord(stored.target_id, decision.decision_id, [row])], decision, events)


def round_kept(
    stored: StoredTargetState, round_id: str, *, row: dict[str, Any] | None = None, events: Sequence[RoundEvent] = ()
) -> dict[str, Any]:
    """The state fields that keep this round's decision row and events for a retry of the round."""
    same = stored.audit_round == round_id
    if row is None and not events:  # kept through a retry of the round, dropped at the next round's write
        return {} if same else {"audit_round": None, "audit_row": None, "round_events": None}
    return {
        "audit_round": round_id,
        "audit_row": json.dumps(row) if row is not None else (stored.audit_row if same else None),
        "round_events": (
            json.dumps([[type(e).__name__, e.model_dump(mode="json")] for e in events])
            if events
            else (stored.round_events if same else None)
        ),
    }
