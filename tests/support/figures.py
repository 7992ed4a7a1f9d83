"""Figures the reliability, security and fuzz tests measure, written for the README table.

Each test that measures something records rows through the ``figures`` fixture
(``figures.add("invariants", "executor: capacity within bounds", examples=1, violations=0)``); at the end
of the test they are written as one JSON file under ``$FORESCALE_FIGURES_DIR`` (default
``out/reliability/figures``), named after the test, whether the test passed or not (a failing test
still reports what it counted). ``python -m tests.support.report`` runs the tests and prints the table.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ENV = "FORESCALE_FIGURES_DIR"
TABLES = ("faults", "events", "fuzz", "invariants", "security", "load")


def figures_dir() -> Path:
    return Path(os.environ.get(ENV) or REPO / "out" / "reliability" / "figures")


def merged(old: Any, new: Any) -> Any:
    """Counts add up, lists (names of what was checked) join, other values replace."""
    if old is None:
        return list(new) if isinstance(new, list) else new
    if isinstance(new, list) and isinstance(old, list):
        return [*old, *new]
    if isinstance(new, int | float) and not isinstance(new, bool) and isinstance(old, int | float):
        return old + new
    return new


@dataclass
class Figures:
    """Counts of one test: ``rows[table][name] = {column: value}`` (see :func:`merged`)."""

    test: str
    rows: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, table: str, name: str, **values: Any) -> None:
        if table not in TABLES:
            raise ValueError(f"table: one of {TABLES}")
        with self._lock:
            row = self.rows[table].setdefault(name, {})
            for key, value in values.items():
                row[key] = merged(row.get(key), value)

    def write(self) -> Path | None:
        if not self.rows:
            return None
        directory = figures_dir()
        directory.mkdir(parents=True, exist_ok=True)
        # one test id may record several rows in several runs of its body (schemathesis runs every API
        # operation under one id): the row names tell them apart
        rows = ",".join(f"{table}/{row}" for table in sorted(self.rows) for row in sorted(self.rows[table]))
        name = hashlib.sha1(f"{self.test}|{rows}".encode()).hexdigest()[:16]
        path = directory / f"{name}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"test": self.test, "rows": self.rows}, indent=1, sort_keys=True, default=str))
        tmp.replace(path)
        return path


@contextmanager
def property_run(figures: Figures, invariant: str) -> Iterator[None]:
    """One hypothesis example of a property test: counted as an example, and as a violation when an
    assertion fails (while hypothesis shrinks a failure, every failing example counts)."""
    try:
        yield
    except AssertionError:
        figures.add("invariants", invariant, examples=1, violations=1)
        raise
    figures.add("invariants", invariant, examples=1, violations=0)


def scenario_checks(figures: Figures, invariant: str, checks: dict[str, bool]) -> None:
    """A scenario test's named end-state checks: one example, ``len(checks)`` checks, the failed ones."""
    failed = sorted(name for name, passed in checks.items() if not passed)
    figures.add("invariants", invariant, examples=1, checks=len(checks), violations=len(failed), failed=failed)
