"""The decider's and the forecaster's S3 audit rows: one batch per invocation, none lost when it crashes before."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from service_support import NOON, flat_history, target
from test_decider_executor import store_forecast

from events.contracts import CollectedTarget, ForecastReady, MetricsCollected, ScalingDecided, SloBreached
from functions.adapters.archive_keys import history_shard


class CrashingOnce:
    """The archive, whose first audit batch write fails: the invocation dies after storing its decisions."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batches: list[list[str]] = []

    def write_audit_batch(self, batch_id: str, at: Any, records: Any) -> list[str]:
        self.batches.append([r.target_id for r in records])
        if len(self.batches) == 1:
            raise RuntimeError("the Lambda timed out before its audit batch")
        return self.inner.write_audit_batch(batch_id, at, records)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_retried_round_writes_the_audit_rows_of_the_decisions_its_crashed_attempt_made(memory, clock):
    # GIVEN three targets whose forecasts are ready, and an invocation that crashes at its audit batch
    world = memory([target("web"), target("api"), target("db")])
    clock.current = NOON + timedelta(seconds=5)
    summaries = [store_forecast(world, tid, 900.0) for tid in ("web", "api", "db")]
    archive = CrashingOnce(world.archive)
    world.rewire(archive=archive)
    ready = ForecastReady(round_id="round-1", forecasts=summaries)
    with pytest.raises(RuntimeError, match="audit batch"):
        world.components.decider.decide_batch(ready)
    window = (NOON - timedelta(hours=1), NOON + timedelta(hours=1))
    decided = {tid: world.store.decisions(tid, *window) for tid in ("web", "api", "db")}
    assert all(len(d) == 1 for d in decided.values())  # the decisions were made and recorded
    # WHEN the same ForecastReady is retried (a minute later), then the next round comes
    clock.current += timedelta(minutes=1)
    outcomes = world.components.decider.decide_batch(ready)
    assert all(o.decision_id is None for o in outcomes)  # no new decision: this forecast was decided on
    # THEN the retry wrote the decisions' audit rows, as made (with the plan), in one batch of one object per shard
    for tid, (decision,) in decided.items():
        audit = world.archive.read_audit(tid, *window)
        assert list(audit["record_id"]) == [decision.decision_id], tid
        assert audit["record"].iloc[0] == "decision" and audit["forecast_id"].iloc[0] == "f-1"
        assert audit["desired_capacity"].iloc[0] == decision.desired_capacity and audit["plan"].iloc[0] != "[]"
    assert archive.batches == [["web", "api", "db"]] * 2
    objects = list(world.archive.audit_objects.list_keys("audit/"))
    assert sorted(k.split("/")[1] for k in objects) == sorted({f"shard={history_shard(t)}" for t in decided})
    # AND the next round (a new datapoint) writes nothing again: the kept row went with its round
    clock.current = NOON + timedelta(minutes=5, seconds=5)
    later = [s.model_copy(update={"history_end": NOON}) for s in summaries]
    world.components.decider.decide_batch(ForecastReady(round_id="round-2", forecasts=later))
    assert len(archive.batches) == 2
    assert all(world.store.get_target_state(t).audit_row is None for t in decided)


def test_a_forecast_is_stored_only_once_its_audit_row_is_written_so_a_retry_loses_none(memory, clock):
    # GIVEN three targets due for a forecast, and an invocation that crashes at its audit batch
    ids = ("web", "api", "db")
    world = memory([target(t) for t in ids])
    for tid in ids:
        flat_history(world, tid, 500.0)
    clock.current = NOON + timedelta(seconds=4)
    archive = CrashingOnce(world.archive)
    world.rewire(archive=archive)
    collected = MetricsCollected(
        round_id="round-1", collected_at=clock.current, step_seconds=300,
        targets=[CollectedTarget(
            target_id=t, last_timestamp=NOON - timedelta(minutes=5), last_value=500.0, points_written=1,
            desired_capacity=6, in_service_capacity=6,
        ) for t in ids],
    )  # fmt: skip
    with pytest.raises(RuntimeError, match="audit batch"):
        world.components.forecaster.forecast_batch(collected)
    # WHEN the same round is retried
    clock.current += timedelta(seconds=50)
    outcomes = world.components.forecaster.forecast_batch(collected)
    # THEN every target's stored forecast has its audit row (the crashed attempt stored none: all were due again)
    assert sorted(o.target_id for o in outcomes) == sorted(ids)
    window = (NOON - timedelta(hours=1), NOON + timedelta(hours=1))
    for tid in ids:
        stored = world.store.latest_forecast(tid)
        audit = world.archive.read_audit(tid, *window)
        assert f"forecast-{stored.forecast_id}" in list(audit["record_id"]), tid
    assert archive.batches == [list(ids)] * 2


