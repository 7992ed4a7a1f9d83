"""The decider's forecast records: one per target, replaced by compare-and-swap on a version token.

Implemented by :class:`functions.adapters.tracker_records.S3TrackerRecords` and
:class:`forescale_tools.memory.InMemoryTrackerRecords`; the bytes are :mod:`functions.ports.tracker_codec`'s.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol


class StoredRecord(NamedTuple):
    """A record's bytes and the version token a replacement must name (the object's ETag)."""

    body: bytes
    version: str


class TrackerRecords(Protocol):
    """The decider's forecast records, one per target (S3, or in memory)."""

    def get(self, target_id: str) -> StoredRecord | None:
        """The stored record and its version, None when there is none."""
        ...

    def put(self, target_id: str, body: bytes, expected_version: str | None) -> str:
        """Replace the record if it is still ``expected_version`` (None: if there is none); the new version.

        Raises :class:`ConflictError` when another writer stored (or removed) it since.
        """
        ...
