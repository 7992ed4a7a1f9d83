"""Components: statistical definitions match statsforecast's, anomaly rule, gap filling, calendar."""

from __future__ import annotations

import numpy as np
import pytest
from statsforecast.models import Naive, SeasonalNaive, SeasonalWindowAverage

from models.anomaly import detect
from models.gbm import calendar_features
from models.prep import fill_gaps
from models.statistical import apply_stat, fit_stat, seasonal_naive, seasonal_window_average


@pytest.mark.parametrize("horizon", [1, 12, 288, 400])
def test_seasonal_naive_matches_statsforecast(horizon):
    y = np.random.default_rng(0).random(288 * 3)
    expected = SeasonalNaive(season_length=288).forecast(y, h=horizon)["mean"]
    np.testing.assert_allclose(seasonal_naive(y, horizon, 288), expected)


def test_seasonal_window_average_matches_statsforecast():
    y = np.random.default_rng(1).random(288 * 8)
    expected = SeasonalWindowAverage(season_length=288, window_size=7).forecast(y, h=288)["mean"]
    np.testing.assert_allclose(seasonal_window_average(y, 288, 288, window=7), expected)


def test_statistical_family_learns_a_daily_cycle():
    # GIVEN 6 days of a clean daily sine at 5 minutes
    t = np.arange(288 * 6)
    y = 100 + 30 * np.sin(2 * np.pi * t / 288)
    state = fit_stat(y, 0, 300)
    # WHEN every model forecasts the next day
    paths = apply_stat(state, y, 0, 288)
    truth = 100 + 30 * np.sin(2 * np.pi * (t[-1] + 1 + np.arange(288)) / 288)
    # THEN all six are there, and the seasonal ones close to the truth (Naive holds the newest value)
    assert set(paths) == {"Naive", "SeasonalNaive", "SeasonalWindowAverage", "MSTL", "AutoETS", "AutoTheta"}
    for name, path in paths.items():
        if name != "Naive":
            assert np.mean(np.abs(path - truth)) < 3.0, name


def test_naive_matches_statsforecast():
    y = 100 + np.random.default_rng(2).random(288 * 3)
    paths = apply_stat(fit_stat(y, 0, 300), y, 0, 24)
    np.testing.assert_allclose(paths["Naive"], Naive().forecast(y, h=24)["mean"])


def _hourly_spikes(days: int, level: float, spike: float, seed: int) -> np.ndarray:
    """A noisy flat load with a spike in the second 5-minute step of every hour (a job run at :05)."""
    y = level + np.random.default_rng(seed).normal(0, 0.05 * level, 288 * days)
    y[1::12] += spike
    return y


def _spike_height(path: np.ndarray) -> float:
    return float(path[1] - (path[0] + path[2]) / 2)


def test_the_sub_hour_shape_shrinks_with_the_load_it_rides_on():
    # GIVEN a week at 50 with +45 every hour, fitted; then 12 hours at 12 with a spike of +8
    fitted_on = _hourly_spikes(7, 50.0, 45.0, seed=0)
    state = fit_stat(fitted_on, 0, 300)
    y = np.concatenate([fitted_on, _hourly_spikes(1, 12.0, 8.0, seed=1)[:144]])
    # WHEN the fitted models forecast the next hour from the newest data
    paths = apply_stat(state, y, 0, 12)
    # THEN the spike they forecast is the size the last hours show, not the week's +45
    for name in ("MSTL", "AutoETS", "AutoTheta"):
        assert _spike_height(paths[name]) == pytest.approx(8.0, abs=4.0), name


def test_an_unchanged_sub_hour_shape_keeps_its_fitted_size():
    y = _hourly_spikes(8, 50.0, 45.0, seed=3)
    state = fit_stat(y[: 288 * 7], 0, 300)
    paths = apply_stat(state, y, 0, 12)
    for name in ("MSTL", "AutoETS", "AutoTheta"):
        assert _spike_height(paths[name]) == pytest.approx(45.0, abs=5.0), name


def test_spike_is_flagged_but_a_level_shift_is_not():
    rng = np.random.default_rng(2)
    y = 50 + rng.normal(0, 1, 288 * 3)
    y[400] = 500  # a one-sample spike
    y[600:] += 40  # a lasting level shift
    flags, scores = detect(y, 300)
    assert flags[400]
    assert not flags[600:].any()
    assert scores[400] > scores[599]


def test_flag_budget_and_protected_tail():
    y = np.ones(1000)
    y[::50] = 100.0
    flags, _ = detect(y, 300, max_fraction=0.01, protect_last=30)
    assert flags.sum() <= 10
    assert not flags[-30:].any()


def test_fill_gaps_interpolates_short_and_copies_long_gaps():
    y = np.arange(20, dtype=float)
    y[5] = np.nan
    y[12:18] = np.nan
    filled = fill_gaps(y, season=10, short_gap=2)
    assert filled[5] == 5.0
    np.testing.assert_array_equal(filled[12:18], np.arange(2, 8, dtype=float))
    assert not np.isnan(fill_gaps(np.full(5, np.nan), 2, 1)).any()


def test_calendar_features_know_month_end_payday_and_holidays():
    # 2024-07-04 (US holiday), 2024-07-15 (payday), 2024-07-31 (month end, payday)
    seconds = np.array([1720094400, 1721044800, 1722427200], dtype=np.int64)
    cal = calendar_features(seconds, "US")
    np.testing.assert_array_equal(cal["holiday"], [1, 0, 0])
    np.testing.assert_array_equal(cal["payday"], [0, 1, 1])
    np.testing.assert_array_equal(cal["month_end"], [0, 0, 1])
    np.testing.assert_allclose(cal["hour"], [12, 12, 12])
    with pytest.raises(ValueError, match="holiday_country"):
        calendar_features(seconds, "XX")


def test_autoets_follows_its_trend_for_an_hour_then_holds_the_level():
    # GIVEN four days of a steady ramp (+0.5 per 5 minutes) without a daily cycle
    t = np.arange(288 * 4)
    y = 100 + 0.5 * t + np.random.default_rng(0).normal(0, 0.5, len(t))
    ets = apply_stat(fit_stat(y, 0, 300), y, 0, 288)["AutoETS"]
    # THEN AutoETS rises over the first hour and then holds (a 5-minute slope sustained for a day would add 138)
    assert ets[11] - ets[0] > 3.0
    assert abs(ets[287] - ets[11]) < 3.0
