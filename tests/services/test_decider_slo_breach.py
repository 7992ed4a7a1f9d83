"""The decider detects each target's SLO breach (the rule the replay simulates) and publishes one event naming it.

No CloudWatch alarm exists per target: every round the decider feeds the round's utilisation to the rule
(above ``slo_utilization`` in 2 of the last 3 periods) and publishes ``SloBreached`` when it goes from OK to
breached; learned-capacity targets are judged with their learned capacity per instance.
"""

from __future__ import annotations

from datetime import timedelta

from service_support import NOON, target

from events.base import parse_envelope
from events.contracts import ForecastReady, ForecastSummary, SloBreached
from functions.domain.reactive import SloAlarm, SloAlarmState, slo_alarm_step
from functions.ports.records import LearnedCapacity, StoredForecast
from functions.services.common import RecordingSink

STEP = 60
TARGET = target(
    "web",
    metric=target().metric.model_copy(update={"period_seconds": STEP}),
    decision_interval_seconds=300,
    capacity_per_instance=100.0,
    slo_utilization=0.9,
)


def run_rounds(world, clock, loads, *, in_service: int = 4, tid: str = "web", skip: frozenset[int] = frozenset()):
    """One round a minute from noon (no usable forecast); the group stays at ``in_service``. Rounds in ``skip``
    had no new datapoint. Returns the ``SloBreached`` events published, with the minute of their round."""
    decider = world.components.decider
    breaches: list[tuple[int, SloBreached]] = []
    for minute, load in enumerate(loads):
        now = NOON + timedelta(seconds=STEP * minute)
        clock.current = now + timedelta(seconds=5)
        if minute % 5 == 0:
            world.store.put_forecast(
                StoredForecast(
                    target_id=tid, forecast_id=f"f-{minute:03d}", issued_at=now, model_version="m", confidence=0.0,
                    history_end=now - timedelta(seconds=STEP), no_forecast_reason="too little history",
                )
            )  # fmt: skip
        fresh = minute not in skip
        summary = ForecastSummary(
            target_id=tid, forecast_id=f"f-{minute - minute % 5:03d}", issued_at=NOON,
            history_end=now - timedelta(seconds=STEP if fresh else 2 * STEP), step_seconds=STEP, horizon_steps=0,
            model_version="m", confidence=0.0, no_forecast_reason="too little history",
            desired_capacity=in_service, in_service_capacity=in_service, recent_load=load if fresh else None,
        )  # fmt: skip
        before = len(world.bus.envelopes)
        decider.decide_batch(ForecastReady(round_id=f"r-{minute}", forecasts=[summary]))
        for envelope in world.bus.envelopes[before:]:
            if envelope["detail-type"] == SloBreached.DETAIL_TYPE:
                breaches.append((minute, parse_envelope(SloBreached, envelope)))
    return breaches


def test_a_breach_is_published_once_when_two_of_three_periods_are_above_the_slo(memory, clock):
    # GIVEN 4 instances of 100 (SLO 90 %): 80 % for 3 minutes, then 95 % from the 4th datapoint on
    world = memory([TARGET])
    loads = [320.0] * 3 + [380.0] * 5 + [320.0] * 4 + [380.0] * 3
    # WHEN the decider gets every round
    breaches = run_rounds(world, clock, loads)
    # THEN the rule fired on the 2nd breaching datapoint of each episode, once per episode, as the replay's rule
    rule, state, expected = SloAlarm(threshold=0.9), SloAlarmState(), []
    for minute, load in enumerate(loads):
        state, fired = slo_alarm_step(rule, state, load / 400.0)
        if fired:
            expected.append(minute)
    assert [minute for minute, _ in breaches] == expected == [4, 13]
    # AND the event names the target, the datapoints the rule saw and the capacity, for the responder
    first = breaches[0][1]
    assert first.target_id == "web" and first.slo_utilization == 0.9
    assert first.datapoints == [0.8, 0.95, 0.95] and first.in_service_capacity == 4
    assert first.datapoint_at == NOON + timedelta(minutes=3)


def test_rounds_without_a_datapoint_count_as_missing_periods(memory, clock):
    # GIVEN one breaching datapoint, then a round without data, then a second breaching datapoint
    world = memory([TARGET])
    loads = [320.0, 380.0, 0.0, 380.0, 380.0]
    # WHEN the round of minute 2 had no new load (the next one's gap counts as a missing period)
    breaches = run_rounds(world, clock, loads, skip=frozenset({2}))
    # THEN 2 of the last 3 periods (380, missing, 380) breach at minute 3, not before
    assert [minute for minute, _ in breaches] == [3]
    assert breaches[0][1].datapoints == [0.95, 0.95]


def test_a_learned_capacity_target_is_judged_with_its_learned_capacity(memory, clock):
    # GIVEN a target that learns its capacity per instance, learned as 100 per instance
    learn = target("learner", metric=TARGET.metric, decision_interval_seconds=300, capacity_per_instance="learn",
                   slo_utilization=0.9)  # fmt: skip
    world = memory([learn])
    world.store.put_learned_capacity(
        LearnedCapacity(
            target_id="learner", capacity_per_instance=100.0, samples=500, r2=0.9, outliers=0, learned_at=NOON
        )
    )
    # WHEN its load goes to 95 % of 4 instances
    breaches = run_rounds(world, clock, [320.0, 380.0, 380.0], tid="learner")
    # THEN it is breached like any target (a CloudWatch alarm on an unemitted metric never fired for it)
    assert [(minute, b.target_id) for minute, b in breaches] == [(2, "learner")]


def test_breach_state_survives_between_invocations_without_per_target_metrics(memory, clock, sink: RecordingSink):
    # GIVEN a breach
    world = memory([TARGET])
    run_rounds(world, clock, [380.0, 380.0])
    # THEN the rule's state is in the target's stored state, and no metric named the target
    stored = world.store.get_target_state("web")
    assert stored.slo_breached and stored.slo_recent == (0.95, 0.95)
    assert all(target_id is None for _, _, _, target_id in sink.records), sink.records
