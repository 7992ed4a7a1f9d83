"""The decider Lambda runs what the replay measures: the same forecast record, the same decisions.

The replay's predictive policy keeps a :class:`ForecastTracker` in memory; the decider stores it (one
object per target, :mod:`functions.adapters.tracker_records`) between invocations and scores it against the history the collector wrote. Driven over
the same loads and forecasts, both must calibrate identically and decide identically.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta

import numpy as np
import pandas as pd
import pytest
from service_support import NOON, target

from events.contracts import ForecastReady, ForecastSummary
from functions.adapters import tracker_codec
from functions.adapters.errors import ConflictError
from functions.domain.calibration import ForecastTracker
from functions.domain.clock import FixedClock
from functions.domain.decision import DecisionPolicy, tracker_for
from functions.domain.replay.policies import Observation, PredictivePolicy
from functions.domain.target import LoadMetric
from functions.ports.records import StoredForecast
from models.api import ForecastPath, NoForecast

STEP = 60
HORIZON = 30
START = 40  # steps of history before forescale decides
ROUNDS = 150  # decisions: 3 ratios each, so the record passes the 200 samples the engine asks for
T0 = NOON - timedelta(seconds=START * STEP)
TARGET = target(
    "web",
    metric=LoadMetric(namespace="T/Load", name="Requests", dimensions={"Target": "web"}, period_seconds=STEP),
    boot_seconds=120,
    decision_interval_seconds=STEP,
    scale_in_stabilization_seconds=300,
    max_step_down=3,
)


def stored_state(world) -> dict | None:
    """The record the decider stored for ``web``, decoded (None when there is none)."""
    stored = world.tracker_records.get("web")
    return None if stored is None else tracker_codec.decode(stored.body)


def trace() -> tuple[pd.DatetimeIndex, np.ndarray, dict[int, ForecastPath]]:
    """Loads with a cycle and noise, and a forecast per decision that misses low by ~30 % (a bias to learn)."""
    rng = np.random.default_rng(7)
    n = START + ROUNDS + HORIZON
    ds = pd.date_range(T0.replace(tzinfo=None), periods=n, freq=f"{STEP}s")
    t = np.arange(n)
    y = 1500 + 600 * np.sin(2 * np.pi * t / 90) + rng.normal(0, 80, n)
    paths = {}
    for step in range(START, START + ROUNDS):
        p50 = np.clip(0.7 * y[step : step + HORIZON] * np.exp(rng.normal(0, 0.08, HORIZON)), 0, None)
        paths[step] = ForecastPath(
            "web", ds[step].to_pydatetime().replace(tzinfo=UTC), ds[step : step + HORIZON], p50, p50 * 1.1, p50 * 1.25,
            0.8, "scripted",
        )  # fmt: skip
    return ds, y, paths


class Scripted:
    """A forecasting service that answers each decision with the prepared path (the input both paths share)."""

    def __init__(self, paths: dict[int, ForecastPath], ds: pd.DatetimeIndex) -> None:
        self.by_time = {ds[step]: path for step, path in paths.items()}

    def fit(self, history, *, now, events):
        return self

    def forecast(self, history, *, now, horizon_steps, events):
        return {"web": self.by_time.get(pd.Timestamp(now), NoForecast("web", "not scripted"))}


class Hold:
    name = "hold"

    def initial_capacity(self) -> int:
        return 20

    def desired(self, observation: Observation) -> int:
        return observation.desired


def replay_side(policy: DecisionPolicy):
    ds, y, paths = trace()
    predictive = PredictivePolicy(
        forecaster=Scripted(paths, ds),
        target=TARGET,
        unique_id="web",
        step_seconds=STEP,
        decision_steps=1,
        horizon_steps=HORIZON,
        start_step=START,
        refit_every_seconds=86_400,
        before_start=Hold(),
        clock=FixedClock(NOON),
        decision_policy=policy,
        slo_alarm=False,  # the decider's side below gets no alarm events: the decisions are compared
        n_steps=len(ds),
    )
    desired = [predictive.initial_capacity()]
    states = []
    for step in range(1, START + ROUNDS):
        observation = Observation(
            step=step,
            now=ds[step].to_pydatetime().replace(tzinfo=UTC),
            ds=ds[:step].to_numpy(),
            load=y[:step],
            in_service=np.asarray(desired[:step]),  # instances boot within the step: in service = desired
            desired=desired[-1],
        )
        desired.append(predictive.desired(observation))
        if step >= START:
            states.append(predictive._tracker.to_state())
    return desired, [d for _, d in predictive.decisions], states


def test_the_decider_stores_the_replays_record_and_decides_as_the_replay_does(memory, clock):
    # GIVEN the same loads and forecasts, replayed ...
    world = memory([TARGET])
    policy = world.components.decider.policy
    replay_desired, replay_decisions, replay_states = replay_side(policy)
    ds, y, paths = trace()
    world.archive.write_history(
        "web", pd.DataFrame({"ds": ds[: START - 1], "y": y[: START - 1]}), part_id="r00000-seed"
    )
    # ... and fed round by round to the decider Lambda's service (collector history, stored forecast, event)
    lambda_desired = list(replay_desired[:START])
    for round_index, step in enumerate(range(START, START + ROUNDS)):
        now = ds[step].to_pydatetime().replace(tzinfo=UTC)
        clock.current = now + timedelta(seconds=7)
        world.archive.write_history(
            "web", pd.DataFrame({"ds": ds[step - 1 : step], "y": y[step - 1 : step]}), part_id=f"r{step:05d}"
        )
        world.archive.compact_day("web", now.date())  # as the collector does at each decision boundary
        path = paths[step]
        world.store.put_forecast(
            StoredForecast.from_path(path, forecast_id=f"f-{step}", model_version="scripted", history_end=now)
        )
        summary = ForecastSummary(
            target_id="web",
            forecast_id=f"f-{step}",
            issued_at=now,
            history_end=now - timedelta(seconds=STEP),
            step_seconds=STEP,
            horizon_steps=HORIZON,
            model_version="scripted",
            confidence=path.confidence,
            desired_capacity=lambda_desired[-1],
            in_service_capacity=lambda_desired[-1],
            recent_load=float(y[step - 1]),
        )
        (outcome,) = world.components.decider.decide_batch(ForecastReady(round_id=f"r-{step}", forecasts=[summary]))
        assert outcome.calibration_note is None, outcome.calibration_note
        lambda_desired.append(outcome.desired)
        # THEN after every round the stored record is the replay's, value for value
        assert stored_state(world) == replay_states[round_index], f"round {round_index}"
        # AND the decision is the replay's (capacity, action, the whole reason)
        reference = replay_decisions[round_index]
        assert (outcome.desired, outcome.action, outcome.reason) == (
            reference.desired,
            reference.action,
            reference.reason,
        ), f"round {round_index}"
    assert lambda_desired == replay_desired
    # AND the record was in play: past the engine's sample minimum, with the forecasts' low bias learned
    final = ForecastTracker.from_state(stored_state(world))  # type: ignore[arg-type]
    calibration = final.calibration(now_ns=int(pd.Timestamp(ds[START + ROUNDS]).value))
    assert calibration.samples >= policy.min_calibration_samples
    assert calibration.bias > 1.25
    # AND it changed decisions: the same replay without calibration decides otherwise
    uncalibrated, _, _ = replay_side(replace(policy, min_calibration_samples=10**9, bias_deadband=10.0))
    assert uncalibrated != replay_desired


def first_round(world, clock) -> ForecastSummary:
    """Seed the history and the first scripted forecast; the summary the decider then gets."""
    ds, y, paths = trace()
    world.archive.write_history("web", pd.DataFrame({"ds": ds[:START], "y": y[:START]}), part_id="seed")
    now = ds[START].to_pydatetime().replace(tzinfo=UTC)
    clock.current = now
    world.store.put_forecast(StoredForecast.from_path(paths[START], forecast_id="f-1", model_version="scripted"))
    return ForecastSummary(
        target_id="web", forecast_id="f-1", issued_at=now, history_end=now - timedelta(seconds=STEP),
        step_seconds=STEP, horizon_steps=HORIZON, model_version="scripted", confidence=0.8,
        desired_capacity=20, in_service_capacity=20, recent_load=float(y[START - 1]),
    )  # fmt: skip


def test_a_malformed_record_starts_afresh_and_says_so(memory, clock):
    # GIVEN a stored record that does not describe a tracker
    world = memory([TARGET])
    nonsense = {"settings": {"nonsense": 1}, "pending": [], "ratios": [], "stamps": [], "recent": []}
    first = world.tracker_records.put("web", tracker_codec.encode(nonsense), None)
    summary = first_round(world, clock)
    # WHEN the decider runs
    (outcome,) = world.components.decider.decide_batch(ForecastReady(round_id="r-1", forecasts=[summary]))
    # THEN it decided, said that it started a fresh record, and stored a good one over the bad one
    assert outcome.decision_id is not None
    assert "started afresh" in (outcome.calibration_note or "")
    stored = world.tracker_records.get("web")
    assert stored is not None and stored.version != first
    assert ForecastTracker.from_state(stored_state(world)).to_state()["pending"]  # type: ignore[arg-type]


def test_damaged_bytes_do_not_fail_the_batch(memory, clock):
    # GIVEN a record whose stored bytes are damaged
    world = memory([TARGET])
    world.tracker_records.put("web", b"\x00garbage", None)
    summary = first_round(world, clock)
    (outcome,) = world.components.decider.decide_batch(ForecastReady(round_id="r-1", forecasts=[summary]))
    assert outcome.decision_id is not None
    assert "unreadable" in (outcome.calibration_note or "") and "not zlib data" in outcome.calibration_note
    assert stored_state(world) is not None  # replaced by a readable record


class RacingRecords:
    """The records, with another decider storing its own record right after each read (a lost race)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def get(self, target_id):
        stored = self.inner.get(target_id)
        self.inner.put(target_id, b"the other decider's record", None if stored is None else stored.version)
        return stored

    def put(self, target_id, body, expected_version):
        return self.inner.put(target_id, body, expected_version)


