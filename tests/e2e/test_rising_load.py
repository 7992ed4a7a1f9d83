"""A daily peak the history has seen before: capacity rises before the load does (ASG and ECS service)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from e2e_support import Pipeline, asg_target, daily_shape, decisions, ecs_target, five_minute_index, running_pipeline

pytestmark = pytest.mark.integration

PEAK_HOUR = 12.0
BASE, PEAK = 200.0, 2400.0
DAY = datetime(2026, 3, 10, tzinfo=UTC)
START, END = DAY + timedelta(hours=11, minutes=15), DAY + timedelta(hours=12)


def load_at(at: datetime) -> float:
    return float(
        daily_shape(five_minute_index(at, at + timedelta(seconds=300)), base=BASE, peak=PEAK, peak_hour=PEAK_HOUR)[0]
    )


def need(load: float) -> int:
    return math.ceil(load / (100.0 * 0.9))


@pytest.fixture(scope="module")
def ran(moto_endpoint: str) -> Iterator[Pipeline]:
    with running_pipeline(moto_endpoint, f"e2e-rising-{uuid.uuid4().hex[:8]}") as pipeline:
        yield scenario(pipeline)


def scenario(pipeline: Pipeline) -> Pipeline:
    # GIVEN an ASG (direct mode) and an ECS service (floor mode) sized for the quiet hours,
    # with two days of history in which the load peaks at noon every day
    prefix = pipeline.aws.prefix
    web = asg_target("web", f"{prefix}-web")
    api = ecs_target("api", prefix, "api", mode="floor")
    pipeline.aws.create_asg(f"{prefix}-web", desired=need(load_at(START)), min_size=1, max_size=60)
    pipeline.aws.create_ecs_service(prefix, "api", desired=need(load_at(START)))
    pipeline.aws.put_targets([web, api])
    history = five_minute_index(DAY - timedelta(days=2), START)
    for target in (web, api):
        pipeline.seed_history(
            target.target_id, history, daily_shape(history, base=BASE, peak=PEAK, peak_hour=PEAK_HOUR)
        )
    # WHEN the pipeline runs every five minutes from 11:00, the load following the same curve
    at = START
    while at <= END:
        for target in (web, api):
            pipeline.put_load(target, at - timedelta(seconds=300), load_at(at - timedelta(seconds=300)))
        pipeline.run_round(at + timedelta(seconds=10))
        pipeline.capacity[at] = (pipeline.aws.asg_desired(f"{prefix}-web")[0], pipeline.aws.ecs_desired(prefix, "api"))
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
