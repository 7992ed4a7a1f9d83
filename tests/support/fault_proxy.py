"""A fault-injecting HTTP proxy in front of moto's server: real sockets, real HTTP, real botocore.

The handlers' boto3 clients point at the proxy (``AWS_ENDPOINT_URL``); the proxy forwards every request
to moto unless a rule says otherwise. Rules match a service (from the SigV4 credential scope) and an
operation (from ``X-Amz-Target``, the form ``Action``, the Smithy RPC path, or the REST method and
path) and fire a given number of times:

- ``throttle``: the service's own throttling error (400, ``Throttling`` / ``ThrottlingException`` /
  ``SlowDown``...), encoded in the request's protocol (query XML, JSON, CBOR, REST XML / JSON);
- ``server_error``: ``500 InternalFailure`` (``503 ServiceUnavailable`` for S3);
- ``timeout``: the request is read and never answered for ``hold_seconds`` (the client's read
  timeout must be shorter), then the connection is closed;
- ``reset``: the request is read and the connection is reset (TCP RST, ``SO_LINGER`` 0);
- ``partial_put_events``: ``PutEvents`` forwards only some entries to moto and answers the others
  as failed (``InternalFailure``), as EventBridge does under partial failure: the failed entries were
  really not delivered;
- ``before``: run a callable first, then forward (e.g. a competing writer that changes a DynamoDB item
  so that the request's own condition really fails in moto).

:attr:`FaultProxy.injected` counts every faulted response, by kind; :attr:`FaultProxy.seen` counts
every request by ``service.Operation``. An *injection* is one rule as it hit one input event (the test
names the event being handled with :meth:`FaultProxy.attributed_to`): a rule that throttles a call twice,
or fails it on every one of botocore's retries, is one injection of several faulted responses.
:meth:`FaultProxy.injections` lists them.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

KINDS = ("throttle", "server_error", "timeout", "reset", "partial_put_events", "before")
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
#: The error code each service uses for throttling.
THROTTLE_CODES = {
    "dynamodb": "ThrottlingException",
    "events": "ThrottlingException",
    "ecs": "ThrottlingException",
    "application-autoscaling": "ThrottlingException",
    "monitoring": "Throttling",
    "autoscaling": "Throttling",
    "s3": "SlowDown",
    "lambda": "TooManyRequestsException",
    "sqs": "ThrottlingException",
    "tagging": "ThrottledException",
}


@dataclass
class Request:
    """What the proxy read from the client."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    service: str
    operation: str
    protocol: str  # query | json | cbor | rest-xml | rest-json

    def json_body(self) -> Any:
        return json.loads(self.body or b"{}")

    def mentions(self, text: str) -> bool:
        """The raw body contains ``text`` (a group name, a table name, a decision id...)."""
        return text.encode() in self.body or text in self.path


@dataclass
class Rule:
    kind: str
    service: str
    operation: str | None = None
    times: int = 1
    #: only requests for which this returns True (e.g. a given table or queue)
    when: Callable[[Request], bool] | None = None
    #: ``partial_put_events``: indices (within the request) of entries to fail; None fails every other one
    fail_entries: Callable[[int], bool] | None = None
    #: ``before``: called with the request before forwarding
    action: Callable[[Request], None] | None = None
    hold_seconds: float = 2.0
    #: what :attr:`FaultProxy.injected` counts it as (default: ``kind``; e.g. ``conflict`` for a competing writer)
    label: str = ""
    fired: int = 0

    def matches(self, request: Request) -> bool:
        if self.fired >= self.times or request.service != self.service:
            return False
        if self.operation is not None and request.operation != self.operation:
            return False
        return self.when is None or self.when(request)


def _cbor_text(value: str) -> bytes:
    raw = value.encode()
    if len(raw) < 24:
        return bytes([0x60 | len(raw)]) + raw
    if len(raw) < 256:
        return bytes([0x78, len(raw)]) + raw
    return bytes([0x79]) + struct.pack(">H", len(raw)) + raw


