"""The policies a replay compares: the oracle (the physical limit), the reactive rule, and forescale.

A policy is asked once per step, at the start of step ``t``, for its desired capacity, and it sees an
:class:`Observation` holding only steps ``< t`` (the oracle alone is built with the future, by
definition). The predictive policy runs the project's forecasting service and :func:`decide` exactly
as the forecaster and decider Lambda functions do: a clock the replay moves, a forecast every decision
interval, a refit on the trainer's schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import numpy as np
import pandas as pd

from functions.domain.calibration import ForecastTracker
from functions.domain.capacity_model import instances_for
from functions.domain.clock import FixedClock
from functions.domain.decision import CurrentCapacity, Decision, DecisionPolicy, TargetState, decide, tracker_for
from functions.domain.reactive import AlarmState, TargetTracking, target_tracking_step
from functions.domain.replay.scenario import ResolvedScenario
from functions.domain.target import ScalingTarget
from models.api import ForecastingService, ForecastPath, NoForecast


@dataclass(frozen=True)
class Observation:
    """What a policy may know at the start of step ``step``: loads and its own fleet of steps before."""

    step: int
    now: datetime
    ds: np.ndarray  # datetime64[ns] of steps < step
    load: np.ndarray  # loads of steps < step (NaN = unknown)
    in_service: np.ndarray  # the policy's in-service counts of steps < step
    desired: int  # the policy's desired capacity of step - 1


class Policy(Protocol):
    name: str

    def initial_capacity(self) -> int: ...

    def desired(self, observation: Observation) -> int: ...


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _first_known(load: np.ndarray) -> float:
    known = load[~np.isnan(load)]
    return float(known[0]) if len(known) else 0.0


@dataclass
class OraclePolicy:
    """Knows the future: ``desired_t = max(d_s for s in [t, t + boot_steps])`` (unknown steps skipped)."""

    demand: np.ndarray
    boot_steps: int
    min_capacity: int
    max_capacity: int
    name: str = "oracle"
    _plan: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.demand)
        plan = np.full(n, -1, dtype=np.int64)
        padded = np.concatenate([self.demand, np.full(self.boot_steps, -1, dtype=np.int64)])
        for shift in range(self.boot_steps + 1):
            plan = np.maximum(plan, padded[shift : shift + n])
        self._plan = plan

    def initial_capacity(self) -> int:
        return self.desired_at(0, previous=self.min_capacity)

    def desired_at(self, step: int, *, previous: int) -> int:
        value = int(self._plan[step])
        if value < 0:
            return previous
        return _clamp(value, self.min_capacity, self.max_capacity)

    def desired(self, observation: Observation) -> int:
        return self.desired_at(observation.step, previous=observation.desired)


@dataclass
class ReactivePolicy:
    """AWS target tracking (:mod:`functions.domain.reactive`) fed the newest observed datapoint each step."""

    rule: TargetTracking
    initial: int
    name: str = "reactive"
    _alarms: AlarmState = field(default_factory=AlarmState, init=False)

    def initial_capacity(self) -> int:
        return self.initial

    def desired(self, observation: Observation) -> int:
        if observation.step == 0:
            return observation.desired
        desired, self._alarms = target_tracking_step(
            self.rule,
            self._alarms,
            load=float(observation.load[-1]),
            in_service=int(observation.in_service[-1]),
            desired=observation.desired,
        )
        return desired


def reactive_policy(resolved: ResolvedScenario, load: np.ndarray) -> ReactivePolicy:
    s = resolved.scenario
    rule = TargetTracking(
        capacity_per_instance=resolved.capacity_per_instance,
        target_utilization=s.target_utilization,
        min_capacity=s.min_instances,
        max_capacity=s.max_instances,
        step_seconds=resolved.step_seconds,
    )
    initial = instances_for(_first_known(load), resolved.capacity_per_instance * s.target_utilization)
    return ReactivePolicy(rule=rule, initial=_clamp(initial, s.min_instances, s.max_instances))


@dataclass
class PredictivePolicy:
    """forescale: the forecasting service and :func:`decide`, on the production cadence.

    Before ``start_step`` forescale is not yet switched on and the fleet follows ``before_start`` (the
    reactive rule a team runs before adopting forescale). From ``start_step`` on, it decides once per
    decision interval, at the first step of each interval (intervals aligned on the epoch, as the
    forecaster Lambda's "due" rule does): the clock is set to the step's start, the service is refitted
    when the trainer's schedule says so (``refit_every_seconds``, aligned on the epoch: daily at 00:00
    UTC) on the last ``fit_history_days``, a forecast of ``horizon_steps`` is asked for with the last
    ``forecast_history_days`` of steps ``< t`` (what the forecaster Lambda loads), and :func:`decide`
    sets the desired capacity. In between, the capacity holds.
    """

    forecaster: ForecastingService
    target: ScalingTarget
    unique_id: str
    step_seconds: int
    decision_steps: int
    horizon_steps: int
    start_step: int
    refit_every_seconds: int
    before_start: Policy
    clock: FixedClock
    decision_policy: DecisionPolicy = field(default_factory=DecisionPolicy)
    #: history the forecaster Lambda loads for a forecast, and the trainer for a fit
    forecast_history_days: float = 8.0
    fit_history_days: float = 21.0
    name: str = "predictive"
    n_steps: int = 0
    decisions: list[tuple[int, Decision]] = field(default_factory=list, init=False)
    band_p50: np.ndarray = field(init=False)
    band_p99: np.ndarray = field(init=False)
    fits: int = field(default=0, init=False)
    _state: TargetState = field(default_factory=TargetState, init=False)
    _last_interval: int | None = field(default=None, init=False)
    _last_fit_slot: int | None = field(default=None, init=False)
    _tracker: ForecastTracker = field(init=False)

    def __post_init__(self) -> None:
        window_steps = math.ceil((self.target.boot_seconds + self.target.decision_interval_seconds) / self.step_seconds)
        self._tracker = tracker_for(self.target, self.decision_policy)
        self._window_steps = window_steps
        self._boot_steps = math.ceil(self.target.boot_seconds / self.step_seconds)
        self.band_p50 = np.full(self.n_steps, np.nan)
        self.band_p99 = np.full(self.n_steps, np.nan)

    def initial_capacity(self) -> int:
        return self.before_start.initial_capacity()

    def desired(self, observation: Observation) -> int:
        if observation.step < self.start_step:
            return self.before_start.desired(observation)
        interval = int(observation.now.timestamp()) // self.target.decision_interval_seconds
        if interval == self._last_interval:
            return observation.desired
        self._last_interval = interval
        return self._decide(observation)

    def _history(self, observation: Observation, days: float) -> pd.DataFrame:
        first = max(0, len(observation.load) - int(days * 86_400 / self.step_seconds))
        load, ds = observation.load[first:], observation.ds[first:]
        known = ~np.isnan(load)
        return pd.DataFrame({"unique_id": self.unique_id, "ds": ds[known], "y": load[known]})

    def _decide(self, observation: Observation) -> int:
        self.clock.current = observation.now
        now = self.clock.now()
        naive_now = now.astimezone(UTC).replace(tzinfo=None)
        slot = int(now.timestamp()) // self.refit_every_seconds
        if self._last_fit_slot != slot:
            self.forecaster.fit(self._history(observation, self.fit_history_days), now=naive_now, events=[])
            self._last_fit_slot = slot
            self.fits += 1
        history = self._history(observation, self.forecast_history_days)
        paths = self.forecaster.forecast(history, now=naive_now, horizon_steps=self.horizon_steps, events=[])
        forecast = paths.get(self.unique_id, NoForecast(self.unique_id, "the service returned nothing for the target"))
        now_ns = int(pd.Timestamp(now).value)
        self._tracker.observe(observation.ds.astype(np.int64), observation.load, now_ns=now_ns)
        calibration = self._tracker.calibration(now_ns=now_ns)
        recent = float(observation.load[-1]) if len(observation.load) else math.nan
        decision = decide(
            forecast,
            current=CurrentCapacity(
                desired=observation.desired,
                in_service=int(observation.in_service[-1]) if len(observation.in_service) else 0,
                recent_load=None if math.isnan(recent) else recent,
            ),
            target=self.target,
            state=self._state,
            now=now,
            calibration=calibration,
            policy=self.decision_policy,
        )
        self._state = decision.state
        self.decisions.append((observation.step, decision))
        if isinstance(forecast, ForecastPath):
            self._record_band(observation, forecast)
            self._tracker.record(forecast, now_ns=now_ns, bias=calibration.bias)
        return decision.desired

    def _record_band(self, observation: Observation, forecast: ForecastPath) -> None:
        """Keep the forecast of the steps this decision's launches serve (lead ``boot``) for the report."""
        offsets = np.rint(
            (forecast.ds.asi8 - int(pd.Timestamp(observation.now).value)) / (self.step_seconds * 10**9)
        ).astype(np.int64)
        lead = (offsets >= self._boot_steps) & (offsets < self._boot_steps + self.decision_steps)
        steps = observation.step + offsets[lead]
        inside = steps < self.n_steps
        self.band_p50[steps[inside]] = forecast.p50[lead][inside]
        self.band_p99[steps[inside]] = forecast.p99[lead][inside]
