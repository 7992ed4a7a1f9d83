"""Session-wide test setup: no real AWS, ever; moto's server and DynamoDB Local on loopback.

- Fake credentials and region are forced into the environment before any test module is imported,
  and every profile/config/metadata source of real credentials is switched off.
- A network guard refuses any socket connection, and any botocore request, to a host that is not
  loopback (``RealNetworkBlockedError``); ``tests/unit/test_no_real_aws.py`` proves it.
- ``moto_endpoint`` starts ``moto.server.ThreadedMotoServer`` once per session (per xdist worker) on
  a free loopback port; ``moto_client("s3")`` gives an ordinary boto3 client pointed at it.
- ``dynamodb_local_endpoint`` starts DynamoDB Local (``scripts/dynamodb_local.py``) once per session.
  Without Java or the jar it skips locally, and FAILS when ``CI=true``: CI must never skip it silently.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import logging
import os
import socket
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
REAL_CREDENTIAL_SOURCES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_ENDPOINT_URL",
)


class RealNetworkBlockedError(RuntimeError):
    """A test tried to reach a host that is not loopback (real AWS or anything else)."""


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _install_network_guard() -> None:
    """Refuse non-loopback connections at two levels: every socket, and every botocore request."""
    if getattr(socket.socket, "_forescale_guarded", False):
        return
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def _check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(str(address[0])):
            raise RealNetworkBlockedError(
                f"blocked a connection to {address[0]}:{address[1]}: tests may only reach loopback "
                "(moto's server, DynamoDB Local)"
            )

    def guarded_connect(self: socket.socket, address: Any) -> None:
        _check(self, address)
        original_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        _check(self, address)
        return original_connect_ex(self, address)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign,assignment]
    socket.socket._forescale_guarded = True  # type: ignore[attr-defined]

    from botocore.httpsession import URLLib3Session

    original_send = URLLib3Session.send

    def guarded_send(self: URLLib3Session, request: Any) -> Any:
        host = urlsplit(request.url).hostname
        if not is_loopback(host):
            raise RealNetworkBlockedError(
                f"blocked a real AWS request to {host} ({request.method} {request.url}): give the client "
                "endpoint_url=moto_endpoint (or the DynamoDB Local endpoint)"
            )
        return original_send(self, request)

    URLLib3Session.send = guarded_send  # type: ignore[method-assign]


def _isolate_from_real_aws() -> None:
    for name in REAL_CREDENTIAL_SOURCES:
        os.environ.pop(name, None)
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL_"):
            os.environ.pop(name)
    os.environ.update(FAKE_AWS_ENV)


def pytest_configure(config: pytest.Config) -> None:
    _isolate_from_real_aws()
    _install_network_guard()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


# --------------------------------------------------------------------------- moto


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """URL of moto's server on a free loopback port, shared by the session (one per xdist worker)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def make_client(service: str, endpoint_url: str) -> Any:
    """An ordinary boto3 client on ``endpoint_url`` with the fake credentials."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=60),
    )


@pytest.fixture(scope="session")
def moto_client(moto_endpoint: str) -> Callable[[str], Any]:
    """``moto_client("dynamodb")``: a boto3 client on moto's server (cached per service)."""
    clients: dict[str, Any] = {}

    def get(service: str) -> Any:
        if service not in clients:
            clients[service] = make_client(service, moto_endpoint)
        return clients[service]

    return get


@pytest.fixture
def moto_reset(moto_endpoint: str) -> Iterator[None]:
    """Reset every moto backend after the test (use unique resource names instead when you can: faster)."""
    yield
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=30).close()


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """``unique_name("bucket")`` → ``bucket-1a2b3c4d5e``: resources of one test never meet another's."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------- DynamoDB Local


def _load_dynamodb_local() -> Any:
    spec = importlib.util.spec_from_file_location("forescale_dynamodb_local", REPO / "scripts" / "dynamodb_local.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def dynamodb_local_endpoint() -> Iterator[str]:
    """URL of an in-memory DynamoDB Local on loopback; fails (CI) or skips (locally) when unavailable."""
    launcher = _load_dynamodb_local()
    try:
        running = launcher.start()
    except launcher.DynamoDBLocalUnavailable as error:
        message = f"DynamoDB Local unavailable: {error}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: the DynamoDB Local contract tests must run, not skip)")
        pytest.skip(message)
    try:
        yield running.endpoint_url
    finally:
        running.stop()


@pytest.fixture(scope="session")
def dynamodb_local_client(dynamodb_local_endpoint: str) -> Any:
    """A boto3 ``dynamodb`` client on DynamoDB Local."""
    return make_client("dynamodb", dynamodb_local_endpoint)
