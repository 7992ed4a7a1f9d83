"""Fixtures of the service tests: handlers and services over the in-memory twins (no endpoint)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from service_support import NOON

from forescale_tools.local_router import MemoryWorld, memory_world
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
    """``memory([targets])``: fresh twins and a container on them (``world.components``), which the
    handlers use until the test ends; ``world.rewire(...)`` changes components."""
    with ExitStack() as stack:

        def make(targets: list[ScalingTarget], **changes: Any) -> MemoryWorld:
            world = memory_world(targets, clock=clock, sink=sink, **changes)
            stack.enter_context(wiring.use(world.components))
            return world

        yield make
