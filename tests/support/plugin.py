"""Fixtures shared by tests/reliability, tests/security and tests/fuzz (each conftest imports them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.figures import Figures


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[Figures]:
    """Rows this test measured; written when the test ends (passed or failed)."""
    recorded = Figures(request.node.nodeid)
    yield recorded
    recorded.write()
