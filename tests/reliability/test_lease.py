"""The target lease the executor takes: one holder at a time, expiry, release — alike on the twin, moto's
server and DynamoDB Local (AWS's own implementation of the condition expressions)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from forescale_tools.memory import InMemoryStateStore
from functions.adapters.dynamodb import DynamoStateStore, TableNames, create_tables

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "moto", "dynamodb-local"])
def store(request: pytest.FixtureRequest, unique_name) -> Iterator[DynamoStateStore]:
    if request.param == "memory":
        yield InMemoryStateStore()
        return
    client = (
        request.getfixturevalue("moto_client")("dynamodb")
        if request.param == "moto"
        else request.getfixturevalue("dynamodb_local_client")
    )
    names = TableNames.with_prefix(unique_name("lease"))
    create_tables(client, names)
    try:
        yield DynamoStateStore(client, names)
    finally:
        for _, table in names.specs():
            client.delete_table(TableName=table)


def test_one_holder_at_a_time_until_release_or_expiry(store):
    # GIVEN executor A holds web's lease for 150 s
    assert store.acquire_lease("web", "A", now=T0, seconds=150)
    # THEN B cannot take it, even 149 s later; another target's lease is independent
    assert not store.acquire_lease("web", "B", now=T0 + timedelta(seconds=149), seconds=150)
    assert store.acquire_lease("api", "B", now=T0, seconds=150)
    # WHEN B releases web (it does not hold it) nothing changes; when A releases it, B takes it
    store.release_lease("web", "B")
    assert not store.acquire_lease("web", "B", now=T0 + timedelta(seconds=1), seconds=150)
    store.release_lease("web", "A")
    assert store.acquire_lease("web", "B", now=T0 + timedelta(seconds=2), seconds=150)
    # WHEN B dies holding it, the lease expires: C takes it once the 150 s are over, not before
    assert not store.acquire_lease("web", "C", now=T0 + timedelta(seconds=151), seconds=150)
    assert store.acquire_lease("web", "C", now=T0 + timedelta(seconds=152), seconds=150)
    # and the late release of the dead holder B does not free C's lease
    store.release_lease("web", "B")
    assert not store.acquire_lease("web", "D", now=T0 + timedelta(seconds=160), seconds=150)
    with pytest.raises(ValueError, match="seconds"):
        store.acquire_lease("web", "E", now=T0, seconds=0)


def test_racing_takers_get_exactly_one_lease(store):
    # GIVEN eight threads taking one free lease at the same instant
    barrier = threading.Barrier(8)
    won: list[str] = []

    def take(owner: str) -> None:
        barrier.wait()
        if store.acquire_lease("web", owner, now=T0, seconds=60):
            won.append(owner)

    threads = [threading.Thread(target=take, args=(f"x{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # THEN exactly one got it
    assert len(won) == 1
