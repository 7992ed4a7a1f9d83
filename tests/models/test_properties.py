"""Property-based tests (hypothesis): any messy history gives valid forecasts or a clear refusal."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.api import ForecastPath, NoForecast
from models.prep import DataReport, to_grid
from models.service import ForecastEnsemble

STEP = 300
NOW = datetime(2024, 1, 10)


@st.composite
def messy_history(draw: st.DrawFn) -> pd.DataFrame:
    """A target with random length (hours to 3 days), gaps, NaN, negatives, duplicates, jitter, disorder."""
    n = draw(st.integers(min_value=2, max_value=900))
    base = draw(st.sampled_from([0.0, 1e-6, 1.0, 1e3, 1e9]))
    kind = draw(st.sampled_from(["constant", "cycle", "random", "spiky"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    t = np.arange(n)
    if kind == "constant":
        y = np.full(n, base)
    elif kind == "cycle":
        y = base * (1 + 0.5 * np.sin(2 * np.pi * t / 288))
    elif kind == "random":
        y = base * rng.random(n)
    else:
        y = base * (1 + (rng.random(n) > 0.98) * 20)
    spacing = STEP * draw(st.sampled_from([1, 1, 3]))  # every step, or every 3rd (irregular/gappy)
    ds = pd.Timestamp(NOW) - pd.to_timedelta((n - t) * spacing, unit="s")
    ds = ds + pd.to_timedelta(rng.integers(-60, 60, n), unit="s")
    y = y.astype(float)
    y[rng.random(n) < draw(st.floats(0, 0.3))] = np.nan
    y[rng.random(n) < draw(st.floats(0, 0.05))] = -1.0
    frame = pd.DataFrame({"unique_id": "x", "ds": ds, "y": y})
    if draw(st.booleans()):
        frame = pd.concat([frame, frame.sample(frac=0.1, random_state=1)])
    return frame.sample(frac=1.0, random_state=2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=messy_history(), horizon=st.integers(1, 300))
def test_unfitted_forecast_is_valid_or_refused(history, horizon):
    out = ForecastEnsemble(STEP).forecast(history, now=NOW, horizon_steps=horizon, events=[])
    assert set(out) <= {"x"}
    for path in out.values():
        if isinstance(path, NoForecast):
            assert path.reason
            continue
        assert isinstance(path, ForecastPath)
        assert len(path.p50) == horizon
        assert np.all(np.isfinite(path.p99)) and np.all(path.p50 >= 0)
        assert np.all(path.p50 <= path.p90) and np.all(path.p90 <= path.p99)
        assert path.ds[0] >= pd.Timestamp(NOW)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=messy_history())
def test_fit_then_forecast_is_valid_or_refused(history):
    from models.config import ForecastConfig

    service = ForecastEnsemble(STEP, ForecastConfig(gbm_rounds=10)).fit(history, now=NOW, events=[])
    out = service.forecast(history, now=NOW, horizon_steps=24, events=[])
    for path in out.values():
        if isinstance(path, ForecastPath):
            assert np.all(np.isfinite(path.p99)) and np.all(path.p50 <= path.p99)


@settings(max_examples=60, deadline=None)
@given(history=messy_history())
def test_grid_keeps_only_the_past_on_a_regular_grid(history):
    report = DataReport()
    grids = to_grid(history, step_seconds=STEP, now=NOW - timedelta(hours=1), report=report)
    for grid in grids.values():
        assert grid.t_last < pd.Timestamp(NOW - timedelta(hours=1)).timestamp()
        assert not np.any(grid.y[np.isfinite(grid.y)] < 0)
    assert report.dropped_future_rows >= 0
