"""Injected time and id sources: the domain never reads the wall clock or mints random ids itself."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass
class FixedClock:
    """A clock the caller moves: used by the replay and by tests."""

    current: datetime

    def __post_init__(self) -> None:
        if self.current.tzinfo is None:
            raise ValueError("current: the clock needs a timezone-aware datetime")

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> datetime:
        self.current = self.current + delta
        return self.current


@dataclass
class SystemClock:
    """The wall clock, in UTC; only wiring modules build one."""

    source: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self.source()


class IdSource(Protocol):
    def new_id(self, prefix: str) -> str: ...


@dataclass
class SequentialIds:
    """Deterministic ids ``<prefix>-000001``, ... for the replay and tests."""

    _counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._counter):06d}"
