"""Reading a target's audit trail fetches its many small objects concurrently, in order."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from forescale_tools.memory import InMemoryObjects
from functions.adapters.s3 import S3Store

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@dataclass
class TwoAtATime:
    """Objects whose GET returns only once a second GET is in flight (a sequential reader never gets there)."""

    inner: InMemoryObjects
    barrier: threading.Barrier = field(default_factory=lambda: threading.Barrier(2, timeout=5))

    def put_new(self, key: str, body: bytes, *, content_type: str = "application/octet-stream") -> None:
        self.inner.put_new(key, body, content_type=content_type)

    def get(self, key: str) -> bytes:
        self.barrier.wait()
        return self.inner.get(key)

    def list_keys(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        return self.inner.list_keys(prefix, start_after=start_after)

    def uri(self, key: str) -> str:
        return self.inner.uri(key)


def test_audit_records_are_fetched_concurrently_and_returned_in_time_order():
    # GIVEN twelve audit records of one target, in an object store that serves GETs only two at a time
    audit = InMemoryObjects()
    writer = S3Store(InMemoryObjects(), audit=audit)
    for minute in range(12):
        writer.write_audit("web", f"decision-{11 - minute:02d}", T0 + timedelta(minutes=minute), [{"n": minute}])
    reader = S3Store(InMemoryObjects(), audit=TwoAtATime(audit))
    # WHEN the trail of the hour is read
    trail = reader.read_audit("web", T0, T0 + timedelta(hours=1))
    # THEN every record came back (no GET waited alone on the barrier), sorted by time
    assert list(trail["n"]) == list(range(12))
