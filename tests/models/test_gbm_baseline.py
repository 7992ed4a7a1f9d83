"""LightGBM's seasonal baseline: weekly where two weeks are known, holidays and their eves skipped."""

from __future__ import annotations

import numpy as np

from models.gbm import FEATURES, SeriesFeatures, newest_scale

STEP = 3600  # hourly: a day is 24 steps, a week 168
DAY, WEEK = 24, 168
MONDAY = 1_420_416_000  # 2015-01-05 00:00 UTC; 2015-01-19 is Martin Luther King Day (US)


def _weekly_load(weeks: int) -> np.ndarray:
    """100 on weekdays, 40 on weekends: a load whose weekday matters."""
    weekday = (np.arange(weeks * WEEK) // DAY) % 7
    return np.where(weekday >= 5, 40.0, 100.0)


def _column(feats: SeriesFeatures, o: int, h: int, name: str) -> float:
    x, _base, sc = feats.rows(np.array([o]), np.array([h]))
    return float(x[0, FEATURES.index(name)] * sc[0])


def test_the_baseline_is_the_same_time_of_week_once_two_weeks_are_known():
    # GIVEN three weeks of a load that drops on weekends, in a year's quiet weeks (no holidays)
    y = _weekly_load(3)
    quiet = MONDAY + 7 * 86_400 * 8  # March
    feats = SeriesFeatures.build(y, quiet, STEP, "US")
    o = len(y) - 1  # Sunday 23:00
    # WHEN the baseline of the next Saturday noon and Monday noon are read
    saturday, monday = 6 * DAY + 12 + 1, 12 + 1
    base = feats.base(np.array([o, o]), np.array([saturday, monday]))
    # THEN they are last weeks' Saturday and Monday, not the mean of the last 7 days (~83)
    np.testing.assert_allclose(base, [40.0, 100.0], atol=1e-6)


def test_with_under_two_weeks_the_baseline_is_the_daily_average():
    y = _weekly_load(3)[: 10 * DAY]  # Monday to Wednesday of the next week
    feats = SeriesFeatures.build(y, MONDAY + 7 * 86_400 * 8, STEP, "US")
    o = len(y) - 1
    base = feats.base(np.array([o]), np.array([DAY + 12]))  # Thursday noon: one week known only
    assert abs(base[0] - 100.0 * 5 / 7 - 40.0 * 2 / 7) < 1e-6


def test_holidays_and_their_eves_are_left_out_of_the_baseline_and_the_week_lag():
    # GIVEN three weeks from Monday 5 January 2015 where Martin Luther King Day (Monday 19) and its eve
    # (Sunday 18) were busy like a Saturday night out
    y = _weekly_load(3)
    holiday, eve = 14 * DAY, 13 * DAY
    y[eve : holiday + DAY] = 250.0
    feats = SeriesFeatures.build(y, MONDAY, STEP, "US")
    o = len(y) - 1  # Sunday 25 January 23:00
    # WHEN the seasonal average and the week lag of next Monday noon are read
    h = 12 + 1
    # THEN neither the holiday nor its eve counts: Mondays 5 and 12 decide, and the week lag is the 12th
    assert feats.profile_at(np.array([o]), np.array([h]))[0] == 100.0
    assert _column(feats, o, h, "sn_week") == 100.0
    assert not feats.comparable[holiday + 5] and not feats.comparable[eve + 5] and feats.comparable[eve - 1]
    # AND a country without that holiday keeps the busy Monday in both
    elsewhere = SeriesFeatures.build(y, MONDAY, STEP, "FR")
    assert elsewhere.profile_at(np.array([o]), np.array([h]))[0] == (250.0 + 100.0 + 100.0) / 3
    assert _column(elsewhere, o, h, "sn_week") == 250.0


def test_newest_scale_is_the_features_scale_at_the_newest_value():
    y = np.random.default_rng(3).random(24 * 9) * 50
    feats = SeriesFeatures.build(y, MONDAY, STEP, "US")
    assert newest_scale(y, STEP) == float(feats.scale(np.array([len(y) - 1]))[0])
