"""Fixtures of the end-to-end tests (helpers live in ``e2e_support``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from e2e_support import Pipeline, running_pipeline


@pytest.fixture
def pipeline(moto_endpoint: str, unique_name: Callable[[str], str]) -> Iterator[Pipeline]:
    with running_pipeline(moto_endpoint, unique_name("e2e")) as running:
        yield running
