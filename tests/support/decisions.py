"""Decisions recorded as the decider records them, for tests that hand a ``ScalingDecided`` to the executor.

The executor carries out only a decision the decider recorded (same key, same content) and only the
newest of its target: :func:`record` stores each decision in the audit table and numbers the target's
state up to its sequence, as the decider does before it publishes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from events.contracts import ScalingDecided
from functions.adapters.errors import ConflictError


def record(store: Any, *decisions: ScalingDecided) -> None:
    """Record ``decisions`` in ``store`` (a :class:`~functions.adapters.dynamodb.StateStore`), in order."""
    for decision in decisions:
        store.record_decision(decision)
        for _ in range(5):
            state = store.get_target_state(decision.target_id)
            if state.sequence >= decision.sequence:
                break
            try:
                store.put_target_state(replace(state, sequence=decision.sequence))
                break
            except ConflictError:
                continue
        else:
            raise ConflictError("target state", decision.target_id, "still changing after 5 attempts")
