from __future__ import annotations

import numpy as np
import pandas as pd

from functions.domain.trace import Trace


def daily_trace(days: float = 3.0, step_seconds: int = 300, *, seed: int = 7, name: str = "synthetic") -> Trace:
    """A daily cycle with noise and a few unknown steps: enough structure for forecasts to matter."""
    n = int(days * 86_400 / step_seconds)
    rng = np.random.default_rng(seed)
    t = np.arange(n) * step_seconds / 86_400
    y = 100 + 60 * np.sin(2 * np.pi * (t - 0.3)) + rng.normal(0, 4, n)
    y = np.clip(y, 1, None)
    y[rng.choice(n, size=3, replace=False)] = np.nan
    ds = pd.date_range("2024-03-04", periods=n, freq=f"{step_seconds}s")
    return Trace(ds=ds, y=y, step_seconds=step_seconds, name=name)
