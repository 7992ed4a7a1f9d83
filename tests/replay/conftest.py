from __future__ import annotations

import pytest
from replay_helpers import daily_trace

from functions.domain.trace import Trace


@pytest.fixture
def trace() -> Trace:
    return daily_trace()
