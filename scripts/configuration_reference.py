"""Write docs/configuration.md, the reference of a target's configuration, from the pydantic models themselves.

    .venv/bin/python scripts/configuration_reference.py          # rewrite docs/configuration.md
    .venv/bin/python scripts/configuration_reference.py --check  # exit 1 if it is out of date

A test runs the check, so the reference cannot drift from ``functions/domain/target.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from functions.domain.target import CostModel, LoadMetric, ScalingTarget, SloBudget

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
MODELS: tuple[type[BaseModel], ...] = (ScalingTarget, LoadMetric, CostModel, SloBudget)
_BOUNDS = (
    ("ge", ">="),
    ("gt", ">"),
    ("le", "<="),
    ("lt", "<"),
    ("min_length", "length >="),
    ("max_length", "length <="),
)

HEADER = """# Target configuration reference

Generated from `functions/domain/target.py` by `scripts/configuration_reference.py`; do not edit by hand.

A target is a JSON object in the list `forescale:targets` of `cdk.json`.
Every field is read strictly: an unknown field, a value of the wrong JSON type (`true` or `"1200"` where a
number is due), a number that is not finite or outside its bounds is refused with a message naming the
field. Groups and services found by tag discovery are the exception: their tag values are text, and numbers
are read from it.
"""


def _type(annotation: Any) -> str:
    """``number``, ``'auto' or number or null``: the JSON a user writes."""
    if annotation is type(None):
        return "null"
    if get_origin(annotation) is Literal:
        return " or ".join(repr(value) for value in get_args(annotation))
    if get_origin(annotation) in (Union, UnionType):
        return " or ".join(_type(part) for part in get_args(annotation))
    if get_origin(annotation) is dict:
        return "object of strings"
    if get_origin(annotation) is Annotated:
        return _type(get_args(annotation)[0])
    names = {int: "integer", float: "number", str: "string", bool: "boolean"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()
        return f"see {type(value).__name__}" if isinstance(value, BaseModel) else f"`{value!r}`"
    return "`null`" if field.default is None else f"`{field.default!r}`"


def _bounds(field: Any) -> str:
    found = []
    for item in field.metadata:
        for attribute, sign in _BOUNDS:
            value = getattr(item, attribute, None)
            if value is not None:
                found.append(f"{sign} {value:g}" if isinstance(value, float) else f"{sign} {value}")
    return ", ".join(found)


def render() -> str:
    parts = [HEADER]
    for model in MODELS:
        doc = (model.__doc__ or "").strip().splitlines()[0]
        parts.append(f"\n## {model.__name__}\n\n{doc}\n")
        parts.append("| field | type | default | bounds | meaning |\n|---|---|---|---|---|")
        for name, field in model.model_fields.items():
            meaning = (field.description or "").replace("|", "\\|")
            parts.append(f"| `{name}` | {_type(field.annotation)} | {_default(field)} | {_bounds(field)} | {meaning} |")
    return "\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC} is out of date: run python scripts/configuration_reference.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
