"""Business-event intake: validate an announced event, store it for the targets it affects, or reject it.

The forecaster reads the stored events of each target at every forecast (they lift the forecast inside
their window; events with an ``expected_load`` also set a capacity floor in the decider), so the next
forecast after intake uses it. Stored events expire (DynamoDB TTL) 90 days after they end.

A rejected event is never dropped: it is kept in the store with every field and reason
(``put_rejected_event``) and :class:`RejectedEventError` is raised, so Lambda retries it and then keeps
it in the function's dead-letter queue as well. Rejected: a detail that does not satisfy the
``BusinessEvent`` contract (each field named, with the reason: a non-finite or absurd number among them), an
event starting more than ``MAX_EVENT_DAYS`` after now or that ended more than ``MAX_EVENT_AGE_DAYS`` before
now (judged on the injected clock, which a contract does not have), a target id that is not a known target,
a ``tag_selector`` that matches no target.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from pydantic import ValidationError

from events.contracts import MAX_EVENT_AGE_DAYS, MAX_EVENT_DAYS, BusinessEvent
from events.errors import ContractError, RejectedEventError
from functions.domain.clock import Clock
from functions.domain.target import ScalingTarget
from functions.ports.records import RejectedBusinessEvent, StoredBusinessEvent
from functions.ports.state import BusinessEventStore
from functions.services.targets import TargetCatalog

MAX_PAYLOAD_CHARS = 64 * 1024


def affected_targets(event: BusinessEvent, targets: Sequence[ScalingTarget]) -> tuple[list[str], list[dict[str, str]]]:
    """(target ids the event affects, errors): listed ids must exist; a selector must match something."""
    known = {t.target_id for t in targets}
    errors = [
        {"field": f"targets.{i}", "reason": f"{tid!r} is not a configured or discovered target"}
        for i, tid in enumerate(event.targets)
        if tid not in known
    ]
    chosen = [tid for tid in event.targets if tid in known]
    if event.tag_selector:
        matched = [t.target_id for t in targets if all(t.tags.get(k) == v for k, v in event.tag_selector.items())]
        if not matched:
            errors.append({"field": "tag_selector", "reason": "matches no target's tags"})
        chosen += matched
    return list(dict.fromkeys(chosen)), errors


def timing_errors(event: BusinessEvent, now: datetime) -> list[dict[str, str]]:
    """Errors of an event too far ahead (a wrong year, most likely) or so long past that it is of no use."""
    errors = []
    if event.start - now > timedelta(days=MAX_EVENT_DAYS):
        errors.append(
            {
                "field": "start",
                "reason": f"{event.start.isoformat()} is more than {MAX_EVENT_DAYS} days after now "
                f"({now.isoformat()}): announce an event at most {MAX_EVENT_DAYS} days before it starts",
            }
        )
    if now - event.end > timedelta(days=MAX_EVENT_AGE_DAYS):
        errors.append(
            {
                "field": "end",
                "reason": f"{event.end.isoformat()} is more than {MAX_EVENT_AGE_DAYS} days before now "
                f"({now.isoformat()}): stored events are kept {MAX_EVENT_AGE_DAYS} days after their end",
            }
        )
    return errors


@dataclass
class IntakeService:
    catalog: TargetCatalog
    store: BusinessEventStore
    clock: Clock

    def accept(self, event_id: str, detail: Any, *, received_at: datetime) -> list[StoredBusinessEvent]:
        """Store a valid event for each affected target; otherwise keep it as rejected and raise."""
        try:
            event = BusinessEvent.model_validate(detail)
        except ValidationError as error:
            contract = ContractError("business event", error)
            self._reject(event_id, detail, contract.errors, received_at)
        errors = timing_errors(event, self.clock.now())
        target_ids, target_errors = affected_targets(event, self.catalog.targets())
        errors += target_errors
        if errors:
            self._reject(event_id, detail, errors, received_at)
        return self.store.put_business_event(event_id, event, target_ids, received_at=received_at)

    def _reject(
        self, event_id: str, detail: Any, errors: Sequence[Mapping[str, str]], received_at: datetime
    ) -> NoReturn:
        payload = json.dumps(detail, sort_keys=True, default=str)
        if len(payload) > MAX_PAYLOAD_CHARS:
            payload = payload[:MAX_PAYLOAD_CHARS] + "…(truncated)"
        self.store.put_rejected_event(
            RejectedBusinessEvent(
                event_id=event_id,
                received_at=received_at,
                payload=payload,
                errors=tuple(f"{e['field']}: {e['reason']}" for e in errors),
            )
        )
        raise RejectedEventError(event_id, errors)
