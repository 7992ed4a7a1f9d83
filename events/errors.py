"""Turn pydantic validation errors into messages that name the field and the reason; the errors of refused input."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from pydantic import ValidationError

#: A model-level error message that starts by naming the field it concerns, e.g. ``end: must be after start``.
_FIELD_PREFIX = re.compile(r"^([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*): (.*)$", re.DOTALL)


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """One ``{"field": ..., "reason": ...}`` per error; model-level errors carry the field in the text."""
    out: list[dict[str, str]] = []
    for err in exc.errors(include_url=False):
        # a blank key (an unknown field named " ") is shown quoted, so the message still names it
        loc = ".".join(str(part) if str(part).strip() else repr(part) for part in err["loc"])
        reason = str(err["msg"]).removeprefix("Value error, ")
        prefixed = _FIELD_PREFIX.match(reason)
        if prefixed:
            loc = f"{loc}.{prefixed.group(1)}" if loc else prefixed.group(1)
            reason = prefixed.group(2)
        out.append({"field": loc or "(root)", "reason": reason})
    return out


def describe(exc: ValidationError) -> str:
    """A one-line summary such as ``end: must be after start; targets.0: String should match pattern``."""
    return "; ".join(f"{e['field']}: {e['reason']}" for e in field_errors(exc))


class ContractError(ValueError):
    """Raised when input does not satisfy a contract; ``errors`` names every offending field."""

    def __init__(self, what: str, exc: ValidationError) -> None:
        self.errors = field_errors(exc)
        super().__init__(f"invalid {what}: {describe(exc)}")


class RejectedEventError(ValueError):
    """A business event was refused (and kept); ``errors`` lists ``{"field", "reason"}`` pairs."""

    def __init__(self, event_id: str, errors: Sequence[Mapping[str, str]]) -> None:
        self.event_id = event_id
        self.errors = [dict(e) for e in errors]
        text = "; ".join(f"{e['field']}: {e['reason']}" for e in self.errors)
        super().__init__(f"business event {event_id} rejected and kept: {text}")
