"""Generate ``events/schemas/<DetailType>.json`` from the contracts: ``python -m events.schema_gen``.

A test regenerates them in memory and fails when the committed files drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from events.base import BusEvent
from events.contracts import ALL_CONTRACTS

SCHEMA_DIR = Path(__file__).parent / "schemas"
SAMPLE_DIR = Path(__file__).parent / "samples"


def schema_for(contract: type[BusEvent]) -> dict[str, Any]:
    schema = contract.model_json_schema(mode="validation")
    schema["$id"] = f"https://forescale.dev/schemas/{contract.DETAIL_TYPE}.json"
    schema["x-eventbridge"] = {"source": contract.SOURCE, "detail-type": contract.DETAIL_TYPE}
    return schema


def render(contract: type[BusEvent]) -> str:
    return json.dumps(schema_for(contract), indent=2, sort_keys=True) + "\n"


def schema_path(contract: type[BusEvent]) -> Path:
    return SCHEMA_DIR / f"{contract.DETAIL_TYPE}.json"


def sample_path(contract: type[BusEvent]) -> Path:
    return SAMPLE_DIR / f"{contract.DETAIL_TYPE}.json"


def main() -> None:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for contract in ALL_CONTRACTS:
        schema_path(contract).write_text(render(contract))
        print(f"wrote {schema_path(contract)}")


if __name__ == "__main__":
    main()


def load_sample(contract: type[BusEvent]) -> dict[str, Any]:
    """The sample EventBridge envelope of ``contract`` from ``events/samples``."""
    loaded: dict[str, Any] = json.loads(sample_path(contract).read_text())
    return loaded
