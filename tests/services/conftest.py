"""Fixtures of the service tests: handlers and services over the in-memory twins (no endpoint)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from service_support import NOON

from forescale_tools.local_router import MemoryWorld, configure_memory
from functions import wiring
from functions.domain.clock import FixedClock
from functions.domain.target import ScalingTarget
from functions.services.common import RecordingSink


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOON)


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def memory(clock: FixedClock, sink: RecordingSink) -> Iterator[Any]:
    """``memory([targets])`` wires every handler to fresh twins and returns them."""

    def make(targets: list[ScalingTarget], **settings_changes: Any) -> MemoryWorld:
        return configure_memory(targets, clock=clock, sink=sink, **settings_changes)

    yield make
    wiring.reset()
