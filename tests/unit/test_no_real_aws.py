"""No test can reach real AWS: fake credentials only, and a guard refuses every non-loopback connection."""

from __future__ import annotations

import socket

import boto3
import pytest


def test_a_client_without_endpoint_url_is_refused_before_reaching_aws():
    # GIVEN an ordinary client for a real region, without endpoint_url
    client = boto3.client("sts", region_name="eu-west-1")
    # WHEN it calls AWS
    with pytest.raises(RuntimeError, match=r"blocked a real AWS request to sts\.eu-west-1\.amazonaws\.com") as raised:
        client.get_caller_identity()
    # THEN the guard refused it (no HTTP response was ever parsed)
    assert type(raised.value).__name__ == "RealNetworkBlockedError"


@pytest.mark.parametrize("service", ["dynamodb", "s3", "events", "cloudwatch", "autoscaling", "ecs"])
def test_every_adapter_service_is_refused_without_a_local_endpoint(service):
    client = boto3.client(service, region_name="us-east-1")
    operation = {
        "dynamodb": "list_tables",
        "s3": "list_buckets",
        "events": "list_event_buses",
        "cloudwatch": "list_metrics",
        "autoscaling": "describe_auto_scaling_groups",
        "ecs": "list_clusters",
    }[service]
    with pytest.raises(RuntimeError, match=r"amazonaws\.com"):
        getattr(client, operation)()


def test_raw_sockets_to_public_addresses_are_refused():
    # 52.94.0.0/16 is an AWS range; IPv6 too. Nothing is sent: connect() itself is refused.
    for family, address in ((socket.AF_INET, ("52.94.236.248", 443)), (socket.AF_INET6, ("2600:1f18::1", 443, 0, 0))):
        with (
            socket.socket(family, socket.SOCK_STREAM) as sock,
            pytest.raises(RuntimeError, match="blocked a connection"),
        ):
            sock.connect(address)
    with pytest.raises(RuntimeError, match="blocked a connection"):
        socket.create_connection(("52.94.236.248", 443), timeout=1)


def test_only_fake_credentials_are_visible():
    credentials = boto3.Session().get_credentials()
    assert credentials is not None
    assert credentials.access_key == "testing"
    assert credentials.secret_key == "testing"
    assert credentials.method == "env"


def test_loopback_endpoints_still_work(moto_client):
    # moto's server on 127.0.0.1 is reachable through the same guard
    assert "Buckets" in moto_client("s3").list_buckets()
