"""Contract of the EventBridge publisher: the twin bus and moto's server behave alike.

On moto, events really go through a rule on a custom bus into an SQS queue, which is where the test
reads them back. Transient per-entry failures are injected by ``FaultInjectingEvents`` (moto cannot
produce them); the entries not told to fail reach moto.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from contract_support import T0, FaultInjectingEvents

from events.base import event_pattern
from events.contracts import ScalingExecuted
from forescale_tools.memory import InMemoryEventBus, InMemoryEventPublisher
from functions.adapters.eventbridge import EventBridgePublisher, PublishError, batches

pytestmark = pytest.mark.integration


@dataclass
class Backend:
    name: str
    faults: Any  # has fail_next(count, code) and calls (entries per PutEvents call)
    delivered: Callable[[], list[str]]  # decision ids that reached the bus's subscribers
    bus_name: str
    sleeps: list[float] = field(default_factory=list)

    def publisher(self, **kwargs: Any) -> EventBridgePublisher:
        return EventBridgePublisher(
            self.faults, bus_name=self.bus_name, sleep=self.sleeps.append, rng=random.Random(1), **kwargs
        )


@pytest.fixture(params=["memory", "moto"])
def backend(request: pytest.FixtureRequest, unique_name) -> Backend:
    if request.param == "memory":
        bus = InMemoryEventBus()
        return Backend("memory", bus, lambda: [e["detail"]["decision_id"] for e in bus.envelopes], bus_name="forescale")
    moto_client = request.getfixturevalue("moto_client")
    events, sqs = moto_client("events"), moto_client("sqs")
    bus_name = unique_name("bus")
    events.create_event_bus(Name=bus_name)
    queue_url = sqs.create_queue(QueueName=unique_name("q"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all-executed", EventBusName=bus_name, EventPattern=json.dumps(event_pattern(ScalingExecuted)))
    events.put_targets(Rule="all-executed", EventBusName=bus_name, Targets=[{"Id": "queue", "Arn": queue_arn}])

    def delivered() -> list[str]:
        ids: list[str] = []
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return ids
            for message in messages:
                ids.append(json.loads(message["Body"])["detail"]["decision_id"])
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    return Backend("moto", FaultInjectingEvents(events), delivered, bus_name=bus_name)


def executed(count: int) -> list[ScalingExecuted]:
    return [
        ScalingExecuted(
            decision_id=f"d-{i:02d}",
            target_id="web",
            executed_at=T0 + timedelta(minutes=i),
            previous_capacity=3,
            new_capacity=4,
            attempts=1,
            verified=True,
        )
        for i in range(count)
    ]


def test_25_events_go_out_in_3_calls(backend: Backend):
    # WHEN 25 events are published
    ids = backend.publisher().publish(executed(25))
    # THEN three PutEvents calls of 10, 10 and 5 entries delivered each event once
    assert backend.faults.calls == [10, 10, 5]
    assert len(ids) == 25 and len(set(ids)) == 25
    assert sorted(backend.delivered()) == [f"d-{i:02d}" for i in range(25)]
    assert backend.sleeps == []


def test_partial_failure_retries_only_the_failed_entries(backend: Backend):
    # GIVEN the first 3 entries fail transiently
    backend.faults.fail_next(3, "InternalFailure")
    publisher = backend.publisher(base_delay=0.2)
    # WHEN 25 events are published
    ids = publisher.publish(executed(25))
    # THEN only those 3 are sent again, once, after one backoff pause, and nothing is duplicated
    assert backend.faults.calls == [10, 10, 5, 3]
    assert len(backend.sleeps) == 1 and 0 <= backend.sleeps[0] <= 0.2
    assert len(set(ids)) == 25
    assert sorted(backend.delivered()) == [f"d-{i:02d}" for i in range(25)]


def test_failures_that_persist_raise_after_bounded_retries(backend: Backend):
    backend.faults.fail_next(100, "ThrottlingException")
    publisher = backend.publisher(max_attempts=4, base_delay=0.1, max_delay=0.25)
    with pytest.raises(PublishError) as raised:
        publisher.publish(executed(2))
    error = raised.value
    assert [(f.index, f.error_code, f.attempts) for f in error.failures] == [
        (0, "ThrottlingException", 4),
        (1, "ThrottlingException", 4),
    ]
    assert error.published_ids == {}
    assert "events[0] ScalingExecuted from forescale.executor: ThrottlingException" in str(error)
    assert backend.faults.calls == [2, 2, 2, 2]
    # backoff grows, capped, with jitter
    assert len(backend.sleeps) == 3
    assert all(0 <= s <= cap for s, cap in zip(backend.sleeps, (0.1, 0.2, 0.25), strict=True))


def test_permanent_failure_is_not_retried_and_names_the_event(backend: Backend):
    # GIVEN the 2nd entry is refused for good
    backend.faults.fail_next(1, "InternalFailure")
    backend.faults.fail_next(1, "AccessDeniedException")
    publisher = backend.publisher()
    with pytest.raises(PublishError) as raised:
        publisher.publish(executed(12))
    error = raised.value
    assert [(f.index, f.error_code, f.attempts) for f in error.failures] == [(1, "AccessDeniedException", 1)]
    # entry 0 was retried and made it; everything else went out once
    assert backend.faults.calls == [10, 2, 1]
    assert sorted(error.published_ids) == [i for i in range(12) if i != 1]
    assert sorted(backend.delivered()) == [f"d-{i:02d}" for i in range(12) if i != 1]


def test_whole_call_failure_is_reported_like_entry_failures(backend: Backend):
    # GIVEN a bus that does not exist (the call itself fails, for every entry)
    publisher = EventBridgePublisher(backend.faults, bus_name="no-such-bus", sleep=backend.sleeps.append)
    with pytest.raises(PublishError) as raised:
        publisher.publish(executed(12))
    failures = raised.value.failures
    assert [f.index for f in failures] == list(range(12))
    assert {(f.error_code, f.attempts) for f in failures} == {("ResourceNotFoundException", 1)}
    assert "no-such-bus" in failures[0].error_message
    assert backend.faults.calls == [10, 2]  # permanent: not retried
    assert backend.delivered() == []


def test_batches_respect_the_request_size_limit():
    entries = [{"Source": "s", "DetailType": "d", "Detail": "x" * 100_000} for _ in range(5)]
    assert batches(entries, range(5)) == [[0, 1], [2, 3], [4]]


def test_twin_bus_feeds_subscribers_and_parses_contracts():
    # the local router subscribes to the twin bus; the replay reads parsed contracts back
    bus = InMemoryEventBus()
    seen: list[str] = []
    bus.subscribe(lambda envelope: seen.append(envelope["detail-type"]))
    publisher = InMemoryEventPublisher(bus)
    publisher.publish(executed(3))
    assert seen == ["ScalingExecuted"] * 3
    assert [e.decision_id for e in bus.published(ScalingExecuted)] == ["d-00", "d-01", "d-02"]
    assert publisher.events() == executed(3)
    assert all(e["source"] == "forescale.executor" and e["account"] == "123456789012" for e in bus.envelopes)
