from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from functions.domain.target import LoadMetric, ScalingTarget
from models.api import ForecastPath

NOW = datetime(2024, 5, 6, 14, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)


def make_target(**overrides) -> ScalingTarget:
    config = {
        "target_id": "web",
        "kind": "asg",
        "asg_name": "web-asg",
        "metric": LoadMetric(namespace="App", name="Requests", period_seconds=300, unit_label="req/min"),
        "capacity_per_instance": 1600.0,
        "boot_seconds": 300,
        "min_capacity": 2,
        "max_capacity": 20,
        "decision_interval_seconds": 300,
        "mode": "direct",
    }
    config.update(overrides)
    return ScalingTarget(**config)


def make_path(
    p50,
    p90=None,
    p99=None,
    *,
    start: datetime = NOW,
    issued_at: datetime | None = None,
    confidence: float = 0.9,
) -> ForecastPath:
    p50 = np.asarray(p50, dtype=float)
    p90 = p50 if p90 is None else np.asarray(p90, dtype=float)
    p99 = p90 if p99 is None else np.asarray(p99, dtype=float)
    return ForecastPath(
        unique_id="web",
        issued_at=issued_at or start,
        ds=pd.date_range(start.replace(tzinfo=None), periods=len(p50), freq="5min"),
        p50=p50,
        p90=p90,
        p99=p99,
        confidence=confidence,
        model="test",
    )


def flat(value: float, steps: int = 12) -> np.ndarray:
    return np.full(steps, float(value))
