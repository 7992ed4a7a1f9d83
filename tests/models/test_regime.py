"""Lasting level shifts: found from the history alone, and followed by the ensemble beyond the first hour."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC

import numpy as np

from models.config import ForecastConfig
from models.regime import level_shift_start
from models.service import ForecastEnsemble
from tests.models.conftest import FAST, NOW, STEP, make_panel

DAY = 86_400 // STEP


def _daily_load(days: int, seed: int = 0) -> np.ndarray:
    t = np.arange(days * DAY)
    noise = np.random.default_rng(seed).normal(0, 1.0, len(t))
    return 34 + 3 * np.sin(2 * np.pi * t / DAY) + noise


def _start(y: np.ndarray) -> int | None:
    return level_shift_start(y, STEP, min_minutes=20, margin=0.5, max_days=2)


def test_a_drop_that_lasts_is_found_where_it_began() -> None:
    # GIVEN ten days of a daily cycle around 34, then the load falls to about 1 for the last 40 minutes
    y = _daily_load(10)
    y[-8:] = 1 + np.random.default_rng(1).random(8)
    # THEN the shift starts at the first low value
    assert _start(y) == len(y) - 8


def test_a_jump_up_that_lasts_a_day_is_found_where_it_began_despite_a_few_returns() -> None:
    # GIVEN a jump to 90 a day before the end, with two values back at the old level
    y = _daily_load(10)
    y[-DAY:] = 90 + np.random.default_rng(2).normal(0, 2, DAY)
    y[-100] = y[-50] = 34
    assert _start(y) == len(y) - DAY


def test_ordinary_load_has_no_shift() -> None:
    # a daily cycle, a 10-minute spike, a last value outside the range, a shift too short to be lasting
    y = _daily_load(10)
    assert _start(y) is None
    spike = y.copy()
    spike[-6:-4] = 200
    assert _start(spike) is None
    short = y.copy()
    short[-3:] = 1
    assert _start(short) is None


def test_unknown_newest_load_or_a_short_history_is_no_shift() -> None:
    y = _daily_load(10)
    y[-8:] = 1
    gap = y.copy()
    gap[-2] = np.nan
    assert _start(gap) is None
    assert _start(y[-2 * DAY :]) is None  # needs max_days + 1 day of history


def test_the_forecast_follows_a_lasting_jump_beyond_the_first_hour() -> None:
    # GIVEN a target whose load (1.5 to 5 over the day) jumped to 20 half an hour ago
    frame = make_panel(1, 9.0)
    frame.loc[frame.index[-6:], "y"] = 20.0
    followed = ForecastEnsemble(STEP, FAST).fit(frame, now=NOW, events=[])
    ignored = ForecastEnsemble(STEP, replace(FAST, shift_margin=np.inf))
    ignored.fit(frame, now=NOW, events=[])
    # WHEN forecasting the next day with and without the level-shift rule
    path = followed.forecast(frame, now=NOW, horizon_steps=DAY, events=[])["s0"]
    plain = ignored.forecast(frame, now=NOW, horizon_steps=DAY, events=[])["s0"]
    # THEN with it the day ahead stays at the new level; without it the models return to the old one
    assert path.model == "Ensemble+level-shift" and plain.model == "Ensemble"
    assert path.level_shift_since == frame["ds"].iloc[-6].to_pydatetime().replace(tzinfo=UTC)
    assert plain.level_shift_since is None
    assert float(np.mean(path.p50[12:])) > 18.0
    assert float(np.mean(plain.p50[12:])) < 10.0


def test_the_level_shift_rule_leaves_ordinary_forecasts_alone(fitted, panel) -> None:
    default = fitted.forecast(panel, now=NOW, horizon_steps=DAY, events=[])
    assert all(path.model == "Ensemble" for path in default.values())
    assert ForecastConfig().shift_after_minutes == 60
