"""The decider's own record of forecasts against what happened (functions/domain/calibration.py)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from decision_helpers import NOW, make_path

from functions.domain.calibration import ForecastCalibration, ForecastTracker
from models.api import ForecastPath

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


# --------------------------------------------------------------------------- the record's confidence

DAY_STEPS = 288  # 5-minute steps


def _path_at(now_ns: int, values) -> ForecastPath:
    ds = pd.DatetimeIndex(pd.to_datetime(now_ns + np.arange(len(values)) * STEP_NS))
    values = np.asarray(values, dtype=float)
    return ForecastPath("web", pd.Timestamp(now_ns, tz="UTC").to_pydatetime(), ds, values, values, values, 0.0, "m")


def _replay(
    tracker: ForecastTracker,
    loads: np.ndarray,
    forecast,
    *,
    first: int,
    last: int,
    start_ns: int,
    announced: tuple[tuple[int, int], ...] = (),
) -> None:
    """Decide every 5 minutes from step ``first`` to ``last``: observe the loads so far, record the forecast."""
    ds = start_ns + np.arange(len(loads), dtype=np.int64) * STEP_NS
    for step in range(first, last):
        now = start_ns + step * STEP_NS
        tracker.observe(ds[:step], loads[:step], now_ns=now, announced=announced)
        tracker.record(_path_at(now, forecast(step)), now_ns=now, bias=1.0)


def _maes(loads: np.ndarray, forecast_values: np.ndarray, day: slice) -> tuple[float, float]:
    """(forecast MAE, seasonal naive MAE) of one day, one step at a time."""
    actual = loads[day]
    naive = loads[day.start - DAY_STEPS : day.stop - DAY_STEPS]
    return float(np.mean(np.abs(actual - forecast_values[day]))), float(np.mean(np.abs(actual - naive)))


def test_a_good_forecast_of_an_idle_bursty_series_is_trusted():
    # GIVEN a bursty series, 43 % of the steps idle, a quiet day then a day 10x busier (a weekend, then a weekday)
    rng = np.random.default_rng(3)
    level = np.repeat([10.0, 100.0], DAY_STEPS)
    loads = np.where(rng.random(2 * DAY_STEPS) < 0.43, 0.0, level * rng.gamma(2.0, 0.5, 2 * DAY_STEPS))
    # and a forecast that follows the level and part of each burst (better than the day before, not perfect)
    forecast_values = 0.5 * level * 0.57 + 0.5 * loads
    tracker = ForecastTracker(offset=1.0, window_steps=2, step_seconds=300)
    start = _ns(NOW)
    # WHEN the busy day's decisions are scored as its loads arrive
    _replay(tracker, loads, lambda s: forecast_values[s : s + 3], first=DAY_STEPS, last=2 * DAY_STEPS, start_ns=start)
    # THEN (the forecast's error that day is under seasonal naive's) the confidence clears min_confidence 0.2
    mae, naive_mae = _maes(loads, forecast_values, slice(DAY_STEPS, 2 * DAY_STEPS))
    assert mae < naive_mae
    calibration = tracker.calibration(now_ns=start + 2 * DAY_STEPS * STEP_NS)
    assert calibration.confidence is not None and calibration.confidence > 0.5
    assert calibration.error_ratio == pytest.approx(mae / naive_mae, rel=0.3)


def test_idle_loads_are_not_errors():
    # GIVEN a target idle for two days, and a forecast of no load
    tracker = ForecastTracker(offset=1.0, window_steps=2, step_seconds=300)
    loads = np.zeros(2 * DAY_STEPS)
    _replay(tracker, loads, lambda s: np.zeros(3), first=DAY_STEPS, last=2 * DAY_STEPS, start_ns=_ns(NOW))
    # THEN the forecast is exactly as good as seasonal naive: confidence 0.5, not 0
    confidence = tracker.calibration(now_ns=_ns(NOW) + 2 * DAY_STEPS * STEP_NS).confidence
    assert confidence == pytest.approx(0.5)


def test_a_forecast_worse_than_seasonal_naive_is_not_trusted():
    # GIVEN a load that repeats its daily shape, and a flat forecast at its mean
    rng = np.random.default_rng(4)
    shape = 100.0 + 80.0 * np.sin(np.arange(2 * DAY_STEPS) * 2 * np.pi / DAY_STEPS)
    loads = shape * np.exp(rng.normal(0.0, 0.05, 2 * DAY_STEPS))
    forecast_values = np.full(2 * DAY_STEPS + 3, 100.0)
    tracker = ForecastTracker(offset=1.0, window_steps=2, step_seconds=300)
    _replay(
        tracker, loads, lambda s: forecast_values[s : s + 3], first=DAY_STEPS, last=2 * DAY_STEPS, start_ns=_ns(NOW)
    )
    mae, naive_mae = _maes(loads, forecast_values, slice(DAY_STEPS, 2 * DAY_STEPS))
    assert mae > 2 * naive_mae
    # THEN its confidence is under min_confidence 0.2
    confidence = tracker.calibration(now_ns=_ns(NOW) + 2 * DAY_STEPS * STEP_NS).confidence
    assert confidence is not None and confidence < 0.2


def test_the_confidence_follows_the_loads_as_they_arrive_without_a_refit():
    # GIVEN one forecast model that is never refitted: flat at 300
    tracker = ForecastTracker(offset=1.0, window_steps=2, step_seconds=300)
    start = _ns(NOW)
    shape = 100.0 + 50.0 * np.sin(np.arange(3 * DAY_STEPS) * 2 * np.pi / DAY_STEPS)
    # and a load that repeats yesterday until noon of the second day, then settles at 300
    loads = shape.copy()
    loads[DAY_STEPS + DAY_STEPS // 2 :] = 300.0
    flat_300 = lambda s: np.full(3, 300.0)  # noqa: E731
    # WHEN the morning is scored: seasonal naive is right, the forecast is not
    _replay(tracker, loads, flat_300, first=DAY_STEPS, last=DAY_STEPS + DAY_STEPS // 2, start_ns=start)
    morning = tracker.calibration(now_ns=start + (DAY_STEPS + DAY_STEPS // 2) * STEP_NS).confidence
    # and then the afternoon, with the same forecast
    _replay(tracker, loads, flat_300, first=DAY_STEPS + DAY_STEPS // 2, last=2 * DAY_STEPS, start_ns=start)
    evening = tracker.calibration(now_ns=start + 2 * DAY_STEPS * STEP_NS).confidence
    # THEN the confidence fell below min_confidence in the morning and recovered by the evening
    assert morning is not None and morning < 0.2
    assert evening is not None and evening > 0.5


def test_no_confidence_until_enough_windows_are_scored():
    # GIVEN a fresh record and one scored window (2 steps, under the 24 required)
    tracker = ForecastTracker(offset=1.0, window_steps=2, step_seconds=300)
    loads = np.full(DAY_STEPS + 4, 50.0)
    _replay(tracker, loads, lambda s: np.full(3, 50.0), first=DAY_STEPS, last=DAY_STEPS + 3, start_ns=_ns(NOW))
    calibration = tracker.calibration(now_ns=_ns(NOW) + (DAY_STEPS + 3) * STEP_NS)
    # THEN no confidence of its own: the decision uses the forecast's
    assert calibration.confidence is None and calibration.error_ratio is None


def test_an_announced_uplift_that_did_not_come_does_not_count_against_the_model():
    # GIVEN a flat load of 300, and forecasts that follow it except in an announced campaign's two hours,
    # where they carry its 5x uplift; the campaign's load never comes
    start = _ns(NOW)
    loads = np.full(2 * DAY_STEPS, 300.0)
    campaign = (DAY_STEPS + 100, DAY_STEPS + 124)
    window = (start + campaign[0] * STEP_NS, start + campaign[1] * STEP_NS)

    def forecast(step: int) -> np.ndarray:
        steps = np.arange(step, step + 3)
        return np.where((steps >= campaign[0]) & (steps < campaign[1]), 1500.0, 300.0)

    def confidence(announced: tuple[tuple[int, int], ...]) -> float | None:
        tracker = ForecastTracker(offset=1.0, window_steps=2, step_seconds=300)
        _replay(tracker, loads, forecast, first=DAY_STEPS, last=DAY_STEPS + 160, start_ns=start, announced=announced)
        return tracker.calibration(now_ns=start + (DAY_STEPS + 160) * STEP_NS).confidence

    # WHEN the record is scored after the campaign, told of its window, or not
    told, not_told = confidence((window,)), confidence(())
    # THEN the steps of the announced window are not the model's error: it is trusted as before
    assert told is not None and told == pytest.approx(0.5)
    assert not_told is not None and not_told < 0.2
