"""The one base class of every event on the forescale bus.

Each contract owns its EventBridge ``source`` and ``detail-type`` as class variables; these strings
exist nowhere else. Producers build entries with :func:`to_put_events_entry`, consumers parse
envelopes with :func:`parse_envelope`, CDK rules and the local router subscribe with
:func:`event_pattern`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

#: Identifier of a scaling target: what users write in configuration and in business events.
TargetId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$"),
]
#: An identifier minted by the producer from an injected id source (never random inside the domain).
EventId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
Timestamp = AwareDatetime

#: EventBridge refuses entries over 256 KiB; we refuse earlier so the failure names the event.
MAX_DETAIL_BYTES = 256 * 1024 - 2048


class BusEvent(BaseModel):
    """A ``detail`` payload on the forescale bus.

    No number on the bus is infinite or NaN (``allow_inf_nan=False``): JSON has no such numbers, so a stored
    ``Infinity`` would come back as ``null`` and silently change the event's meaning."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False)

    SOURCE: ClassVar[str]
    DETAIL_TYPE: ClassVar[str]

    schema_version: int = Field(default=1, ge=1, le=1, description="Version of this contract.")


E = TypeVar("E", bound=BusEvent)


def event_pattern(contract: type[BusEvent]) -> dict[str, list[str]]:
    """The EventBridge pattern that matches ``contract``: used by CDK rules and the local router alike."""
    return {"source": [contract.SOURCE], "detail-type": [contract.DETAIL_TYPE]}


def matches(pattern: dict[str, list[str]], envelope: dict[str, Any]) -> bool:
    """Whether an EventBridge envelope matches a source/detail-type pattern (the subset we use)."""
    return all(envelope.get(key) in allowed for key, allowed in pattern.items())


def to_put_events_entry(event: BusEvent, *, bus_name: str, time: datetime | None = None) -> dict[str, Any]:
    """One ``PutEvents`` entry for ``event``; raises ``ValueError`` when the detail is too large."""
    detail = event.model_dump_json(by_alias=True)
    if len(detail.encode()) > MAX_DETAIL_BYTES:
        raise ValueError(
            f"{type(event).__name__}: detail is {len(detail.encode())} bytes, over the {MAX_DETAIL_BYTES} limit"
        )
    entry: dict[str, Any] = {
        "Source": event.SOURCE,
        "DetailType": event.DETAIL_TYPE,
        "Detail": detail,
        "EventBusName": bus_name,
    }
    if time is not None:
        entry["Time"] = time
    return entry


def to_envelope(
    event: BusEvent,
    *,
    event_id: str,
    time: datetime,
    account: str = "123456789012",
    region: str = "us-east-1",
) -> dict[str, Any]:
    """The full EventBridge envelope EventBridge would deliver for ``event`` (samples, local router)."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": event.DETAIL_TYPE,
        "source": event.SOURCE,
        "account": account,
        "time": time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": json.loads(event.model_dump_json(by_alias=True)),
    }


def parse_envelope(contract: type[E], envelope: dict[str, Any]) -> E:
    """Parse the ``detail`` of an envelope as ``contract``, checking source and detail-type first."""
    if not matches(event_pattern(contract), envelope):
        raise ValueError(
            f"source/detail-type: expected {contract.SOURCE!r}/{contract.DETAIL_TYPE!r}, "
            f"got {envelope.get('source')!r}/{envelope.get('detail-type')!r}"
        )
    return contract.model_validate(envelope.get("detail"))
