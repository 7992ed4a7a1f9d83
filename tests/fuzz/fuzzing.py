"""Strategies and verdicts shared by the fuzz tests.

An input is either accepted, or rejected with an error that names the field (or line) and the reason.
Anything else — another exception, a rejection that names nothing — is a crash.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from pydantic import ValidationError

from events.errors import field_errors

SAMPLES = Path(__file__).resolve().parents[2] / "events" / "samples"
#: ``field: reason`` (a field path of letters, digits, dots, brackets; the reason non-empty)
FIELD_AND_REASON = re.compile(r"^[A-Za-z_][\w./\[\]-]*: \S.*", re.DOTALL)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["", " ", "null", "2026-03-10T12:00:00Z", "2026-03-10", "NaN", "-1", "1e999", "learn", "asg"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
#: values far larger than any field allows (EventBridge caps an event at 256 KiB before a function sees it);
#: built afresh for each use, never edited further
huge_values = st.sampled_from(
    [
        lambda: "x" * 300_000,
        lambda: ["web"] * 20_000,
        lambda: {str(i): i for i in range(5_000)},
        lambda: 10**400,
    ]
).map(lambda make: make())
#: containers larger than this are not edited inside (the huge values above)
MAX_EDITED = 100


def sample(detail_type: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SAMPLES / f"{detail_type}.json").read_text())
    return document


def _slots(value: Any, out: list[tuple[Any, Any]]) -> None:
    if isinstance(value, dict | list) and len(value) > MAX_EDITED:
        return
    if isinstance(value, dict):
        for key in list(value):
            out.append((value, key))
            _slots(value[key], out)
    elif isinstance(value, list):
        for index in range(len(value)):
            out.append((value, index))
            _slots(value[index], out)


@st.composite
def mutated(draw: Any, base: Any, *, max_mutations: int = 4) -> Any:
    """``base`` with 1-4 random edits: a key removed, a value replaced (by anything, or something huge),
    an unknown key added."""
    document = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, max_mutations))):
        slots: list[tuple[Any, Any]] = []
        _slots(document, slots)
        if not slots:
            return draw(json_values)
        container, key = draw(st.sampled_from(slots))
        operation = draw(st.sampled_from(["delete", "replace", "replace", "add", "huge"]))
        if key not in (container if isinstance(container, dict) else range(len(container))):
            continue
        if operation == "delete":
            del container[key]
        elif operation == "replace":
            container[key] = draw(json_values)
        elif operation == "huge":
            container[key] = draw(huge_values)
        elif isinstance(container, dict):
            container[draw(st.text(min_size=1, max_size=10))] = draw(json_values)
        else:
            container.append(draw(json_values))
    return document


def named_rejection(error: BaseException) -> bool:
    """The rejection names each offending field and the reason."""
    if isinstance(error, ValidationError):
        errors = field_errors(error)
        return bool(errors) and all(e["field"].strip() and e["reason"].strip() for e in errors)
    listed = getattr(error, "errors", None)
    if isinstance(listed, list) and listed:
        return all(str(e.get("field", "")).strip() and str(e.get("reason", "")).strip() for e in listed)
    return bool(FIELD_AND_REASON.match(str(error)))


def _timestamp(text: str) -> bool:
    return bool(re.match(r"^\d{4}-\d{2}-\d{2}T", text))


def _same_kind(value: Any) -> st.SearchStrategy[Any]:
    """Another value of the JSON kind of ``value``, extremes included (what still passes a type check)."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(min_value=-(2**63), max_value=2**63) | st.sampled_from([0, 1, -1, value + 1, 2**31])
    if isinstance(value, float):
        return st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0.0, 1e-300, 1e15, 1e300])
    if isinstance(value, str) and _timestamp(value):
        moments = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))
        return moments.map(lambda moment: moment.isoformat()) | st.sampled_from([value, value[:10]])
    if isinstance(value, str):
        return st.text(max_size=20) | st.just(value)
    if value is None:
        return st.none() | st.integers(0, 10**6) | st.floats(0, 1e18)
    return st.just(value)


@st.composite
def retyped(draw: Any, base: Any, *, max_edits: int = 3) -> Any:
    """``base`` with 1-3 leaf values replaced by others of the same JSON kind (extreme numbers, far or near
    timestamps): inputs that mostly pass parsing and reach the engine behind it."""
    document = copy.deepcopy(base)
    slots: list[tuple[Any, Any]] = []
    _slots(document, slots)
    leaves = [(c, k) for c, k in slots if not isinstance(c[k], dict | list)]
    for _ in range(draw(st.integers(1, max_edits))):
        container, key = draw(st.sampled_from(leaves))
        container[key] = draw(_same_kind(container[key]))
    return document
