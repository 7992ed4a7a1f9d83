"""The benchmark helpers that change what the figures mean: recorded forecasts moved toward the truth."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from benchmarks.replay_tradeoff import ReplayedForecaster, toward_actual
from functions.domain.trace import Trace
from models.api import ForecastPath, NoForecast

NOW = datetime(2024, 1, 1, 0, 0)
DS = pd.date_range(NOW, periods=4, freq="5min")


def recorded() -> dict[datetime, dict[str, ForecastPath | NoForecast]]:
    path = ForecastPath(
        "t",
        NOW,
        DS,
        p50=np.array([10.0, 10.0, 10.0, 10.0]),
        p90=np.array([14.0, 14.0, 14.0, 14.0]),
        p99=np.array([20.0, 20.0, 20.0, 20.0]),
        confidence=0.5,
        model="Ensemble",
    )
    return {NOW: {"t": path, "u": NoForecast("u", "short history")}}


# the load that came: known at three steps, unknown at the third
TRACE = Trace(ds=DS, y=np.array([12.0, 8.0, np.nan, 30.0]), step_seconds=300, name="t")


def test_no_error_kept_gives_the_load_that_came_where_it_is_known():
    moved = toward_actual(TRACE, recorded(), 0.0)[NOW]["t"]
    assert isinstance(moved, ForecastPath)
    for values in (moved.p50, moved.p90, moved.p99):
        np.testing.assert_allclose(values[[0, 1, 3]], [12.0, 8.0, 30.0])
    assert (moved.p50[2], moved.p90[2], moved.p99[2]) == (10.0, 14.0, 20.0)  # unknown load: as recorded
    assert moved.confidence == 1.0


def test_a_share_of_the_error_is_kept_and_quantiles_stay_ordered():
    moved = toward_actual(TRACE, recorded(), 0.5)[NOW]["t"]
    assert isinstance(moved, ForecastPath)
    np.testing.assert_allclose(moved.p50[[0, 1, 3]], [11.0, 9.0, 20.0])
    np.testing.assert_allclose(moved.p99[[0, 1, 3]], [16.0, 14.0, 25.0])
    assert np.all(moved.p50 <= moved.p90) and np.all(moved.p90 <= moved.p99)
    assert moved.confidence == 0.5


def test_a_missing_forecast_stays_missing_and_an_unrecorded_time_is_an_error():
    assert isinstance(toward_actual(TRACE, recorded(), 0.0)[NOW]["u"], NoForecast)
    with pytest.raises(KeyError, match="now: no forecast was recorded"):
        ReplayedForecaster(recorded()).forecast(pd.DataFrame(), now=datetime(2024, 1, 2), horizon_steps=4, events=[])


def test_budget_sweep_verdicts_count_what_their_labels_say():
    from benchmarks.budget_sweep import budgets_of, verdicts

    # GIVEN three budgets, realised under-time within each, and a cost that rises once
    runs = [
        {"budget_pct": 0.1, "under_time_pct": 0.08, "cost_ratio": 1.40},
        {"budget_pct": 0.5, "under_time_pct": 0.50, "cost_ratio": 1.30},
        {"budget_pct": 2.0, "under_time_pct": 1.10, "cost_ratio": 1.35},
    ]
    assert verdicts(runs) == (True, False)
    # WHEN one realised under-time exceeds its budget
    runs[0]["under_time_pct"] = 0.11
    runs[2]["cost_ratio"] = 1.2
    assert verdicts(runs) == (False, True)
    # AND budgets are parsed in order, bad ones refused naming the value
    assert budgets_of("2,0.1,0.5") == (0.1, 0.5, 2.0)
    with pytest.raises(Exception, match="'0,1'"):
        budgets_of("0,1")
