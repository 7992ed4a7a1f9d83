"""Run a trace through the policies, step by step, against the fleet model, and score them."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC

import numpy as np

from functions.domain.clock import FixedClock
from functions.domain.decision import Decision, DecisionPolicy
from functions.domain.fleet import Fleet, demand
from functions.domain.replay.policies import (
    Observation,
    OraclePolicy,
    Policy,
    PredictivePolicy,
    reactive_policy,
)
from functions.domain.replay.scenario import ResolvedScenario, Scenario
from functions.domain.replay.scores import Scores, score
from functions.domain.target import ScalingTarget
from functions.domain.trace import Trace
from models.api import ForecastingService

POLICY_NAMES: tuple[str, ...] = ("predictive", "reactive", "oracle")


@dataclass(frozen=True)
class PolicyRun:
    """One policy's capacity over the trace and its scores."""

    name: str
    desired: np.ndarray
    in_service: np.ndarray
    alive: np.ndarray
    scores: Scores


@dataclass(frozen=True)
class ReplayResult:
    """Everything a report needs: the trace, the resolved scenario, each policy's run, forecast band."""

    trace: Trace
    resolved: ResolvedScenario
    demand: np.ndarray
    runs: dict[str, PolicyRun]
    band_p50: np.ndarray
    band_p99: np.ndarray
    decisions: list[tuple[int, Decision]]
    fits: int
    #: what governed each step of the predictive policy (index into policies.MODES; -1: not switched on)
    modes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    #: the SLO alarm responder's scale-outs: (step, capacity before, capacity after)
    alarm_responses: list[tuple[int, int, int]] = field(default_factory=list)
    #: per decision of the predictive policy: (step, SLO budget %, spend % over its window, margin)
    budget_log: list[tuple[int, float | None, float | None, float]] = field(default_factory=list)

    @property
    def scored_from(self) -> int:
        return self.resolved.warmup_steps


def horizon_steps(target: ScalingTarget, *, plan_seconds: int = 3600) -> int:
    """Forecast steps a decision needs: its window, one more boot time (scale-in look-ahead), and the plan."""
    seconds = max(plan_seconds, 2 * target.boot_seconds + target.decision_interval_seconds)
    return math.ceil(seconds / target.metric.period_seconds) + 1


def predictive_policy(
    trace: Trace,
    resolved: ResolvedScenario,
    forecaster: ForecastingService,
    *,
    decision_policy: DecisionPolicy | None = None,
) -> PredictivePolicy:
    """forescale as the replay runs it (see :class:`PredictivePolicy`): switched on ``forecast_lead_days``
    before scoring starts, reactive before that."""
    s = resolved.scenario
    target = resolved.target(trace.name)
    start = max(0, resolved.warmup_steps - round(s.forecast_lead_days * 86_400 / resolved.step_seconds))
    return PredictivePolicy(
        forecaster=forecaster,
        target=target,
        unique_id=trace.name,
        step_seconds=resolved.step_seconds,
        decision_steps=resolved.decision_steps,
        horizon_steps=horizon_steps(target, plan_seconds=s.plan_horizon_seconds),
        start_step=start,
        refit_every_seconds=s.refit_every_seconds,
        before_start=reactive_policy(resolved, trace.y),
        clock=FixedClock(trace.ds[0].to_pydatetime().replace(tzinfo=UTC)),
        decision_policy=decision_policy or DecisionPolicy(),
        n_steps=len(trace),
    )


