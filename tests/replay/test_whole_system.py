"""The replay runs every path that moves capacity in a deployment: the SLO alarm responder on the same
datapoints, and target tracking on every datapoint while forescale decides reactively."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd

from functions.domain.decision import DecisionPolicy
from functions.domain.reactive import SloAlarm, SloAlarmState, alarm_scale_out, slo_alarm_step
from functions.domain.replay import Scenario, run_replay
from functions.domain.replay.policies import MODES
from functions.domain.trace import Trace
from models.api import BusinessWindow, ForecastPath, NoForecast

DAY = 1440  # one-minute steps
#: scoring after a day, forescale switched on half a day before; capacity fixed at 10 per instance
SCENARIO = Scenario(warmup_days=1, forecast_lead_days=0.5, capacity_per_instance=10.0)

#: the SLO alarm's tests leave a jump to the alarm: no decision between the regular ones
NO_SURPRISE = DecisionPolicy(surprise_decisions=False)


class Blind:
    """A forecasting service that never forecasts (``level`` None) or always forecasts a flat ``level``."""

    def __init__(self, level: float | None) -> None:
        self.level = level

    def fit(self, history: pd.DataFrame, *, now: datetime, events: list[BusinessWindow]) -> Blind:
        return self

    def forecast(
        self, history: pd.DataFrame, *, now: datetime, horizon_steps: int, events: list[BusinessWindow]
    ) -> dict[str, ForecastPath | NoForecast]:
        out: dict[str, ForecastPath | NoForecast] = {}
        for uid in history["unique_id"].unique():
            if self.level is None:
                out[str(uid)] = NoForecast(str(uid), "blind")
                continue
            flat = np.full(horizon_steps, self.level)
            out[str(uid)] = ForecastPath(
                unique_id=str(uid),
                issued_at=now,
                ds=pd.date_range(pd.Timestamp(now), periods=horizon_steps, freq="60s"),
                p50=flat,
                p90=flat,
                p99=flat,
                confidence=1.0,
                model="flat",
            )
        return out


def minute_trace(segments: list[tuple[int, float]]) -> Trace:
    """Two days at one minute: 20 everywhere except ``(start, load)`` segments up to the next segment."""
    y = np.full(2 * DAY, 20.0)
    for (start, load), nxt in zip(segments, [*segments[1:], (2 * DAY, 0.0)], strict=True):
        y[start : nxt[0]] = load
    ds = pd.date_range("2024-03-04", periods=len(y), freq="60s")
    return Trace(ds=ds, y=y, step_seconds=60, name="minutes")


def test_the_slo_alarm_fires_on_two_of_three_breaching_periods_once_per_episode() -> None:
    # GIVEN the stack's alarm: above 0.9 in 2 of the last 3 periods, missing data not breaching
    alarm, state = SloAlarm(threshold=0.9), SloAlarmState()
    fired = []
    # WHEN it is fed one breach, a missing period, a breach, two more breaches, then calm
    for level in [1.2, math.nan, 1.1, 1.5, 1.3, 0.5, 0.5, 0.95, 0.4, 0.97]:
        state, now = slo_alarm_step(alarm, state, level)
        fired.append(now)
    # THEN it goes to ALARM with the 2nd breach of 3 periods, stays there without a new event, returns to OK,
    # and fires again on the next 2 of 3
    assert fired == [False, False, True, False, False, False, False, False, False, True]
    assert state.datapoints() == [0.95, 0.4, 0.97]


def test_the_replay_runs_the_alarm_responder_between_decisions() -> None:
    # GIVEN a forecast that stays flat at the usual load (trusted: confidence 1) and a jump to 60 at
    # minute 1561 of the trace, one minute into a 5-minute decision interval
    jump = DAY + 121
    trace = minute_trace([(jump, 60.0)])
    # WHEN it is replayed without surprise decisions (with them, the decision of jump + 1 takes the jump)
    result = run_replay(trace, SCENARIO, forecaster=Blind(20.0), policies=("predictive",), decision_policy=NO_SURPRISE)
    desired = result.runs["predictive"].desired
    in_service = result.runs["predictive"].in_service
    # THEN the alarm sees 2 breaching minutes (jump, jump + 1) and at the start of jump + 2, before the next
    # decision, the responder's rule raises the capacity, as the alarm responder Lambda does
    assert desired[jump + 1] == 3
    assert in_service[jump] == in_service[jump + 1] == 3
    expected = alarm_scale_out(
        result.resolved.target(trace.name), desired=3, in_service=3, datapoints=[20 / 30, 60 / 30, 60 / 30]
    )
    assert expected == 10
    assert desired[jump + 2] == expected
    assert result.alarm_responses == [(jump + 2, 3, 10)]
    assert MODES[result.modes[jump + 2]] == "alarm"
    assert MODES[result.modes[jump + 1]] == "forecast"
    # and the next decision (jump + 4) governs again
    assert MODES[result.modes[jump + 4]] == "forecast"


def test_without_a_forecast_forescale_tracks_the_target_on_every_datapoint() -> None:
    # GIVEN no forecast at all, and a load of 33 (utilisation 0.82 on 4 instances: above the 0.6 set-point,
    # under the 0.9 SLO) for 20 minutes from one minute into a decision interval
    rise, fall = DAY + 121, DAY + 141
    trace = minute_trace([(rise, 33.0), (fall, 20.0)])
    # WHEN forescale (tracking between decisions while reactive) and target tracking are replayed
    result = run_replay(
        trace,
        SCENARIO,
        forecaster=Blind(None),
        policies=("predictive", "reactive"),
        decision_policy=DecisionPolicy(reactive_tracking=True),
    )
    ours, theirs = result.runs["predictive"].desired, result.runs["reactive"].desired
    # THEN target tracking scales out after 3 minutes above and in after 15 minutes below
    assert theirs[rise + 2] == 4 and theirs[rise + 3] == 6
    assert theirs[fall + 14] == 6 and theirs[fall + 15] == 4
    # and forescale, deciding reactively, does the same step for step (not at its 5-minute decisions, not
    # scaling in after its 5-minute stabilisation)
    window = slice(DAY, DAY + 240)
    assert np.array_equal(ours[window], theirs[window])
    assert {MODES[m] for m in result.modes[window]} == {"reactive: no forecast"}
    assert result.runs["predictive"].scores.under_time_pct <= result.runs["reactive"].scores.under_time_pct


def test_the_tracking_floor_applies_target_trackings_scale_out_in_forecast_mode() -> None:
    # GIVEN a trusted flat forecast for the usual load of 20 (3 instances at the 0.9 SLO, where target
    # tracking at 0.6 holds 4), and a 20-minute rise to 33 it misses
    rise = DAY + 121
    trace = minute_trace([(rise, 33.0), (rise + 20, 20.0)])
    # WHEN replayed with and without target tracking as a floor in forecast mode
    plain = run_replay(trace, SCENARIO, forecaster=Blind(20.0), policies=("predictive",))
    floored = run_replay(
        trace,
        SCENARIO,
        forecaster=Blind(20.0),
        policies=("predictive",),
        decision_policy=DecisionPolicy(reactive_tracking=True, tracking_floor=True),
    )
    # THEN without the floor forescale holds what the forecast needs, with it what target tracking holds
    assert plain.runs["predictive"].desired[rise - 1] == 3
    assert floored.runs["predictive"].desired[rise - 1] == 4
    # and with the floor the rise is followed as target tracking does, 3 minutes above the set-point
    assert floored.runs["predictive"].desired[rise + 2] == 4
    assert floored.runs["predictive"].desired[rise + 3] == 6
    assert MODES[floored.modes[rise + 3]] == "forecast"


def test_the_report_gives_decisions_minutes_and_under_time_per_mode() -> None:
    # GIVEN the replay of the alarm above: a trusted flat forecast, a jump to 60 that fires the SLO alarm
    from forescale_tools.report import mode_rows, mode_table, summary_text

    jump = DAY + 121
    result = run_replay(
        minute_trace([(jump, 60.0)]),
        SCENARIO,
        forecaster=Blind(20.0),
        policies=("predictive", "reactive"),
        decision_policy=NO_SURPRISE,
    )
    # WHEN the report's per-mode rows are made
    rows = {row.mode: row for row in mode_rows(result)}
    # THEN every scored decision is counted in its mode: one a 5 minutes in forecast mode, the alarm's once
    assert set(rows) == {"forecast", "alarm"}
    assert rows["forecast"].decisions == DAY // 5 and rows["alarm"].decisions == 1
    assert rows["forecast"].decision_share_pct + rows["alarm"].decision_share_pct == 100.0
    # the alarm governed from its scale-out (jump + 2) to the next decision (jump + 4): 2 minutes, both short
    # of demand (the new instances still boot), as target tracking was in those minutes
    assert rows["alarm"].minutes == 2.0 and rows["alarm"].minutes + rows["forecast"].minutes == DAY
    assert rows["alarm"].under_time_pct == 100.0 and rows["alarm"].reactive_under_time_pct == 100.0
    # and the table is in the summary
    assert mode_table(result) in summary_text(result) and "alarm" in mode_table(result)
