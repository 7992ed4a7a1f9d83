"""Synthetic panels for the forecasting tests: many small series with daily and weekly cycles."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from models.config import ForecastConfig
from models.service import ForecastEnsemble

STEP = 300
NOW = datetime(2024, 3, 11, 12, 0)  # a Monday noon


def make_panel(
    n_series: int = 4, days: float = 5.0, *, step: int = STEP, now: datetime = NOW, seed: int = 0, noise: float = 0.05
) -> pd.DataFrame:
    """Long frame of ``n_series`` series ending one step before ``now``: level x (daily cycle + noise)."""
    n = int(days * 86_400 // step)
    ds = pd.date_range(end=pd.Timestamp(now) - pd.Timedelta(seconds=step), periods=n, freq=pd.Timedelta(seconds=step))
    tod = (ds.hour * 3600 + ds.minute * 60) / 86_400
    weekday = ds.dayofweek.to_numpy()
    frames = []
    for i in range(n_series):
        rng = np.random.default_rng(seed + i)
        level = (3.0, 40.0, 700.0, 9000.0)[i % 4] * (1 + i // 4)
        shape = 1 + 0.5 * np.sin(2 * np.pi * (tod - 0.3 + 0.05 * i)) + 0.1 * (weekday < 5)
        y = level * shape * (1 + noise * rng.standard_normal(n))
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": np.maximum(y, 0)}))
    return pd.concat(frames, ignore_index=True)


FAST = ForecastConfig(gbm_rounds=40, backtest_every_minutes=240)


@pytest.fixture(scope="session")
def panel() -> pd.DataFrame:
    return make_panel(4, 5.0)


@pytest.fixture(scope="session")
def fitted(panel: pd.DataFrame) -> ForecastEnsemble:
    return ForecastEnsemble(STEP, FAST).fit(panel, now=NOW, events=[])
