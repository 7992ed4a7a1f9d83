"""The decider's own record of forecasts against what happened (functions/domain/calibration.py)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from decision_helpers import NOW, make_path

from functions.domain.calibration import ForecastCalibration, ForecastTracker

NS = 1_000_000_000
STEP_NS = 300 * NS


def _ns(moment) -> int:
    return int(pd.Timestamp(moment).value)


def _actuals(start, values, *, offset_seconds: int = 0):
    first = start.replace(tzinfo=None) + timedelta(seconds=offset_seconds)
    ds = pd.date_range(first, periods=len(values), freq="5min")
    return ds.asi8, np.asarray(values, dtype=float)


def test_ratios_of_past_windows_become_the_spread():
    tracker = ForecastTracker(offset=0.0, window_steps=2, step_seconds=300)
    tracker.record(make_path(np.full(6, 100.0)), now_ns=_ns(NOW), bias=1.0)
    ds, y = _actuals(NOW, [120.0, 80.0, 500.0])
    # not yet: the window's second step is still running
    tracker.observe(ds[:1], y[:1], now_ns=_ns(NOW + timedelta(minutes=5)))
    assert tracker.calibration(now_ns=_ns(NOW + timedelta(minutes=5))).samples == 0
    tracker.observe(ds, y, now_ns=_ns(NOW + timedelta(minutes=10)))
    calibration = tracker.calibration(now_ns=_ns(NOW + timedelta(minutes=10)))
    # only the window (2 steps) counts, not the 500 after it
    assert calibration.ratios.tolist() == [0.8, 1.2]


def test_off_grid_actuals_match_the_nearest_forecast_step():
    tracker = ForecastTracker(offset=0.0, window_steps=2, step_seconds=300)
    tracker.record(make_path(np.full(6, 100.0)), now_ns=_ns(NOW), bias=1.0)
    ds, y = _actuals(NOW, [150.0, 50.0, 100.0], offset_seconds=120)
    tracker.observe(ds, y, now_ns=_ns(NOW + timedelta(minutes=15)))
    assert sorted(tracker.calibration(now_ns=_ns(NOW + timedelta(minutes=15))).ratios.tolist()) == [0.5, 1.5]


def test_a_lasting_miss_becomes_a_bias_and_a_small_one_does_not():
    tracker = ForecastTracker(offset=0.0, window_steps=2, step_seconds=300)
    start = NOW
    # the load settles at a fifth of the forecast for an hour
    for i in range(12):
        now = start + timedelta(minutes=5 * i)
        tracker.record(make_path(np.full(4, 100.0), start=now), now_ns=_ns(now), bias=1.0)
    ds, y = _actuals(start, np.full(14, 20.0))
    later = _ns(start + timedelta(minutes=70))
    tracker.observe(ds, y, now_ns=later)
    assert tracker.bias(now_ns=later) == pytest.approx(0.2)
    # an hour later without new evidence the bias is forgotten
    assert tracker.bias(now_ns=later + 3 * 3600 * NS) == 1.0
    small = ForecastTracker(offset=0.0, window_steps=2, step_seconds=300)
    for i in range(12):
        now = start + timedelta(minutes=5 * i)
        small.record(make_path(np.full(4, 100.0), start=now), now_ns=_ns(now), bias=1.0)
    small.observe(ds, np.full(14, 95.0), now_ns=later)
    assert small.bias(now_ns=later) == 1.0


def test_the_spread_is_measured_against_the_corrected_median():
    tracker = ForecastTracker(offset=0.0, window_steps=1, step_seconds=300)
    tracker.record(make_path(np.full(3, 100.0)), now_ns=_ns(NOW), bias=0.5)
    ds, y = _actuals(NOW, [60.0])
    tracker.observe(ds, y, now_ns=_ns(NOW + timedelta(minutes=10)))
    assert tracker.calibration(now_ns=_ns(NOW + timedelta(minutes=10))).ratios.tolist() == [pytest.approx(1.2)]


def test_calibrated_quantiles_and_exceedance_agree():
    calibration = ForecastCalibration.from_ratios(np.linspace(0.5, 1.5, 101), offset=10.0, bias=2.0)
    p50 = np.array([90.0])
    # median corrected: (90 + 10) * 2 - 10 = 190
    assert calibration.median(p50)[0] == pytest.approx(190)
    x = calibration.load_at(0.9, p50)[0]
    assert x == pytest.approx(1.4 * 200 - 10)
    assert calibration.exceedance(x, p50)[0] == pytest.approx(0.1, abs=0.011)
    with pytest.raises(ValueError, match="bias"):
        ForecastCalibration.from_ratios(np.ones(3), offset=0.0, bias=0.0)


def test_the_tracker_survives_a_round_trip_through_json():
    import json

    from decision_helpers import make_target

    from functions.domain.decision import tracker_for

    # GIVEN a tracker sized for a target, with a full ring, pending forecasts and recent misses
    tracker = tracker_for(make_target())
    assert tracker.window_steps == 2 and tracker.step_seconds == 300 and tracker.offset == pytest.approx(160.0)
    small = ForecastTracker(offset=1.0, window_steps=2, step_seconds=300, max_samples=7)
    for i in range(8):
        now = NOW + timedelta(minutes=5 * i)
        small.record(make_path(np.full(4, 100.0 + i), start=now), now_ns=_ns(now), bias=1.0)
    ds, y = _actuals(NOW, 80.0 + 5 * np.arange(12))
    small.observe(ds, y, now_ns=_ns(NOW + timedelta(minutes=32)))
    # WHEN it is stored as JSON and read back
    copy = ForecastTracker.from_state(json.loads(json.dumps(small.to_state())))
    # THEN it calibrates the same, now and after more observations
    later = _ns(NOW + timedelta(minutes=32))
    assert np.array_equal(copy.calibration(now_ns=later).ratios, small.calibration(now_ns=later).ratios)
    assert copy.bias(now_ns=later) == small.bias(now_ns=later)
    end = _ns(NOW + timedelta(minutes=60))
    small.observe(ds, y, now_ns=end)
    copy.observe(ds, y, now_ns=end)
    assert np.array_equal(copy.calibration(now_ns=end).ratios, small.calibration(now_ns=end).ratios)
    with pytest.raises(ValueError, match="tracker state"):
        ForecastTracker.from_state({"settings": {}})
