"""EventBridge: publish forescale's bus events in batches, retrying only the entries that failed.

``PutEvents`` takes at most 10 entries (and 256 KiB) per call and may accept some entries while
failing others (``FailedEntryCount`` > 0, the failed entries carry ``ErrorCode``). The publisher
resends only those, a bounded number of times with exponential backoff and full jitter; codes that
no retry can fix (malformed detail, access denied...) are not retried. Whatever still failed is
raised as :class:`PublishError`, which lists each event and the reason, and also says which events
did go out. When the whole call fails (a ``ClientError`` after botocore's own retries, e.g.
throttling or a missing bus), every entry of that call counts as failed with the call's error code
and follows the same rules, so callers only ever handle :class:`PublishError`.

The twin is the same :class:`EventBridgePublisher` over
:class:`forescale_tools.memory.InMemoryEventBus`, which can be told to fail entries.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from botocore.exceptions import ClientError

from events.base import BusEvent, to_put_events_entry
from functions.ports.bus import FailedEntry, PublishError
from functions.ports.errors import AdapterError

MAX_ENTRIES_PER_CALL = 10
MAX_REQUEST_BYTES = 256 * 1024
#: Entry error codes that retrying cannot fix.
PERMANENT_ERROR_CODES = frozenset(
    {
        "MalformedDetail",
        "InvalidArgument",
        "ValidationException",
        "AccessDeniedException",
        "NotAuthorizedForSourceException",
        "NotAuthorizedForDetailTypeException",
        "ResourceNotFoundException",
    }
)


class PutEventsCall(Protocol):
    """The call the publisher makes: an ``events`` client, or :class:`forescale_tools.memory.InMemoryEventBus`.

    Typed loosely so that this module need not import the twin (which imports it).
    """

    def put_events(self, *args: Any, **kwargs: Any) -> Any: ...


def entry_size(entry: dict[str, Any]) -> int:
    """Size of an entry as EventBridge counts it towards the 256 KiB request limit."""
    size = 14 if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(key, "")).encode())
    size += sum(len(str(r).encode()) for r in entry.get("Resources", []))
    return size


def batches(entries: Sequence[dict[str, Any]], indices: Sequence[int]) -> list[list[int]]:
    """Split ``indices`` into batches of at most 10 entries and 256 KiB."""
    out: list[list[int]] = []
    current: list[int] = []
    current_bytes = 0
    for index in indices:
        size = entry_size(entries[index])
        if current and (len(current) == MAX_ENTRIES_PER_CALL or current_bytes + size > MAX_REQUEST_BYTES):
            out.append(current)
            current, current_bytes = [], 0
        current.append(index)
        current_bytes += size
    if current:
        out.append(current)
    return out


class EventBridgePublisher:
    """:class:`functions.ports.bus.EventPublisher` over an injected ``events`` client (or its in-memory twin)."""

    def __init__(
        self,
        client: PutEventsCall,
        *,
        bus_name: str,
        max_attempts: int = 5,
        base_delay: float = 0.1,
        max_delay: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts: must be at least 1")
        self._client = client
        self._bus_name = bus_name
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._sleep = sleep
        self._rng = rng or random.Random()
        #: Number of PutEvents calls made so far (for logs and tests).
        self.calls = 0

    def backoff(self, attempt: int) -> float:
        """Full-jitter delay before retry number ``attempt`` (1-based): uniform in [0, min(max, base·2^(n-1))]."""
        return self._rng.uniform(0, min(self._max_delay, self._base_delay * 2 ** (attempt - 1)))

    def publish(self, events: Sequence[BusEvent]) -> list[str]:
        entries = [to_put_events_entry(event, bus_name=self._bus_name) for event in events]
        published: dict[int, str] = {}
        failed: dict[int, tuple[str, str]] = {}
        tries = dict.fromkeys(range(len(entries)), 0)
        pending = list(range(len(entries)))
        attempt = 0
        while pending and attempt < self._max_attempts:
            if attempt:
                self._sleep(self.backoff(attempt))
            attempt += 1
            retry: list[int] = []
            for batch in batches(entries, pending):
                self.calls += 1
                request: dict[str, Any] = {"Entries": [entries[i] for i in batch]}
                results: list[Any]
                try:
                    response = self._client.put_events(**request)
                    results = list(response.get("Entries", []))
                except ClientError as error:
                    # The whole call failed (after botocore's own retries): every entry of it failed alike.
                    details = error.response.get("Error", {})
                    failure = {"ErrorCode": details.get("Code", "Unknown"), "ErrorMessage": details.get("Message", "")}
                    results = [dict(failure) for _ in batch]
                if len(results) != len(batch):
                    raise AdapterError(f"PutEvents answered {len(results)} entries for {len(batch)} sent")
                for index, result in zip(batch, results, strict=True):
                    tries[index] += 1
                    if result.get("EventId") and not result.get("ErrorCode"):
                        published[index] = result["EventId"]
                        failed.pop(index, None)
                        continue
                    code = result.get("ErrorCode") or "Unknown"
                    failed[index] = (code, result.get("ErrorMessage", ""))
                    if code not in PERMANENT_ERROR_CODES:
                        retry.append(index)
            pending = retry
        if failed:
            raise PublishError(
                [
                    FailedEntry(
                        index=index,
                        source=entries[index]["Source"],
                        detail_type=entries[index]["DetailType"],
                        error_code=code,
                        error_message=message,
                        attempts=tries[index],
                    )
                    for index, (code, message) in sorted(failed.items())
                ],
                published,
            )
        return [published[i] for i in range(len(entries))]
