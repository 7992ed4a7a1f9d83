"""The pure part of ``forescale history``: the window CloudWatch can give, the trace rows, the replay flags."""

from __future__ import annotations

import math
from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pytest

from forescale_tools.replay_cli import _parser as replay_parser
from functions.domain.history import csv_lines, history_window, replay_flags, retention_days, trace_rows
from functions.domain.replay.scenario import Scenario
from functions.domain.target import ScalingTarget

END = datetime(2026, 11, 20, 12, 7, 31, tzinfo=UTC)
NOW = END + timedelta(minutes=1)


def target(**overrides: object) -> ScalingTarget:
    config: dict[str, object] = {
        "target_id": "web",
        "kind": "asg",
        "asg_name": "web-asg",
        "metric": {"namespace": "AWS/ApplicationELB", "name": "RequestCount", "unit_label": "req/min"},
        "capacity_per_instance": 1200,
        "min_capacity": 2,
        "max_capacity": 20,
        "boot_seconds": 240,
        "decision_interval_seconds": 120,
        "cost": {"instance_hour_price": 0.25, "violation_minute_penalty": 0.5},
    }
    return ScalingTarget.model_validate(config | overrides)


@pytest.mark.parametrize(("period", "days"), [(1, 3 / 24), (60, 15), (120, 15), (300, 63), (3600, 455)])
def test_cloudwatch_keeps_shorter_periods_for_less_time(period, days):
    assert retention_days(period) == days


def test_the_window_ends_on_the_period_grid_and_spans_the_days_asked():
    window = history_window(end=END, days=2, period_seconds=300, now=NOW)
    assert window.end == datetime(2026, 11, 20, 12, 5, tzinfo=UTC)
    assert window.start == window.end - timedelta(days=2)
    assert window.steps == 576


def test_more_days_than_cloudwatch_keeps_is_refused_naming_a_period_that_has_them():
    with pytest.raises(ValueError, match=r"days: CloudWatch keeps 60-second data for 15 days .*300 s: 63 days"):
        history_window(end=END, days=30, period_seconds=60, now=NOW)


def test_retention_counts_back_from_now_not_from_the_end_of_the_window():
    # ten days ending ten days ago start twenty days back: 1-minute data is gone by then
    old_end = NOW - timedelta(days=10)
    with pytest.raises(ValueError, match=r"starts 20.0 days ago; ask for a later or shorter window"):
        history_window(end=old_end, days=10, period_seconds=60, now=NOW)
    assert history_window(end=old_end, days=10, period_seconds=300, now=NOW).steps == 2880


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"end": END.replace(tzinfo=None), "days": 1, "period_seconds": 60}, "end"),
        ({"end": END, "days": 0, "period_seconds": 60}, "days"),
        ({"end": END, "days": math.nan, "period_seconds": 60}, "days"),
        ({"end": END, "days": 1, "period_seconds": 7}, "period_seconds"),
        ({"end": NOW + timedelta(hours=1), "days": 1, "period_seconds": 60}, "end"),
    ],
)
def test_a_bad_window_is_refused_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        history_window(**kwargs, now=NOW)


def test_rows_keep_gaps_as_missing_rows_and_drop_what_is_not_load():
    window = history_window(end=END, days=1 / 24, period_seconds=300, now=NOW)  # 12 steps
    stamps = [window.start + timedelta(minutes=5 * i) for i in (3, 0, 1, 4, 5)]
    rows = trace_rows(stamps, [30.0, 0.0, 10.0, math.nan, -1.0], window=window)
    # unsorted input comes out ascending; step 2 (no datapoint), NaN and a negative value are gaps
    assert rows == [(stamps[1], 0.0), (stamps[2], 10.0), (stamps[0], 30.0)]
    outside = trace_rows([window.end, window.start - timedelta(minutes=5)], [1.0, 2.0], window=window)
    assert outside == []


def test_a_datapoint_off_the_grid_is_an_error_naming_it():
    window = history_window(end=END, days=1 / 24, period_seconds=300, now=NOW)
    with pytest.raises(ValueError, match=r"timestamps: .* is off the 300-second grid"):
        trace_rows([window.start + timedelta(minutes=7)], [1.0], window=window)


def test_csv_lines_are_the_replay_format():
    stamp = datetime(2026, 11, 20, 12, 5, tzinfo=UTC)
    assert csv_lines([(stamp, 12.5)]) == ["timestamp,value", "2026-11-20T12:05:00Z,12.5"]


def test_replay_flags_give_the_replay_the_targets_own_configuration():
    args = replay_parser().parse_args(["trace.csv", "--out", "out", *replay_flags(target(), period_seconds=60)])
    scenario = Scenario(**{item.name: getattr(args, item.name) for item in fields(Scenario)})
    assert scenario == Scenario(
        capacity_per_instance=1200.0,
        boot_seconds=240,
        min_instances=2,
        max_instances=20,
        decision_interval_seconds=120,
        instance_hour_price=0.25,
        violation_minute_penalty=0.5,
        unit_label="req/min",
    )


def test_the_decision_interval_is_rounded_up_to_whole_steps_and_learn_leaves_capacity_to_the_replay():
    flags = replay_flags(target(capacity_per_instance="learn"), period_seconds=300)
    assert "--capacity-per-instance" not in flags
    assert flags[flags.index("--decision-interval-seconds") + 1] == "300"
