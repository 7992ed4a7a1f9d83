"""The replay and the deployed pipeline scale alike: the same trace, the same desired capacity at every step.

One trace (a day of warm-up, then three hours at a 15-minute decision cadence on 5-minute periods, with
a burst the forecast does not know about) goes through :func:`run_replay` and through the Lambda
functions on moto's server (collector, forecaster, decider, executor; the alarm responder when the decider
finds the target breaching its SLO). The forecast is made deterministic on both sides by one scripted forecasting service (a
daily shape that leaves the burst out): the replay is given it directly, the forecaster Lambda gets it
as the fallback model its loader hands out.

The decider detects the breach every round (``functions/services/decider_slo.py``) and publishes
``SloBreached``, which the alarm responder's rule (built from the contract) takes. The test also evaluates
the rule independently of both (``load / (in-service x capacity per instance)`` greater than
``slo_utilization``, ``SLO_ALARM_DATAPOINTS_TO_ALARM`` of ``SLO_ALARM_EVALUATION_PERIODS`` periods) on the
loads put in CloudWatch and the group's in-service count on moto, and checks that the responder ran at
exactly those periods, and at the replay's.

What cannot match by construction, and how the parameters avoid it:

- moto's instances are in service as soon as they are asked for; the replay's are after ``boot_seconds``.
  The target boots in 0 s, so in both the in-service count of a period is the desired capacity set at
  its start.
- The replay's alarm responder sizes from the in-service count of the period whose datapoint fired the
  alarm; the responder Lambda from the count it describes when the event comes. They differ when the
  fleet changed in between: when the alarm fires at a decision step that changed capacity (on moto the
  decision's instances are then already in service). The burst is placed so that the alarm fires
  between decisions, twice (the test checks it): two periods into the burst, and again after the
  decider scaled in to what the newest load needs at the SLO utilisation while the load kept rising.
- The alarm is evaluated from switch-on on both sides; the warm-up keeps utilisation under the
  threshold, so the alarm would be OK at switch-on anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest
from e2e_support import STEP, Pipeline, daily_shape, metric_for

from functions.domain.reactive import SLO_ALARM_DATAPOINTS_TO_ALARM, SLO_ALARM_EVALUATION_PERIODS
from functions.domain.replay.runner import run_replay
from functions.domain.replay.scenario import Scenario
from functions.domain.target import ScalingTarget
from functions.domain.trace import Trace
from functions.services.model_registry import ModelLoader
from models.api import BusinessWindow, ForecastPath, NoForecast

pytestmark = pytest.mark.integration

DAY = 86_400
INTERVAL = 3 * STEP  # a decision every third period: the alarm can fire between decisions
WARMUP_START = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)  # switch-on a day later, at 09:00 (a decision step)
DECIDED_STEPS = 36  # three hours after switch-on
BURST = slice(0, 15)  # steps after switch-on whose load is SURGE times the usual (09:00-10:15)
SURGE = 2.2
BUDGET_CLAUSE = re.compile(r"SLO budget [^;]*")  # the reason's budget clause (loads are shown with a unit only here)
SCENARIO = Scenario(
    capacity_per_instance=100.0,
    boot_seconds=0,  # moto's instances are in service at once (module docstring)
    min_instances=1,
    max_instances=60,
    warmup_days=1.0,
    forecast_lead_days=0.0,
    decision_interval_seconds=INTERVAL,
)


def usual_load(ds: pd.DatetimeIndex) -> np.ndarray:
    """The load of an ordinary day (what the scripted forecast predicts)."""
    return np.round(daily_shape(ds, base=600.0, peak=900.0, peak_hour=11.0, width_hours=2.0), 1)


def the_trace() -> Trace:
    warmup = DAY // STEP
    ds = pd.date_range(WARMUP_START.replace(tzinfo=None), periods=warmup + DECIDED_STEPS, freq=f"{STEP}s")
    y = usual_load(ds)
    burst = slice(warmup + BURST.start, warmup + BURST.stop)
    y[burst] = np.round(SURGE * y[burst], 1)
    return Trace(ds=ds, y=y, step_seconds=STEP, name="web")


@dataclass
class Scripted:
    """A forecasting service whose forecast is the usual day from ``now`` on, whatever the history says."""

    unique_id: str

    def fit(self, history: pd.DataFrame, *, now: datetime, events: list[BusinessWindow]) -> Scripted:
        return self

    def forecast(
        self, history: pd.DataFrame, *, now: datetime, horizon_steps: int, events: list[BusinessWindow]
    ) -> dict[str, ForecastPath | NoForecast]:
        start = pd.Timestamp(now)
        start = start.tz_convert(None) if start.tz is not None else start
        ds = pd.date_range(start, periods=horizon_steps, freq=f"{STEP}s")
        p50 = usual_load(ds)
        issued = start.to_pydatetime().replace(tzinfo=UTC)
        path = ForecastPath(
            self.unique_id, issued, ds, p50, np.round(1.1 * p50, 1), np.round(1.25 * p50, 1), 0.8, "scripted"
        )
        return {self.unique_id: path}


@dataclass
class SloRule:
    """The SLO breach rule (see the module docstring), written apart from the replay's
    :func:`~functions.domain.reactive.slo_alarm_step` and the decider's use of it, so that the three are compared."""

    threshold: float
    periods: int = SLO_ALARM_EVALUATION_PERIODS
    to_alarm: int = SLO_ALARM_DATAPOINTS_TO_ALARM
    datapoints: list[float] = field(default_factory=list)
    in_alarm: bool = False

    def evaluate(self, utilisation: float) -> bool:
        """Add one period's datapoint; True when the alarm goes from OK to ALARM with it."""
        self.datapoints.append(utilisation)
        recent = self.datapoints[-self.periods :]
        now_in_alarm = sum(1 for value in recent if value > self.threshold) >= self.to_alarm
        fired = now_in_alarm and not self.in_alarm
        self.in_alarm = now_in_alarm
        return fired


