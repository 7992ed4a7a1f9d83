"""The bus port: publishing forescale's events, and the one error a caller handles when some did not go out.

Implemented by :class:`functions.adapters.eventbridge.EventBridgePublisher` (EventBridge, or its in-memory twin).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from events.base import BusEvent
from functions.ports.errors import AdapterError


@dataclass(frozen=True)
class FailedEntry:
    """An event that could not be published, and why."""

    index: int
    source: str
    detail_type: str
    error_code: str
    error_message: str
    attempts: int


class PublishError(AdapterError):
    """Some events were not published after the allowed retries (or failed permanently)."""

    def __init__(self, failures: Sequence[FailedEntry], published_ids: dict[int, str]) -> None:
        self.failures = list(failures)
        self.published_ids = dict(published_ids)
        lines = "; ".join(
            f"events[{f.index}] {f.detail_type} from {f.source}: {f.error_code} {f.error_message} "
            f"(after {f.attempts} attempt{'s' if f.attempts != 1 else ''})"
            for f in self.failures
        )
        super().__init__(f"{len(self.failures)} event(s) not published, {len(self.published_ids)} published: {lines}")


class EventPublisher(Protocol):
    def publish(self, events: Sequence[BusEvent]) -> list[str]:
        """Publish ``events``; returns their EventBridge event ids in order. Raises :class:`PublishError`."""
        ...
