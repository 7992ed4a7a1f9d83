"""Asynchronous Lambda invocation: how the collector fans a large round out over copies of itself."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: Lambda refuses asynchronous payloads over 256 KiB (1 MiB since 2025; we keep the old bound).
MAX_ASYNC_PAYLOAD_BYTES = 256 * 1024


class LambdaInvoker:
    """:class:`functions.ports.invoke.Invoker` over an injected ``lambda`` client (``InvocationType="Event"``)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def invoke_async(self, function: str, payload: Mapping[str, Any]) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        if len(body) > MAX_ASYNC_PAYLOAD_BYTES:
            raise ValueError(f"payload: {len(body)} bytes, over the {MAX_ASYNC_PAYLOAD_BYTES} asynchronous limit")
        response = self._client.invoke(FunctionName=function, InvocationType="Event", Payload=body)
        status = int(response.get("StatusCode", 0))
        if status != 202:
            raise RuntimeError(f"invoke {function}: asynchronous invocation answered {status}, expected 202")
