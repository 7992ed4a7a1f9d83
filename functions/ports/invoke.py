"""The invocation port: how the collector fans a large round out over copies of itself.

Implemented by :class:`functions.adapters.invoke.LambdaInvoker`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Invoker(Protocol):
    def invoke_async(self, function: str, payload: Mapping[str, Any]) -> None:
        """Queue one asynchronous invocation of ``function`` (name or ARN) with ``payload``."""
        ...
