"""``events/samples/put-events-business-event.json``: a business event ready for ``aws events put-events``.

Built from the BusinessEvent contract's sample through :func:`events.base.to_put_events_entry`, addressed
to the bus of the default deployment. Regenerate with ``python -m infra_cdk.samples``; a test fails when
the committed file drifts from the contract.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from events.base import to_put_events_entry
from events.contracts import BusinessEvent
from events.schema_gen import SAMPLE_DIR, load_sample
from infra_cdk.names import default_bus_name, stateful_stack_name

PUT_EVENTS_SAMPLE = SAMPLE_DIR / "put-events-business-event.json"


def business_event_entries(bus_name: str) -> list[dict[str, Any]]:
    """The ``--entries`` list: one ``PutEvents`` entry carrying the contract's sample business event."""
    event = BusinessEvent.model_validate(load_sample(BusinessEvent)["detail"])
    return [to_put_events_entry(event, bus_name=bus_name)]


def render(bus_name: str | None = None) -> str:
    entries = business_event_entries(bus_name or default_bus_name(stateful_stack_name()))
    return json.dumps(entries, indent=2) + "\n"


def main(path: Path = PUT_EVENTS_SAMPLE) -> None:
    path.write_text(render())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
