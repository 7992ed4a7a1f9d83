"""While its newest decision is reactive, the decider does what target tracking does, between decisions too.

The forecaster publishes, every collection round, a summary for each target: a new forecast when the
target is due (a decision round), else its latest one (a round between decisions). Between decisions the
decider feeds the round's datapoint to target tracking (counters kept in the target's state) and, while
its newest decision was reactive, applies its capacity: scale-out after 3 breaching minutes, scale-in
only after 15 minutes below 90 % of the set-point.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta

import numpy as np
import pandas as pd
from service_support import NOON, target

from events.contracts import CollectedTarget, ForecastReady, ForecastSummary, MetricsCollected
from functions.domain.clock import FixedClock
from functions.domain.decision import DecisionPolicy
from functions.domain.replay.policies import Observation, PredictivePolicy
from functions.domain.target import LoadMetric
from functions.ports.records import StoredForecast
from models.api import ForecastPath, NoForecast

STEP = 60
TARGET = target(
    "web",
    metric=LoadMetric(namespace="T/Load", name="Requests", dimensions={"Target": "web"}, period_seconds=STEP),
    boot_seconds=120,
    decision_interval_seconds=300,
    capacity_per_instance=100.0,
    target_utilization=0.6,
)


def run_rounds(world, clock, loads: list[float], *, desired: int, tracking: bool) -> list[int]:
    """One round a minute from noon: the datapoint of the minute before, no usable forecast; the group follows
    each decision at once. Returns the desired capacity after each round."""
    decider = world.components.decider
    decider = replace(decider, policy=replace(decider.policy, reactive_tracking=tracking))
    out = []
    forecast_id = None
    for minute, load in enumerate(loads):
        now = NOON + timedelta(seconds=STEP * minute)
        clock.current = now + timedelta(seconds=5)
        if minute % 5 == 0:  # due: the forecaster stores a new (unusable) forecast
            forecast_id = f"f-{minute:03d}"
            world.store.put_forecast(
                StoredForecast(
                    target_id="web", forecast_id=forecast_id, issued_at=now, model_version="m", confidence=0.0,
                    history_end=now - timedelta(seconds=STEP), no_forecast_reason="too little history",
                )
            )  # fmt: skip
        issued = NOON + timedelta(seconds=STEP * (minute - minute % 5))
        summary = ForecastSummary(
            target_id="web", forecast_id=forecast_id, issued_at=issued, history_end=now - timedelta(seconds=STEP),
            step_seconds=STEP, horizon_steps=0, model_version="m", confidence=0.0,
            no_forecast_reason="too little history", desired_capacity=desired, in_service_capacity=desired,
            recent_load=load,
        )  # fmt: skip
        (outcome,) = decider.decide_batch(ForecastReady(round_id=f"r-{minute}", forecasts=[summary]))
        if outcome.desired is not None:
            desired = outcome.desired
        out.append(desired)
    return out


def test_without_a_forecast_the_decider_scales_out_after_three_breaching_minutes_between_decisions(memory, clock):
    # GIVEN 2 instances at 50 % (set-point 60 %), then from the datapoint of 12:05 twice the load (100 %)
    world = memory([TARGET])
    loads = [100.0] * 6 + [200.0] * 6
    # WHEN the decider gets every round, without a usable forecast
    desired = run_rounds(world, clock, loads, desired=2, tracking=True)
    # THEN it scales out at the 3rd breaching datapoint (round of 12:08), between decisions, to the set-point's 4
    assert desired[:8] == [2] * 8
    assert desired[8:] == [4] * 4
    # AND the scale-out was recorded as a reactive decision with target tracking's reason
    (decided,) = [d for d in world.store.decisions("web", NOON, NOON + timedelta(hours=1)) if d.action != "hold"]
    assert decided.reactive and decided.desired_capacity == 4
    assert decided.reason.startswith("target tracking: 3 datapoints above 0.6 utilisation")


def test_without_a_forecast_the_decider_scales_in_only_after_fifteen_minutes_low(memory, clock):
    # GIVEN 4 instances whose load falls to 50 (21 % utilisation, below 90 % of the set-point) from 12:00's datapoint
    world = memory([TARGET])
    loads = [50.0] * 20
    # WHEN the decider gets every round, without a usable forecast
    desired = run_rounds(world, clock, loads, desired=4, tracking=True)
    # THEN it holds 4 for 14 low datapoints and scales in to 1 at the 15th (round of 12:14), between decisions
    assert desired[:14] == [4] * 14
    assert desired[14:] == [1] * 6


def test_with_tracking_off_the_decider_decides_once_per_interval(memory, clock):
    # GIVEN the same jump, with reactive_tracking off
    world = memory([TARGET])
    loads = [100.0] * 6 + [200.0] * 6
    # WHEN the decider gets every round
    desired = run_rounds(world, clock, loads, desired=2, tracking=False)
    # THEN only the decision round of 12:10 moves capacity (its reactive rule on the newest load)
    assert desired == [2] * 10 + [4] * 2


def test_the_forecaster_summarises_a_target_that_is_not_due_with_the_rounds_load(memory, clock):
    # GIVEN a forecast issued at 12:00 for a 5-minute decision interval, and the round of 12:03
    world = memory([TARGET])
    world.store.put_forecast(
        StoredForecast(
            target_id="web", forecast_id="f-noon", issued_at=NOON, model_version="m", confidence=0.4,
            history_end=NOON - timedelta(seconds=STEP), no_forecast_reason="too little history",
        )
    )  # fmt: skip
    clock.current = NOON + timedelta(minutes=3, seconds=4)
    collected = MetricsCollected(
        round_id="r-3", collected_at=clock.current, step_seconds=STEP,
        targets=[CollectedTarget(
            target_id="web", last_timestamp=NOON + timedelta(minutes=2), last_value=250.0, points_written=1,
            desired_capacity=3, in_service_capacity=2,
        )],
    )  # fmt: skip
    forecaster = world.components.forecaster
    # WHEN the forecaster runs without and with every_round
    assert forecaster.every_round  # as deployed: the SLO budget observes every datapoint
    without = replace(forecaster, every_round=False)
    assert without.forecast_batch(collected) == [] and not world.bus.published(ForecastReady)
    forecaster.forecast_batch(collected)
    # THEN with every_round the decider gets the latest forecast again, with this round's datapoint and capacity
    (ready,) = world.bus.published(ForecastReady)
    (summary,) = ready.forecasts
    assert (summary.forecast_id, summary.issued_at, summary.no_forecast_reason) == (
        "f-noon",
        NOON,
        "too little history",
    )
    assert (summary.history_end, summary.recent_load) == (NOON + timedelta(minutes=2), 250.0)
    assert (summary.desired_capacity, summary.in_service_capacity) == (3, 2)


# --------------------------------------------------------------------------- replay/decider parity, tracking on

T_START = 40  # steps of history before forescale decides
T_ROUNDS = 120
T_HORIZON = 30
T0 = NOON - timedelta(seconds=T_START * STEP)
PARITY = target(
    "web",
    metric=LoadMetric(namespace="T/Load", name="Requests", dimensions={"Target": "web"}, period_seconds=STEP),
    boot_seconds=120,
    decision_interval_seconds=300,
    scale_in_stabilization_seconds=300,
    max_step_down=3,
)


def parity_trace() -> tuple[pd.DatetimeIndex, np.ndarray, dict[int, ForecastPath]]:
    """Loads with a cycle, bursts and noise; a forecast at two of every three decision rounds (the third has
    none, so the decision is reactive and target tracking governs until the next one)."""
    rng = np.random.default_rng(11)
    n = T_START + T_ROUNDS + T_HORIZON
    ds = pd.date_range(T0.replace(tzinfo=None), periods=n, freq=f"{STEP}s")
    t = np.arange(n)
    y = 1500 + 600 * np.sin(2 * np.pi * t / 70) + rng.normal(0, 80, n) + np.where(t % 37 < 6, 900.0, 0.0)
    paths = {}
    for step in range(T_START, T_START + T_ROUNDS, 5):
        if (step // 5) % 3 == 0:
            continue
        p50 = np.clip(0.8 * y[step : step + T_HORIZON] * np.exp(rng.normal(0, 0.08, T_HORIZON)), 0, None)
        paths[step] = ForecastPath(
            "web", ds[step].to_pydatetime().replace(tzinfo=UTC), ds[step : step + T_HORIZON], p50, p50 * 1.1,
            p50 * 1.25, 0.8, "scripted",
        )  # fmt: skip
    return ds, y, paths


class Scripted:
    def __init__(self, paths: dict[int, ForecastPath], ds: pd.DatetimeIndex) -> None:
        self.by_time = {ds[step]: path for step, path in paths.items()}

    def fit(self, history, *, now, events):
        return self

    def forecast(self, history, *, now, horizon_steps, events):
        return {"web": self.by_time.get(pd.Timestamp(now), NoForecast("web", "no forecast: not scripted"))}


class Hold:
    name = "hold"

    def initial_capacity(self) -> int:
        return 20

    def desired(self, observation: Observation) -> int:
        return observation.desired


def parity_replay(policy: DecisionPolicy) -> tuple[list[int], PredictivePolicy]:
    ds, y, paths = parity_trace()
    predictive = PredictivePolicy(
        forecaster=Scripted(paths, ds), target=PARITY, unique_id="web", step_seconds=STEP, decision_steps=5,
        horizon_steps=T_HORIZON, start_step=T_START, refit_every_seconds=86_400, before_start=Hold(),
        clock=FixedClock(NOON), decision_policy=policy, slo_alarm=False, n_steps=len(ds),
    )  # fmt: skip
    desired = [predictive.initial_capacity()]
    for step in range(1, T_START + T_ROUNDS):
        observation = Observation(
            step=step, now=ds[step].to_pydatetime().replace(tzinfo=UTC), ds=ds[:step].to_numpy(), load=y[:step],
            in_service=np.asarray(desired[:step]), desired=desired[-1],
        )  # fmt: skip
        desired.append(predictive.desired(observation))
    return desired, predictive


def test_with_tracking_the_decider_gives_the_replays_capacities_round_by_round(memory, clock):
    # GIVEN loads with bursts and forecasts missing at one decision round in three, replayed with tracking on ...
    world = memory([PARITY])
    decider = world.components.decider
    decider = replace(decider, policy=replace(decider.policy, reactive_tracking=True))
    # (the harness feeds the decider a new forecast every decision interval: no surprise decisions)
    replay_desired, predictive = parity_replay(replace(decider.policy, surprise_decisions=False))
    ds, y, paths = parity_trace()
    world.archive.write_history("web", pd.DataFrame({"ds": ds[: T_START - 1], "y": y[: T_START - 1]}), part_id="seed")
    # ... and fed round by round to the decider (a new forecast at each decision round, the same one between)
    lambda_desired = list(replay_desired[:T_START])
    forecast_id, issued = "", NOON
    for step in range(T_START, T_START + T_ROUNDS):
        now = ds[step].to_pydatetime().replace(tzinfo=UTC)
        clock.current = now + timedelta(seconds=7)
        world.archive.write_history(
            "web", pd.DataFrame({"ds": ds[step - 1 : step], "y": y[step - 1 : step]}), part_id=f"r{step:05d}"
        )
        path = paths.get(step)
        if step % 5 == 0:
            world.archive.compact_day("web", now.date())
            forecast_id, issued = f"f-{step}", now
            world.store.put_forecast(
                StoredForecast.from_path(path, forecast_id=forecast_id, model_version="scripted", history_end=now)
                if path is not None
                else StoredForecast(
                    target_id="web", forecast_id=forecast_id, issued_at=now, model_version="scripted",
                    confidence=0.0, history_end=now, no_forecast_reason="no forecast: not scripted",
                )
            )  # fmt: skip
        reason = None if paths.get(step - step % 5) is not None else "no forecast: not scripted"
        summary = ForecastSummary(
            target_id="web", forecast_id=forecast_id, issued_at=issued, history_end=now - timedelta(seconds=STEP),
            step_seconds=STEP, horizon_steps=T_HORIZON, model_version="scripted", confidence=0.0 if reason else 0.8,
            no_forecast_reason=reason, desired_capacity=lambda_desired[-1], in_service_capacity=lambda_desired[-1],
            recent_load=float(y[step - 1]),
        )  # fmt: skip
        (outcome,) = decider.decide_batch(ForecastReady(round_id=f"r-{step}", forecasts=[summary]))
        lambda_desired.append(outcome.desired)
        # THEN every round the decider's capacity is the replay's
        assert lambda_desired[-1] == replay_desired[step], f"step {step}"
    # AND target tracking was in play: between decisions, reactive rounds moved capacity both ways
    moved = [
        (step, replay_desired[step - 1], replay_desired[step])
        for step in range(T_START + 1, T_START + T_ROUNDS)
        if step % 5 and replay_desired[step] != replay_desired[step - 1]
    ]
    assert any(after > before for _, before, after in moved) and any(after < before for _, before, after in moved)
    assert sum(decision.reactive for _, decision in predictive.decisions) >= 5
    # AND without tracking the replay decides otherwise
    untracked, _ = parity_replay(replace(decider.policy, reactive_tracking=False, surprise_decisions=False))
    assert untracked != replay_desired