def test_a_lost_race_drops_this_rounds_addition_and_keeps_the_winners_record(memory, clock):
    # GIVEN another decider that stores the record between this decider's read and write
    world = memory([TARGET])
    world.rewire(tracker_records=RacingRecords(world.tracker_records))
    summary = first_round(world, clock)
    # WHEN the decider runs
    (outcome,) = world.components.decider.decide_batch(ForecastReady(round_id="r-1", forecasts=[summary]))
    # THEN it still decided, said its addition was dropped, and the winner's record stands
    assert outcome.decision_id is not None
    assert "another decider stored the forecast record first" in (outcome.calibration_note or "")
    assert world.tracker_records.get("web").body == b"the other decider's record"
    # AND a write naming a stale version is refused by the twin, as S3 refuses it
    stale = world.tracker_records.get("web").version
    world.tracker_records.put("web", b"newer", stale)
    with pytest.raises(ConflictError):
        world.tracker_records.put("web", b"late", stale)


def test_the_decider_reads_the_day_before_so_its_confidence_is_the_replays(memory, clock):
    # GIVEN a day and 40 minutes of loads with a daily cycle, and forecasts 30 % low (worse than the day before)
    world = memory([TARGET])
    policy = world.components.decider.policy
    start = 1440 + 40
    rounds = 12  # 3 steps scored per round: past the 24 the confidence needs
    ds = pd.date_range((NOON - timedelta(seconds=start * STEP)).replace(tzinfo=None), periods=start + 60, freq="60s")
    t = np.arange(len(ds))
    y = 1500 + 600 * np.sin(2 * np.pi * t / 1440) + np.random.default_rng(8).normal(0, 30, len(ds))
    world.archive.write_history("web", pd.DataFrame({"ds": ds[: start - 1], "y": y[: start - 1]}), part_id="seed")
    # and the replay's record, scored against the whole history as PredictivePolicy does
    replayed = tracker_for(TARGET, policy)
    desired = 20
    for step in range(start, start + rounds):
        now = ds[step].to_pydatetime().replace(tzinfo=UTC)
        clock.current = now + timedelta(seconds=7)
        world.archive.write_history(
            "web", pd.DataFrame({"ds": ds[step - 1 : step], "y": y[step - 1 : step]}), part_id=f"r{step}"
        )
        p50 = 0.7 * y[step : step + HORIZON]
        path = ForecastPath("web", now, ds[step : step + HORIZON], p50, p50 * 1.1, p50 * 1.25, 0.8, "scripted")
        world.store.put_forecast(
            StoredForecast.from_path(path, forecast_id=f"f-{step}", model_version="s", history_end=now)
        )
        summary = ForecastSummary(
            target_id="web", forecast_id=f"f-{step}", issued_at=now, history_end=now - timedelta(seconds=STEP),
            step_seconds=STEP, horizon_steps=HORIZON, model_version="s", confidence=0.8,
            desired_capacity=desired, in_service_capacity=desired, recent_load=float(y[step - 1]),
        )  # fmt: skip
        # WHEN the decider Lambda's service decides, and the replay's record sees the same round
        (outcome,) = world.components.decider.decide_batch(ForecastReady(round_id=f"r-{step}", forecasts=[summary]))
        desired = outcome.desired
        now_ns = int(pd.Timestamp(ds[step]).value)
        replayed.observe(ds[:step].asi8, y[:step], now_ns=now_ns)
        replayed.record(path, now_ns=now_ns, bias=replayed.calibration(now_ns=now_ns).bias)
        # THEN the decider's record holds the same errors against seasonal naive, round after round
        assert stored_state(world)["scores"] == replayed.to_state()["scores"], f"step {step}"
    # AND by the end it measures the forecast as worse than the day before: confidence under min_confidence
    final = ForecastTracker.from_state(stored_state(world))  # type: ignore[arg-type]
    measured = final.calibration(now_ns=int(pd.Timestamp(ds[start + rounds]).value))
    assert measured.confidence is not None and measured.confidence < policy.min_confidence