def in_service(pipeline: Pipeline, asg: str) -> int:
    (group,) = pipeline.aws.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[asg])[
        "AutoScalingGroups"
    ]
    return sum(1 for instance in group["Instances"] if instance["LifecycleState"] == "InService")


@pytest.mark.parametrize("surprise", [False, True], ids=["slo-alarm-fires", "surprise-decisions"])
def test_the_replay_and_the_lambda_path_set_the_same_desired_capacities(pipeline: Pipeline, surprise: bool) -> None:
    # GIVEN a trace with a burst the forecast leaves out, replayed with the deployed decider's policy (with
    # surprise decisions, the default, or without them so that the burst is left to the SLO alarm)
    trace = the_trace()
    start = DAY // STEP
    policy = replace(pipeline.components.decider.policy, surprise_decisions=surprise)
    replayed = run_replay(trace, SCENARIO, forecaster=Scripted("web"), policies=("predictive",), decision_policy=policy)
    replay_desired = replayed.runs["predictive"].desired
    # ... and the same target on moto: its group as the replay's fleet was at switch-on, the warm-up day
    # in its history, the scripted forecast as the forecaster's model
    resolved = SCENARIO.resolve(trace)
    asg = f"{pipeline.aws.prefix}-web"
    target = ScalingTarget.model_validate(
        resolved.target(trace.name).model_dump() | {"asg_name": asg, "metric": metric_for(asg).model_dump()}
    )
    tid = target.target_id
    pipeline.aws.create_asg(asg, desired=int(replay_desired[start - 1]), min_size=1, max_size=60)
    pipeline.aws.put_targets([target])
    pipeline.seed_history(tid, trace.ds[: start - 1], trace.y[: start - 1])
    scripted = cast(Any, Scripted(tid))
    components = pipeline.change(
        model_loader=ModelLoader(pipeline.store, pipeline.archive, lambda _step, _effects: scripted)
    )
    pipeline.change(forecaster=replace(components.forecaster, surprise_decisions=surprise))
    alarm = SloRule(threshold=target.slo_utilization)
    serving = in_service(pipeline, asg)
    lambda_desired: list[int] = []
    alarm_steps: list[int] = []
    rule_steps: list[int] = []
    decision_steps: list[int] = []
    forecast_id = ""
    # WHEN every period: the load of the period just ended reaches CloudWatch and the scheduled round runs
    # (the decider evaluates the SLO rule on that period's utilisation; the responder runs on a breach)
    for t in range(start, len(trace)):
        at = trace.ds[t].to_pydatetime().replace(tzinfo=UTC)
        ended = trace.ds[t - 1].to_pydatetime().replace(tzinfo=UTC)
        pipeline.put_load(target, ended, float(trace.y[t - 1]))
        delivered = pipeline.run_round(at + timedelta(seconds=10))
        latest = pipeline.store.latest_forecast(tid)
        if latest is not None and latest.forecast_id != forecast_id:  # a new forecast: a decision round
            forecast_id = latest.forecast_id
            decision_steps.append(t - start)
        assert all(d.error is None for d in delivered), [(d.function, d.error) for d in delivered]
        utilisation = float(trace.y[t - 1]) / (serving * float(target.capacity_per_instance))
        if alarm.evaluate(utilisation):
            rule_steps.append(t - start)
        if any(d.function == "alarm_responder" and d.result["status"] == "decided" for d in delivered):
            alarm_steps.append(t - start)
        lambda_desired.append(pipeline.aws.asg_desired(asg)[0])
        serving = in_service(pipeline, asg)
    # THEN the group's desired capacity after every period is the replay's, step for step
    expected = [int(v) for v in replay_desired[start:]]
    assert lambda_desired == expected, "\n".join(
        f"+{k * STEP // 60:3d} min: replay {r:3d} lambda {m:3d}{'  <-' if r != m else ''}"
        for k, (r, m) in enumerate(zip(expected, lambda_desired, strict=True))
    )
    # AND the decisions came at the same steps on both sides
    assert decision_steps == [s - start for s, _ in replayed.decisions], decision_steps
    replay_alarm_steps = [step - start for step, _, _ in replayed.alarm_responses]
    assert alarm_steps == replay_alarm_steps, (alarm_steps, replay_alarm_steps)
    # AND the decider's breaches came exactly where the rule, evaluated apart, breached
    assert alarm_steps == rule_steps, (alarm_steps, rule_steps)
    interval_steps = SCENARIO.resolve(trace).decision_steps
    if surprise:
        # AND the burst was decided on the period after it began, between the regular decisions, before the
        # alarm's two periods were up: no alarm
        assert BURST.start + 1 in decision_steps and (BURST.start + 1) % interval_steps, decision_steps
        assert not alarm_steps, alarm_steps
        return
    # AND without surprise decisions the alarm fired at the same steps on both sides, between decisions:
    # when the burst had lasted two periods, and again after the decider scaled in while it went on
    assert len(alarm_steps) == 2 and alarm_steps[0] == BURST.start + SLO_ALARM_DATAPOINTS_TO_ALARM, alarm_steps
    assert not set(alarm_steps) & set(decision_steps), (alarm_steps, decision_steps)
    # AND the SLO budget (auto) was in play on both sides: the burst's under-provisioned minutes raised the
    # margin, and the decisions after it name the budget in their reason, alike
    margins = [margin for _, _, _, margin in replayed.budget_log]
    assert max(margins) > 1.05, margins
    assert pipeline.store.get_target_state(tid).budget_level > 0.05
    reasons = [
        d.reason
        for d in pipeline.store.decisions(
            tid, WARMUP_START, trace.ds[-1].to_pydatetime().replace(tzinfo=UTC) + timedelta(hours=1)
        )
    ]
    replay_reasons = [d.reason for _, d in replayed.decisions]
    clauses = [m.group(0) for m in map(BUDGET_CLAUSE.search, reasons) if m]
    assert clauses and clauses == [m.group(0) for m in map(BUDGET_CLAUSE.search, replay_reasons) if m], clauses
