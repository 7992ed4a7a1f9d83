"""The operator API as callers reach it: Lambda function URL requests (payload 2.0), in process or over WSGI.

:func:`url_event` builds the request Lambda hands to the function; :func:`call` invokes the real
handler; :class:`FunctionUrlWsgi` is a tiny WSGI application that turns each HTTP request into such an
event and the handler's answer back into HTTP, so that tools speaking HTTP (schemathesis) test the
real handler with no network.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from forescale_tools.local_router import LambdaContext

#: Lambda refuses function URL request payloads over 6 MB; the shim does too.
MAX_REQUEST_BYTES = 6 * 1024 * 1024


def url_event(
    method: str,
    path: str,
    *,
    query: str = "",
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Lambda function URL request (payload format 2.0)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    encoded = isinstance(body, bytes)
    text = base64.b64encode(body).decode() if isinstance(body, bytes) else body
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "queryStringParameters": {k: v for k, v in pairs} or None,
        "headers": {"content-type": "application/json", "host": "abc.lambda-url.us-east-1.on.aws", **(headers or {})},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "authorizer": {"iam": {"accessKey": "AKIDEXAMPLE", "accountId": "123456789012", "userArn": "operator"}},
            "domainName": "abc.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "10/Mar/2026:12:00:00 +0000",
            "timeEpoch": 1773144000000,
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


def call(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """Invoke the real API handler; ``(status, decoded JSON body or None)``."""
    from functions.handlers import api

    context: Any = LambdaContext("api", "req-1")
    response = api.handler(url_event(method, path, **kwargs), context)
    body = response.get("body")
    return int(response["statusCode"]), json.loads(body) if body else None


class FunctionUrlWsgi:
    """WSGI in front of a Lambda function URL handler. An exception the handler raises becomes a 502,
    as Lambda answers a failed function URL invocation."""

    def __init__(self, handler: Callable[[dict[str, Any], Any], dict[str, Any]]) -> None:
        self.handler = handler
        #: every handler exception, for the test to inspect
        self.crashes: list[BaseException] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_REQUEST_BYTES:
            start_response("413 Payload Too Large", [("Content-Type", "application/json")])
            return [b'{"message": "Request must be smaller than 6291456 bytes"}']
        raw = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        try:
            body: str | bytes | None = raw.decode() if raw else None
        except UnicodeDecodeError:
            body = raw
        event = url_event(
            environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/", query=environ.get("QUERY_STRING", ""),
            body=body, headers=headers,
        )  # fmt: skip
        try:
            response = self.handler(event, LambdaContext("api", "req-wsgi"))
        except Exception as error:  # Lambda answers 502 when the function fails
            self.crashes.append(error)
            start_response("502 Bad Gateway", [("Content-Type", "application/json")])
            return [b'{"message": "Internal Server Error"}']
        out = response.get("body") or ""
        data = base64.b64decode(out) if response.get("isBase64Encoded") else out.encode()
        status = int(response["statusCode"])
        reply_headers = [(k, str(v)) for k, v in (response.get("headers") or {}).items()]
        start_response(f"{status} {'OK' if status < 400 else 'Error'}", reply_headers)
        return [data]