def cbor_map(values: dict[str, str]) -> bytes:
    """A CBOR map of short text to text (all Smithy RPCv2 error bodies need)."""
    return bytes([0xA0 | len(values)]) + b"".join(_cbor_text(k) + _cbor_text(v) for k, v in values.items())


def error_response(request: Request, status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` of an AWS error in the request's protocol."""
    rid = "injected-fault"
    if request.protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        return status, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": rid}, body
    if request.protocol == "rest-json":
        body = json.dumps({"message": message}).encode()
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code, "x-amzn-RequestId": rid}
        return status, headers, body
    if request.protocol == "cbor":
        body = cbor_map({"__type": code, "message": message})
        return status, {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}, body
    if request.protocol == "rest-xml":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{rid}</RequestId></Error>".encode()
        return status, {"Content-Type": "application/xml"}, body
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{rid}</RequestId></ErrorResponse>"
    ).encode()
    return status, {"Content-Type": "text/xml"}, body


def _rest_operation(service: str, method: str, path: str) -> str:
    if service == "s3":
        parts = [p for p in urlsplit(path).path.split("/") if p]
        has_key = len(parts) > 1
        return {
            ("GET", True): "GetObject",
            ("GET", False): "ListObjectsV2",
            ("PUT", True): "PutObject",
            ("PUT", False): "CreateBucket",
            ("HEAD", True): "HeadObject",
            ("DELETE", True): "DeleteObject",
        }.get((method, has_key), f"{method}Bucket")
    if service == "lambda" and path.endswith("/invocations"):
        return "Invoke"
    return f"{method} {urlsplit(path).path}"


@dataclass(frozen=True)
class Injection:
    """One rule as it hit one input event: ``responses`` faulted responses (botocore's retries included)."""

    kind: str
    input_key: str | None
    rule: int
    responses: int


@dataclass
class FaultProxy:
    """See the module docstring. ``start()`` returns the URL to give as ``endpoint_url``."""

    upstream: str
    #: the proxy's own URL, once started
    url: str = ""
    rules: list[Rule] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    seen: Counter[str] = field(default_factory=Counter)
    #: the input event being handled (set by :meth:`attributed_to`)
    current_input: str | None = None
    #: faulted responses by (rule index, kind, input key)
    _hits: Counter[tuple[int, str, str | None]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    # ----------------------------------------------------------------- control

    def inject(self, kind: str, service: str, operation: str | None = None, *, times: int = 1, **options: Any) -> Rule:
        if kind not in KINDS:
            raise ValueError(f"kind: one of {KINDS}")
        rule = Rule(kind, service, operation, times, **options)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def reset_counts(self) -> None:
        with self._lock:
            self.injected.clear()
            self.seen.clear()
            self._hits.clear()
            self.current_input = None

    @contextmanager
    def attributed_to(self, input_key: str) -> Iterator[None]:
        """Faults fired while the block runs hit the input event ``input_key`` (one handler at a time)."""
        with self._lock:
            previous, self.current_input = self.current_input, input_key
        try:
            yield
        finally:
            with self._lock:
                self.current_input = previous

    def injections(self) -> list[Injection]:
        """Every injection so far: one per rule and input event it hit."""
        with self._lock:
            return [
                Injection(kind, key, rule, responses)
                for (rule, kind, key), responses in sorted(self._hits.items(), key=lambda item: str(item[0]))
            ]

    def _take(self, request: Request) -> Rule | None:
        with self._lock:
            self.seen[f"{request.service}.{request.operation}"] += 1
            for index, rule in enumerate(self.rules):
                if rule.matches(request):
                    rule.fired += 1
                    self.injected[rule.label or rule.kind] += 1
                    self._hits[(index, rule.label or rule.kind, self.current_input)] += 1
                    return rule
        return None

    @property
    def total_injected(self) -> int:
        with self._lock:
            return sum(self.injected.values())

    def start(self) -> str:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _handle(self) -> None:
                proxy._serve(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True).start()
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ----------------------------------------------------------------- serving

    def _read(self, handler: BaseHTTPRequestHandler) -> Request:
        headers = {k: v for k, v in handler.headers.items()}
        lower = {k.lower(): v for k, v in headers.items()}
        if lower.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    handler.rfile.readline()
                    break
                chunks.append(handler.rfile.read(size))
                handler.rfile.readline()
            body = b"".join(chunks)
            headers = {k: v for k, v in headers.items() if k.lower() != "transfer-encoding"}
            headers["Content-Length"] = str(len(body))
        else:
            body = handler.rfile.read(int(lower.get("content-length", "0") or 0))
        scope = _CREDENTIAL_SCOPE.search(lower.get("authorization", ""))
        service = scope.group(1) if scope else "unknown"
        content_type = lower.get("content-type", "")
        if "x-amz-target" in lower:
            protocol, operation = "json", lower["x-amz-target"].rsplit(".", 1)[-1]
        elif lower.get("smithy-protocol") == "rpc-v2-cbor":
            protocol, operation = "cbor", handler.path.rstrip("/").rsplit("/", 1)[-1]
        elif content_type.startswith("application/x-www-form-urlencoded"):
            protocol = "query"
            operation = parse_qs(body.decode(errors="replace")).get("Action", ["?"])[0]
        else:
            protocol = "rest-xml" if service == "s3" else "rest-json"
            operation = _rest_operation(service, handler.command, handler.path)
        return Request(handler.command, handler.path, headers, body, service, operation, protocol)

    def _forward(self, request: Request, body: bytes | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
        target = urlsplit(self.upstream)
        connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=60)
        payload = request.body if body is None else body
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Content-Length"] = str(len(payload))
        try:
            connection.request(request.method, request.path, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
            return response.status, response.getheaders(), data
        finally:
            connection.close()

    def _reply(self, handler: BaseHTTPRequestHandler, status: int, headers: Any, body: bytes) -> None:
        handler.send_response(status)
        items = headers.items() if isinstance(headers, dict) else headers
        for name, value in items:
            if name.lower() not in _HOP_BY_HOP and name.lower() not in {"content-length", "server", "date"}:
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        request = self._read(handler)
        rule = self._take(request)
        kind = rule.kind if rule else None
        if rule is not None and kind == "before" and rule.action is not None:
            rule.action(request)
        if kind == "throttle":
            code = THROTTLE_CODES.get(request.service, "ThrottlingException")
            status = 503 if request.service == "s3" else 400
            self._reply(handler, *error_response(request, status, code, "Rate exceeded (injected)"))
            return
        if kind == "server_error":
            status, code = (503, "ServiceUnavailable") if request.service == "s3" else (500, "InternalFailure")
            self._reply(handler, *error_response(request, status, code, "injected server error"))
            return
        if kind == "timeout":
            self._stopping.wait(rule.hold_seconds if rule else 0)
            handler.close_connection = True
            return
        if kind == "reset":
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
            handler.connection.close()
            return
        if kind == "partial_put_events" and rule is not None:
            self._reply(handler, *self._partial_put_events(request, rule))
            return
        self._reply(handler, *self._forward(request))

    def _partial_put_events(self, request: Request, rule: Rule) -> tuple[int, list[tuple[str, str]], bytes]:
        document = request.json_body()
        entries = document["Entries"]
        failing = rule.fail_entries or (lambda index: index % 2 == 0)
        keep = [i for i in range(len(entries)) if not failing(i)]
        results: list[dict[str, Any]] = [
            {"ErrorCode": "InternalFailure", "ErrorMessage": "injected partial failure"} for _ in entries
        ]
        headers: list[tuple[str, str]] = [("Content-Type", "application/x-amz-json-1.1")]
        if keep:
            forwarded = json.dumps({**document, "Entries": [entries[i] for i in keep]}).encode()
            status, headers, body = self._forward(request, forwarded)
            if status != 200:
                return status, headers, body
            for index, result in zip(keep, json.loads(body)["Entries"], strict=True):
                results[index] = result
        failed = sum(1 for r in results if r.get("ErrorCode"))
        return 200, headers, json.dumps({"FailedEntryCount": failed, "Entries": results}).encode()
