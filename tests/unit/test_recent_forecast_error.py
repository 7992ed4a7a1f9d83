"""The decider's figure of a target's recent forecast error (``ForecastTracker.recent_error``).

A scaled percentage, ``100 x MAE / (mean load + offset)`` over the steps the confidence weighs, of the median
as issued and of seasonal naive on the same steps: idle steps (load 0) add their error and no load, so they
never count as an infinite percentage.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from functions.domain.calibration import ForecastTracker
from functions.ports import tracker_codec
from models.api import ForecastPath

STEP_NS = 300 * 1_000_000_000
DAY_STEPS = 288
START_NS = int(pd.Timestamp(datetime(2026, 3, 10, tzinfo=UTC)).value)


def _replay(tracker: ForecastTracker, loads: np.ndarray, forecast: np.ndarray, *, first: int, last: int) -> int:
    """Decide every step from ``first`` to ``last`` (observe the loads so far, record the forecast); the end ns."""
    ds = START_NS + np.arange(len(loads), dtype=np.int64) * STEP_NS
    for step in range(first, last):
        now = START_NS + step * STEP_NS
        tracker.observe(ds[:step], loads[:step], now_ns=now)
        values = forecast[step : step + 3]
        stamps = pd.DatetimeIndex(pd.to_datetime(now + np.arange(3) * STEP_NS))
        path = ForecastPath("web", pd.Timestamp(now, tz="UTC").to_pydatetime(), stamps, values, values, values, 0, "m")
        tracker.record(path, now_ns=now, bias=1.0)
    return START_NS + last * STEP_NS


def test_a_forecast_twice_the_load_is_100_percent_off_and_seasonal_naive_is_measured_on_the_same_steps():
    # GIVEN a flat load of 500 the day before and today, and forecasts at 1000 (offset 10)
    tracker = ForecastTracker(offset=10.0, window_steps=2, step_seconds=300)
    loads = np.full(2 * DAY_STEPS, 500.0)
    loads[:100] = 400.0  # a day before the scored steps the load was lower: seasonal naive is off by 100
    # WHEN 60 decisions are scored (the window of the last 6 h holds them all)
    end = _replay(tracker, loads, np.full(2 * DAY_STEPS + 3, 1000.0), first=DAY_STEPS, last=DAY_STEPS + 60)
    error = tracker.recent_error(now_ns=end)
    # THEN the error of the median is 100 x 500 / (500 + 10), and seasonal naive's 100 x 100 / 510
    assert error is not None and error.steps >= 24
    assert error.forecast_pct == pytest.approx(100 * 500 / 510)
    assert error.naive_pct == pytest.approx(100 * 100 / 510, rel=0.05)


def test_idle_minutes_are_not_infinite_errors():
    # GIVEN a load idle (0) every other step, 200 otherwise, forecast exactly (0 on the idle steps)
    tracker = ForecastTracker(offset=10.0, window_steps=2, step_seconds=300)
    loads = np.where(np.arange(2 * DAY_STEPS) % 2 == 0, 0.0, 200.0)
    forecast = np.concatenate([loads, np.zeros(3)])
    end = _replay(tracker, loads, forecast, first=DAY_STEPS, last=DAY_STEPS + 60)
    # THEN the error is 0, not a percentage of an idle step's zero load
    error = tracker.recent_error(now_ns=end)
    assert error is not None and error.forecast_pct == pytest.approx(0.0)
    # AND a target idle throughout, forecast at 1 (a tenth of the offset), is 10 % off, not infinitely
    idle = ForecastTracker(offset=10.0, window_steps=2, step_seconds=300)
    end = _replay(idle, np.zeros(2 * DAY_STEPS), np.ones(2 * DAY_STEPS + 3), first=DAY_STEPS, last=DAY_STEPS + 60)
    idle_error = idle.recent_error(now_ns=end)
    assert idle_error is not None and idle_error.forecast_pct == pytest.approx(10.0)


def test_the_error_is_the_median_as_issued_not_after_the_bias_correction():
    # GIVEN forecasts half the load, recorded with the bias the decider corrects them by (2)
    tracker = ForecastTracker(offset=0.0, window_steps=2, step_seconds=300)
    loads = np.full(2 * DAY_STEPS, 400.0)
    ds = START_NS + np.arange(len(loads), dtype=np.int64) * STEP_NS
    for step in range(DAY_STEPS, DAY_STEPS + 40):
        now = START_NS + step * STEP_NS
        tracker.observe(ds[:step], loads[:step], now_ns=now)
        stamps = pd.DatetimeIndex(pd.to_datetime(now + np.arange(3) * STEP_NS))
        half = np.full(3, 200.0)
        tracker.record(ForecastPath("web", datetime.now(UTC), stamps, half, half, half, 0, "m"), now_ns=now, bias=2.0)
    error = tracker.recent_error(now_ns=START_NS + (DAY_STEPS + 40) * STEP_NS)
    # THEN the error is the forecaster's, 50 %, though the corrected median (what the confidence weighs) is exact
    assert error is not None and error.forecast_pct == pytest.approx(50.0)
    confidence = tracker.confidence(now_ns=START_NS + (DAY_STEPS + 40) * STEP_NS)
    assert confidence is not None and confidence[1] == pytest.approx(1.0)


def test_too_few_steps_or_a_record_stored_before_the_figure_give_none_and_the_record_round_trips():
    # GIVEN a record with one scored window only
    tracker = ForecastTracker(offset=10.0, window_steps=2, step_seconds=300)
    loads = np.full(2 * DAY_STEPS, 100.0)
    end = _replay(tracker, loads, np.full(2 * DAY_STEPS + 3, 100.0), first=DAY_STEPS, last=DAY_STEPS + 3)
    # THEN there is no figure yet
    assert tracker.recent_error(now_ns=end) is None
    # GIVEN enough windows WHEN the record is stored and read back THEN the figure is the same
    end = _replay(tracker, loads, np.full(2 * DAY_STEPS + 3, 150.0), first=DAY_STEPS + 3, last=DAY_STEPS + 40)
    before = tracker.recent_error(now_ns=end)
    state = tracker_codec.decode(tracker_codec.encode(tracker.to_state()))
    assert before is not None and ForecastTracker.from_state(state).recent_error(now_ns=end) == before
    # AND a record stored before the figure existed (4-value score rows) still reads, with no figure
    old = {**state, "scores": [row[:4] for row in state["scores"]]}
    restored = ForecastTracker.from_state(tracker_codec.decode(tracker_codec.encode(old)))
    assert restored.recent_error(now_ns=end) is None and restored.confidence(now_ns=end) is not None
