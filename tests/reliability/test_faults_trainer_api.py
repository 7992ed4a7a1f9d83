"""Trainer and operator API under injected faults."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from forescale_tools.local_router import LambdaContext
from functions.adapters.archive_keys import history_shard
from tests.reliability.test_faults_collect_forecast import about_shard_of
from tests.support.function_url import url_event
from tests.support.lambda_async import Ledger
from tests.support.world import NOON, World, report

pytestmark = pytest.mark.integration


def test_trainer_survives_faults_and_dead_letters_a_batch_without_history(world: World, figures):
    # GIVEN three targets with 2.5 days of history (enough to fit, little enough to fit fast), each in a history shard
    # of its own (01, 07, 13); t2's shard cannot be listed at all
    targets = world.add_asg_targets(3, desired=4)
    assert len({history_shard(t.target_id) for t in targets}) == 3
    for target in targets:
        world.seed_history(target.target_id, 250.0 + 10 * int(target.target_id[1:]), days=2.5, until=NOON)
    world.clock.current = NOON + timedelta(hours=2)
    proxy, trainer = world.proxy, world.function("trainer")
    proxy.inject("server_error", "s3", "PutObject", times=2)
    proxy.inject("throttle", "dynamodb", "PutItem", times=1)
    proxy.inject("partial_put_events", "events", "PutEvents", times=1, fail_entries=lambda i: i == 0)
    proxy.inject("throttle", "monitoring", "PutMetricData", times=1)
    proxy.inject("server_error", "s3", "ListObjectsV2", times=1000, when=about_shard_of("t2"))
    # WHEN batch 1 (t0, t1) and batch 2 (t2) are trained
    trainer.invoke({"target_ids": ["t0", "t1"]}, key="batch-1")
    trainer.invoke({"target_ids": ["t2"], "batch_index": 1}, key="batch-2")
    trainer.settle()

    # THEN batch 1 registered and promoted a model per target; batch 2 is a dead letter
    store = world.store

    def confirmed(invocation: Any) -> bool:
        models = invocation.result["models"]
        return bool(models) and all(
            (c := store.champion(m["target_id"])) is not None and c.version == m["version"] for m in models
        )

    ledger = trainer.ledger(confirmed)
    checks = {
        "batch 1 in one invocation": len(trainer.invocations[0].attempts) == 1,
        "both targets promoted": [m["promoted"] for m in trainer.invocations[0].result["models"]] == [True, True],
        "batch 2 dead-lettered": trainer.invocations[1].state == "dead-lettered" and store.champion("t2") is None,
        "inside the Lambda timeout": trainer.longest_attempt < trainer.timeout_seconds,
    }
    report(figures, "trainer", world, ledger, checks)


def end_of(status: int | None) -> str:
    """Where a synchronous request ended: answered, or refused to the caller (an error status or a failed
    function: the caller still holds its request)."""
    return "succeeded" if status is not None and status < 300 else "returned"


def test_operator_api_answers_through_faults_and_never_half_accepts_an_event(world: World, figures):
    # GIVEN the API over three targets, and the rules that route business events to the intake
    world.add_asg_targets(3, desired=4)
    world.listen()
    proxy = world.proxy
    from functions.handlers import api

    def request(method: str, path: str, body: Any = None) -> tuple[int | None, Any]:
        import json

        event = url_event(method, path, body=None if body is None else json.dumps(body))
        try:
            response = api.handler(event, LambdaContext("api", "req"))
        except Exception as error:  # the function failed: the caller gets a 502 and keeps its request
            return None, error
        return int(response["statusCode"]), json.loads(response.get("body") or "null")

    sale = {
        "name": "sale",
        "event_type": "campaign",
        "targets": ["t0"],
        "start": (NOON + timedelta(hours=2)).isoformat(),
        "end": (NOON + timedelta(hours=3)).isoformat(),
        "expected_multiplier": 2.0,
    }
    # WHEN DynamoDB throttles and resets reads, and PutEvents throttles, then fails for good
    proxy.inject("throttle", "dynamodb", "GetItem", times=2)
    proxy.inject("reset", "dynamodb", "Query", times=1)
    proxy.inject("throttle", "events", "PutEvents", times=2)
    calls = [("GET", "/targets", None), ("GET", "/targets/t0/decisions", None), ("POST", "/events", sale)]
    answers = []
    for index, call in enumerate(calls):
        with proxy.attributed_to(f"request-{index}"):
            answers.append(request(*call))
    proxy.inject("server_error", "events", "PutEvents", times=1000)
    with proxy.attributed_to("request-3"):
        answers.append(request("POST", "/events", {**sale, "name": "second sale"}))

    # THEN reads answered, the first event is on the bus once, the second is refused to the caller and absent
    delivered = [e["detail"]["name"] for e in world.delivered("BusinessEvent")]
    statuses = [status for status, _ in answers]
    ledger = Ledger.of({f"request-{index}": end_of(status) for index, status in enumerate(statuses)})
    checks = {
        "reads answered": statuses[:2] == [200, 200],
        "event accepted once": statuses[2] == 202 and delivered.count("sale") == 1,
        "failed publish refused to the caller": statuses[3] is None and "PublishError" in type(answers[3][1]).__name__,
        "refused event not on the bus": "second sale" not in delivered,
        "bounded: 3 botocore tries x 5 publisher attempts": proxy.rules[-1].fired == 15,
    }
    report(figures, "api", world, ledger, checks)
