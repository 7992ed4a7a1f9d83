"""A daily peak the history has seen before: capacity rises before the load does (ASG and ECS service).

A control runs the same day over a history that never peaked: there capacity can only follow the load.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from e2e_support import Pipeline, asg_target, daily_shape, decisions, ecs_target, five_minute_index, running_pipeline

pytestmark = pytest.mark.integration

PEAK_HOUR = 12.0
BASE, PEAK = 200.0, 2400.0
WIDTH_HOURS = 0.5  # the load climbs from base to peak in about an hour and a half
DAY = datetime(2026, 3, 10, tzinfo=UTC)
START, END = DAY + timedelta(hours=11, minutes=15), DAY + timedelta(hours=12)


def load_at(at: datetime) -> float:
    return float(
        daily_shape(
            five_minute_index(at, at + timedelta(seconds=300)),
            base=BASE,
            peak=PEAK,
            peak_hour=PEAK_HOUR,
            width_hours=WIDTH_HOURS,
        )[0]
    )


def need(load: float) -> int:
    return math.ceil(load / (100.0 * 0.9))


@pytest.fixture(scope="module")
def ran(moto_endpoint: str) -> Iterator[Pipeline]:
    with running_pipeline(moto_endpoint, f"e2e-rising-{uuid.uuid4().hex[:8]}") as pipeline:
        yield scenario(pipeline, history_peak=PEAK, with_ecs=True)


def scenario(pipeline: Pipeline, *, history_peak: float, with_ecs: bool) -> Pipeline:
    # GIVEN an ASG (direct mode) and an ECS service (floor mode) sized for the quiet hours,
    # with two days of history in which the load peaks at noon every day (to ``history_peak``)
    prefix = pipeline.aws.prefix
    # a service whose violation minutes are dear (ten instance-hours each, not the default one): the
    # cost-aware quantile then covers the whole predicted peak, which is what these tests hold it to
    strict_slo = {"violation_minute_penalty": 1.0}
    web = asg_target("web", f"{prefix}-web", cost=strict_slo)
    api = ecs_target("api", prefix, "api", mode="floor", cost=strict_slo)
    targets = [web, api] if with_ecs else [web]
    pipeline.aws.create_asg(f"{prefix}-web", desired=need(load_at(START)), min_size=1, max_size=60)
    if with_ecs:
        pipeline.aws.create_ecs_service(prefix, "api", desired=need(load_at(START)))
    pipeline.aws.put_targets(targets)
    history = five_minute_index(DAY - timedelta(days=2), START)
    for target in targets:
        shape = daily_shape(history, base=BASE, peak=history_peak, peak_hour=PEAK_HOUR, width_hours=WIDTH_HOURS)
        noise = np.random.default_rng(len(target.target_id)).normal(1.0, 0.03, len(history))
        pipeline.seed_history(target.target_id, history, shape * noise)
    # WHEN the pipeline runs every five minutes from 11:15, the load following the same curve
    at = START
    while at <= END:
        for target in targets:
            pipeline.put_load(target, at - timedelta(seconds=300), load_at(at - timedelta(seconds=300)))
        pipeline.run_round(at + timedelta(seconds=10))
        api_now = pipeline.aws.ecs_desired(prefix, "api") if with_ecs else None
        pipeline.capacity[at] = (pipeline.aws.asg_desired(f"{prefix}-web")[0], api_now)
        at += timedelta(seconds=300)
    return pipeline


def ahead_of_the_load(capacity: dict[datetime, int]) -> list[tuple[datetime, int, int]]:
    """Rounds of the ramp where capacity did not already cover the load one boot time later."""
    boot = timedelta(seconds=300)
    return [
        (at, have, need(load_at(at + boot)))
        for at, have in sorted(capacity.items())
        if at > START and have < need(load_at(at + boot))
    ]


def test_asg_capacity_rises_before_the_peak(ran: Pipeline):
    peak_at = DAY + timedelta(hours=PEAK_HOUR)
    boot = timedelta(seconds=300)
    web = {at: pair[0] for at, pair in ran.capacity.items()}
    # THEN the group asked for the peak's capacity at least one boot time before the peak
    assert web[peak_at - boot] >= need(PEAK), web
    assert web[START] < need(PEAK)
    # ... and through the whole ramp it covered the load of one boot time later (a reactive rule lags)
    assert ahead_of_the_load(web) == []
    # every decision is in the audit table; the executor verified what it did, within bounds
    assert any(d.action == "scale_out" for d in decisions(ran, "web"))
    executed = [r for r in ran.results("executor") if r["target_id"] == "web" and r["status"] == "executed"]
    assert executed and all(1 <= r["new"] <= 60 for r in executed)


def test_ecs_floor_rises_before_the_peak(ran: Pipeline):
    peak_at = DAY + timedelta(hours=PEAK_HOUR)
    boot = timedelta(seconds=300)
    api = {at: pair[1] for at, pair in ran.capacity.items()}
    assert api[peak_at - boot] >= need(PEAK), api
    assert api[START] < need(PEAK)
    assert ahead_of_the_load(api) == []
    # floor mode: the scalable target's minimum carries the decision
    floor = ran.aws.ecs_floor(ran.aws.prefix, "api")
    assert floor is not None and floor >= need(PEAK)


def test_control_without_the_peak_in_history_capacity_only_follows_the_load(pipeline: Pipeline):
    """The lead above comes from the forecast: the same day with a history that never peaked lags."""
    scenario(pipeline, history_peak=BASE, with_ecs=False)
    web = {at: pair[0] for at, pair in pipeline.capacity.items()}
    late = ahead_of_the_load(web)
    assert late, web
    # ... late in the last half hour before the peak too: the reactive paths (the decider's tracking rule,
    # the SLO breach responder) catch up only after utilisation has already crossed the SLO
    peak_at = DAY + timedelta(hours=PEAK_HOUR)
    assert any(at >= peak_at - timedelta(minutes=30) for at, _, _ in late), late
