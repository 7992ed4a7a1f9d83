"""The policies a replay compares: the oracle (the physical limit), the reactive rule, and forescale.

A policy is asked once per step, at the start of step ``t``, for its desired capacity, and it sees an
:class:`Observation` holding only steps ``< t`` (the oracle alone is built with the future, by
definition). The predictive policy runs the project's forecasting service and :func:`decide` exactly
as the forecaster and decider Lambda functions do: a clock the replay moves, a forecast every decision
interval, a refit on the trainer's schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

import numpy as np
import pandas as pd

from functions.domain.calibration import ForecastTracker
from functions.domain.capacity_model import instances_for
from functions.domain.clock import FixedClock
from functions.domain.decision import (
    CurrentCapacity,
    Decision,
    DecisionPolicy,
    TargetState,
    decide,
    is_surprise,
    never_scale_in,
    tracker_for,
    tracking_rule,
    with_tracking,
)
from functions.domain.reactive import (
    AlarmState,
    SloAlarm,
    SloAlarmState,
    TargetTracking,
    alarm_scale_out,
    slo_alarm_step,
    target_tracking_step,
    utilization,
)
from functions.domain.replay.scenario import ResolvedScenario
from functions.domain.slo_budget import BudgetState, budget_clause, budget_pct, observe, with_reference
from functions.domain.target import ScalingTarget
from models.api import ForecastingService, ForecastPath, NoForecast

#: What governs a step of the predictive policy: its newest decision's mode (reactive, and why), or
#: the alarm responder from the moment the SLO alarm fires until the next decision.
MODES: tuple[str, ...] = (
    "forecast",
    "reactive: no forecast",
    "reactive: stale",
    "reactive: low confidence",
    "reactive: no recent load",
    "alarm",
)
FORECAST, ALARM = 0, 5
MODE_OF_WHY = {None: 3, "no_forecast": 1, "stale": 2, "low_confidence": 3, "no_recent_load": 4}


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
    sets the desired capacity.

    Every step (every datapoint of the metric), as the deployment does between decisions:

    - with ``DecisionPolicy.reactive_tracking``, target tracking (:func:`target_tracking_step`) is fed
      the newest datapoint on forescale's own fleet, its alarm counters carried across steps, and
      :func:`with_tracking` applies it: while forescale's newest decision is reactive its capacity applies
      (at a decision step, the larger of it and the decision's), so a reactive forescale scales out at
      least when target tracking would and scales in only after target tracking's sustained-low periods.
      Without a forecast :func:`decide`'s own scale-ins are held (:func:`never_scale_in`, as the decider).
    - the target's SLO alarm (:class:`SloAlarm`, the stack's threshold and periods) is fed the same
      datapoint's utilisation; when it goes to ALARM, the alarm responder's rule
      (:func:`alarm_scale_out`) raises the capacity, as the responder Lambda does.

    ``modes[t]`` says what governed step ``t`` (an index into :data:`MODES`; -1 before switch-on).

    In a deployment the decider evaluates the same rule (:func:`slo_alarm_step`, the same ``SLO_ALARM_*``
    constants) every round and publishes ``SloBreached`` when it fires; the alarm responder Lambda sizes with
    the same :func:`alarm_scale_out`, from the group's desired and in-service capacity when the event comes. Target tracking runs in the decider, which the
    forecaster invokes every collection round (``ForecasterService.every_round``), its counters and the
    newest decision's mode kept in the target's stored state.
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
    #: run the target's SLO alarm and its responder between decisions (as a deployment does)
    slo_alarm: bool = True
    #: history the forecaster Lambda loads for a forecast, and the trainer for a fit
    forecast_history_days: float = 8.0
    fit_history_days: float = 21.0
    name: str = "predictive"
    n_steps: int = 0
    decisions: list[tuple[int, Decision]] = field(default_factory=list, init=False)
    band_p50: np.ndarray = field(init=False)
    band_p99: np.ndarray = field(init=False)
    fits: int = field(default=0, init=False)
    #: decisions made between the regular ones because a datapoint outgrew the capacity (``surprise_decisions``)
    surprises: int = field(default=0, init=False)
    _state: TargetState = field(default_factory=TargetState, init=False)
    _last_interval: int | None = field(default=None, init=False)
    _last_fit_slot: int | None = field(default=None, init=False)
    _last_reference_day: int | None = field(default=None, init=False)
    _tracker: ForecastTracker = field(init=False)
    #: what governed each step (index into MODES), and the alarm responses (step, before, after)
    modes: np.ndarray = field(init=False)
    alarm_responses: list[tuple[int, int, int]] = field(default_factory=list, init=False)
    _tracking_rule: TargetTracking = field(init=False)
    _tracking: AlarmState = field(default_factory=AlarmState, init=False)
    _slo_rule: SloAlarm = field(init=False)
    _slo: SloAlarmState = field(default_factory=SloAlarmState, init=False)
    _mode: int = field(default=-1, init=False)
    #: the SLO budget's controller (functions/domain/slo_budget.py), fed every datapoint from switch-on
    budget: BudgetState = field(default_factory=BudgetState, init=False)
    #: per decision: (step, budget %, spend % over the window, margin)
    budget_log: list[tuple[int, float | None, float | None, float]] = field(default_factory=list, init=False)
    #: whether the newest decision was reactive (what the decider stores as the target's ``reactive_why``)
    _reactive: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        window_steps = math.ceil((self.target.boot_seconds + self.target.decision_interval_seconds) / self.step_seconds)
        self._tracker = tracker_for(self.target, self.decision_policy)
        self._window_steps = window_steps
        self._boot_steps = math.ceil(self.target.boot_seconds / self.step_seconds)
        self.band_p50 = np.full(self.n_steps, np.nan)
        self.band_p99 = np.full(self.n_steps, np.nan)
        self.modes = np.full(self.n_steps, -1, dtype=np.int8)
        self._tracking_rule = tracking_rule(self.target, self.step_seconds)
        self._slo_rule = SloAlarm(threshold=self.target.slo_utilization)

    def initial_capacity(self) -> int:
        return self.before_start.initial_capacity()

    def desired(self, observation: Observation) -> int:
        if observation.step < self.start_step:
            return self.before_start.desired(observation)
        current = observation.desired
        tracked, fired = current, False
        if len(observation.load):
            load, in_service = float(observation.load[-1]), int(observation.in_service[-1])
            self.budget = observe(
                self.budget,
                stamps_ns=(int(observation.ds[-1].astype(np.int64)),),
                loads=(load,),
                in_service=(in_service,),
                target=self.target,
                priced=self._mode == FORECAST,
            )
            tracked, self._tracking = target_tracking_step(
                self._tracking_rule, self._tracking, load=load, in_service=in_service, desired=current
            )
            level = (
                math.nan
                if math.isnan(load)
                else utilization(
                    load, in_service=in_service, capacity_per_instance=self._tracking_rule.capacity_per_instance
                )
            )
            self._slo, fired = slo_alarm_step(self._slo_rule, self._slo, level)
        interval = int(observation.now.timestamp()) // self.target.decision_interval_seconds
        value, decided = current, interval != self._last_interval
        if not decided and self.decision_policy.surprise_decisions and len(observation.load):
            newest = float(observation.load[-1])
            decided = is_surprise(self.target, load=None if math.isnan(newest) else newest, desired=current)
            self.surprises += int(decided)
        if decided:
            self._last_interval = interval
            value = self._decide(observation)
        value = with_tracking(
            self.decision_policy,
            reactive=self._reactive,
            current=current,
            tracked=tracked,
            decided=value if decided else None,
        )
        if fired and self.slo_alarm:
            raised = alarm_scale_out(
                self.target,
                desired=value,
                in_service=int(observation.in_service[-1]),
                datapoints=self._slo.datapoints(),
            )
            if raised > value:
                self.alarm_responses.append((observation.step, value, raised))
                self._state = replace(self._state, last_scale_out_at=observation.now, plan_lower_since=None)
                self._mode = ALARM
                value = raised
        self.modes[observation.step] = self._mode
        return value

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
        day = int(now.timestamp()) // 86_400
        if self.target.slo_budget.under_provisioning_pct == "auto" and day != self._last_reference_day:
            # the auto budget's reference, daily at the first decision of the UTC day (as the decider)
            self._last_reference_day = day
            window = int(self.target.slo_budget.window_days * 86_400 / self.step_seconds)
            self.budget = with_reference(
                self.budget,
                load=observation.load[-window:],
                target=self.target,
                now_ns=int(pd.Timestamp(now).value),
            )
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
            margin=self.budget.margin,
            margin_clause=budget_clause(self.target, self.budget),
        )
        self.budget_log.append(
            (observation.step, budget_pct(self.target, self.budget), self.budget.spend_pct, self.budget.margin)
        )
        if isinstance(forecast, NoForecast):
            decision = never_scale_in(decision, state=self._state)
        self._state = decision.state
        self._reactive = decision.reactive
        self._mode = MODE_OF_WHY[decision.reactive_why] if decision.reactive else FORECAST
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