class PublishCrashingOnce:
    """The bus publisher, whose first call fails: the invocation dies after storing and auditing its decisions."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0
        self.sent: list[Any] = []

    def publish(self, events: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("the Lambda timed out before publishing")
        self.sent.extend(events)
        return self.inner.publish(events)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_retried_round_publishes_the_decisions_its_crashed_attempt_could_not(memory, clock):
    # GIVEN two targets whose forecasts need more instances than they run, and an invocation that crashes
    # after recording its decisions, before publishing them
    world = memory([target("web"), target("api")])
    clock.current = NOON + timedelta(seconds=5)
    summaries = [store_forecast(world, tid, 9000.0) for tid in ("web", "api")]
    publisher = PublishCrashingOnce(world.components.publisher)
    world.rewire(publisher=publisher)
    ready = ForecastReady(round_id="round-1", forecasts=summaries)
    with pytest.raises(RuntimeError, match="publishing"):
        world.components.decider.decide_batch(ready)
    window = (NOON - timedelta(hours=1), NOON + timedelta(hours=1))
    made = {tid: world.store.decisions(tid, *window)[0] for tid in ("web", "api")}
    assert all(d.action == "scale_out" for d in made.values())
    # WHEN the same ForecastReady is retried
    clock.current += timedelta(minutes=1)
    outcomes = world.components.decider.decide_batch(ready)
    # THEN no new decision is made, and the decisions the crash kept from the bus are published as made
    assert all(o.decision_id is None for o in outcomes)
    assert sorted((e.target_id, e.decision_id) for e in publisher.sent if isinstance(e, ScalingDecided)) == sorted(
        (tid, d.decision_id) for tid, d in made.items()
    )
    assert all(e == made[e.target_id] for e in publisher.sent if isinstance(e, ScalingDecided))
    # AND a round after it publishes none of them again
    clock.current = NOON + timedelta(minutes=5, seconds=5)
    later = [s.model_copy(update={"history_end": NOON}) for s in summaries]
    sent = len(publisher.sent)
    world.components.decider.decide_batch(ForecastReady(round_id="round-2", forecasts=later))
    again = [e for e in publisher.sent[sent:] if isinstance(e, ScalingDecided)]
    assert not [e for e in again if e.decision_id in {d.decision_id for d in made.values()}]


def test_a_retried_round_sends_the_slo_breach_its_crashed_attempt_could_not(memory, clock):
    # GIVEN a target five instances serve, whose load needs ten: the first round's datapoint is one period above
    # its SLO utilisation (the rule needs two of three)
    world = memory([target("web")])
    clock.current = NOON + timedelta(seconds=5)
    first = store_forecast(world, "web", 9000.0)
    world.components.decider.decide_batch(ForecastReady(round_id="round-1", forecasts=[first]))
    # WHEN the next round's datapoint breaches the SLO, and that invocation dies before publishing
    publisher = PublishCrashingOnce(world.components.publisher)
    world.rewire(publisher=publisher)
    clock.current = NOON + timedelta(minutes=5, seconds=5)
    ready = ForecastReady(round_id="round-2", forecasts=[first.model_copy(update={"history_end": NOON})])
    with pytest.raises(RuntimeError, match="publishing"):
        world.components.decider.decide_batch(ready)
    assert world.store.get_target_state("web").slo_breached  # the rule's state went on without the event
    # THEN the retry of the round sends the breach, once
    clock.current += timedelta(seconds=30)
    world.components.decider.decide_batch(ready)
    breaches = [e for e in publisher.sent if isinstance(e, SloBreached)]
    assert [(b.target_id, b.datapoint_at) for b in breaches] == [("web", NOON)]
