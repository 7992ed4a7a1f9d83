"""The reactive reference: AWS target tracking as docs/replay-spec.md specifies it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from functions.domain.reactive import AlarmState, TargetTracking, target_tracking_step
from functions.domain.replay import Scenario, run_replay
from functions.domain.trace import Trace


def _rule(step_seconds: int = 60) -> TargetTracking:
    return TargetTracking(
        capacity_per_instance=10.0, target_utilization=0.5, min_capacity=1, max_capacity=100, step_seconds=step_seconds
    )


def _feed(rule: TargetTracking, loads: list[float], *, in_service: int, desired: int) -> list[int]:
    alarms, out = AlarmState(), []
    for load in loads:
        desired, alarms = target_tracking_step(rule, alarms, load=load, in_service=in_service, desired=desired)
        out.append(desired)
    return out


def test_scales_out_after_three_minutes_above_target_at_one_minute_steps():
    # GIVEN 4 instances of 10 at target 0.5 (set-point load 20), load 30 (utilisation 0.75)
    out = _feed(_rule(60), [30, 30, 30, 30], in_service=4, desired=4)
    # THEN the third breaching minute scales out to ceil(30 / (10 * 0.5)) = 6
    assert out == [4, 4, 6, 6]


def test_one_five_minute_datapoint_is_three_minutes_above():
    assert _feed(_rule(300), [30], in_service=4, desired=4) == [6]


def test_scales_in_after_fifteen_minutes_below_ninety_percent_of_target():
    # load 8 on 4 instances: utilisation 0.2 < 0.45
    out = _feed(_rule(60), [8.0] * 15, in_service=4, desired=4)
    assert out[:14] == [4] * 14 and out[14] == 2


def test_utilisation_between_the_thresholds_resets_both_alarms():
    # 0.45 * 40 = 18 < load 19 < 20: neither alarm counts
    out = _feed(_rule(60), [30, 30, 19, 30, 30], in_service=4, desired=4)
    assert out == [4, 4, 4, 4, 4]


def test_unknown_load_keeps_the_alarms():
    out = _feed(_rule(60), [30, 30, math.nan, 30], in_service=4, desired=4)
    assert out == [4, 4, 4, 6]


def test_booting_instances_do_not_count_in_utilisation():
    # GIVEN desired already raised to 6 but only 4 in service, the load still at 30
    out = _feed(_rule(300), [30, 30], in_service=4, desired=6)
    # THEN utilisation stays high yet it does not pile on more: the need is still 6
    assert out == [6, 6]
    # and with no instance in service any load is above target
    assert _feed(_rule(300), [5.0], in_service=0, desired=0) == [1]


def test_reactive_in_the_replay_lags_a_step_change_by_the_alarm_and_the_boot():
    # GIVEN a 1-minute trace whose load jumps from 10 to 40 at step 30; cap 10, target 0.6, boot 120 s
    y = np.array([10.0] * 30 + [40.0] * 30)
    trace = Trace(ds=pd.date_range("2024-01-01", periods=60, freq="1min"), y=y, step_seconds=60, name="step")
    scenario = Scenario(capacity_per_instance=10, boot_seconds=120, warmup_days=0, target_utilization=0.6)
    result = run_replay(trace, scenario, policies=("reactive",))
    run = result.runs["reactive"]
    # THEN desired rises at step 33 (datapoints 30, 31, 32 above target) to ceil(40 / 6) = 7
    assert run.desired[32] == 2 and run.desired[33] == 7
    # and the new instances serve 2 steps later
    assert run.in_service[34] == 2 and run.in_service[35] == 7