def run_replay(
    trace: Trace,
    scenario: Scenario | None = None,
    *,
    forecaster: ForecastingService | None = None,
    policies: Sequence[str] = POLICY_NAMES,
    decision_policy: DecisionPolicy | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Replay ``trace`` through ``policies`` (``predictive`` needs ``forecaster``) and score each one.

    ``progress`` is called with the number of steps done since the last call (for a progress bar).
    """
    unknown = set(policies) - set(POLICY_NAMES)
    if unknown:
        raise ValueError(f"policies: unknown {sorted(unknown)}; choose from {list(POLICY_NAMES)}")
    resolved = (scenario or Scenario()).resolve(trace)
    s = resolved.scenario
    load = trace.y
    need = demand(
        load,
        capacity_per_instance=resolved.capacity_per_instance,
        slo_utilization=s.slo_utilization,
        min_instances=s.min_instances,
    )
    chosen: dict[str, Policy] = {}
    predictive: PredictivePolicy | None = None
    for name in policies:
        if name == "oracle":
            chosen[name] = OraclePolicy(need, resolved.boot_steps, s.min_instances, s.max_instances)
        elif name == "reactive":
            chosen[name] = reactive_policy(resolved, load)
        else:
            if forecaster is None:
                raise ValueError("forecaster: the predictive policy needs a forecasting service")
            predictive = predictive_policy(trace, resolved, forecaster, decision_policy=decision_policy)
            chosen[name] = predictive

    n = len(trace)
    ds = trace.ds.to_numpy(dtype="datetime64[ns]")
    stamps = [moment.replace(tzinfo=UTC) for moment in trace.ds.to_pydatetime()]
    fleets = {name: Fleet(resolved.boot_steps, policy.initial_capacity()) for name, policy in chosen.items()}
    desired = {name: np.zeros(n, dtype=np.int64) for name in chosen}
    in_service = {name: np.zeros(n, dtype=np.int64) for name in chosen}
    alive = {name: np.zeros(n, dtype=np.int64) for name in chosen}
    previous = {name: policy.initial_capacity() for name, policy in chosen.items()}
    tick = max(1, n // 200)
    for t in range(n):
        for name, policy in chosen.items():
            observation = Observation(
                step=t,
                now=stamps[t],
                ds=ds[:t],
                load=load[:t],
                in_service=in_service[name][:t],
                desired=previous[name],
            )
            value = int(policy.desired(observation))
            if value < 0:
                raise ValueError(f"{name}: desired {value} at step {t} is negative")
            fleet = fleets[name]
            fleet.set_desired(t, value)
            desired[name][t] = value
            in_service[name][t] = fleet.in_service(t)
            alive[name][t] = fleet.alive
            previous[name] = value
        if progress is not None and ((t + 1) % tick == 0 or t + 1 == n):
            progress(tick if (t + 1) % tick == 0 else (t + 1) % tick)

    oracle_hours: float | None = None
    order = sorted(chosen, key=lambda name: name != "oracle")
    runs: dict[str, PolicyRun] = {}

    def scored(name: str, oracle_hours: float | None) -> Scores:
        return score(
            load=load,
            demand=need,
            desired=desired[name],
            in_service=in_service[name],
            alive=alive[name],
            capacity_per_instance=resolved.capacity_per_instance,
            step_seconds=resolved.step_seconds,
            warmup_steps=resolved.warmup_steps,
            oracle_instance_hours=oracle_hours,
        )

    for name in order:
        result = scored(name, oracle_hours)
        if name == "oracle":  # its own cost ratio needs its own instance-hours
            oracle_hours = result.instance_hours
            result = scored(name, oracle_hours)
        runs[name] = PolicyRun(name, desired[name], in_service[name], alive[name], result)
    runs = {name: runs[name] for name in chosen}
    empty = np.full(n, np.nan)
    return ReplayResult(
        trace=trace,
        resolved=resolved,
        demand=need,
        runs=runs,
        band_p50=predictive.band_p50 if predictive else empty,
        band_p99=predictive.band_p99 if predictive else empty,
        decisions=predictive.decisions if predictive else [],
        fits=predictive.fits if predictive else 0,
        modes=predictive.modes if predictive else np.full(n, -1, dtype=np.int8),
        alarm_responses=predictive.alarm_responses if predictive else [],
        budget_log=predictive.budget_log if predictive else [],
    )
