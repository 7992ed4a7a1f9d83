"""What the forecasting engine hands to the decision engine and the replay.

The engine itself works on Nixtla long frames (``unique_id, ds, y``) and emits ``<model>``,
``<model>-lo-<level>`` and ``<model>-hi-<level>`` columns; :func:`paths_from_frame` turns those into
one :class:`ForecastPath` per target with the quantiles the decision engine uses (p50, p90, p99:
the upper ends of the central 80 % and 98 % intervals).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import pandas as pd

#: Central interval levels whose upper ends are the p90 and p99 quantiles.
LEVELS: tuple[int, int] = (80, 98)
QUANTILE_LEVEL: dict[float, int] = {0.9: 80, 0.99: 98}


@dataclass(frozen=True)
class BusinessWindow:
    """A business event as the forecaster sees it: a window and an expected effect on one target."""

    unique_id: str
    event_type: str
    start: datetime
    end: datetime
    multiplier: float | None = None
    expected_load: float | None = None


@dataclass(frozen=True)
class ForecastPath:
    """Forecast of one target for the coming steps: timestamps (UTC) and non-negative quantiles."""

    unique_id: str
    issued_at: datetime
    ds: pd.DatetimeIndex
    p50: np.ndarray
    p90: np.ndarray
    p99: np.ndarray
    confidence: float
    model: str
    #: start of a lasting level shift the forecast follows beyond its first hour (models/regime.py), else None
    level_shift_since: datetime | None = None

    def __post_init__(self) -> None:
        n = len(self.ds)
        for name in ("p50", "p90", "p99"):
            values = getattr(self, name)
            if len(values) != n:
                raise ValueError(f"{name}: has {len(values)} values for {n} timestamps")
            if not np.all(np.isfinite(values)) or np.any(values < 0):
                raise ValueError(f"{name}: forecasts must be finite and non-negative")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError("confidence: must lie in [0, 1]")

    def quantile(self, q: float) -> np.ndarray:
        """Values at quantile ``q`` (0.5 ≤ q < 1), interpolated linearly between p50, p90 and p99."""
        if q <= 0.5:
            return self.p50
        if q <= 0.9:
            w = (q - 0.5) / 0.4
            return (1 - w) * self.p50 + w * self.p90
        w = min(1.0, (q - 0.9) / 0.09)
        return (1 - w) * self.p90 + w * self.p99


@dataclass(frozen=True)
class NoForecast:
    """There is no usable forecast for this target (too little history...); the decider stays reactive."""

    unique_id: str
    reason: str


class ForecastingService(Protocol):
    """What the forecaster Lambda, the trainer and the replay call.

    ``history`` is a long frame ``unique_id, ds, y`` (ds tz-naive UTC at a fixed step, gaps allowed as
    missing rows). ``fit`` refits and backtests (the trainer's job); ``forecast`` applies the fitted
    models to the newest data (the forecaster's job) and must not refit expensive models.
    """

    def fit(self, history: pd.DataFrame, *, now: datetime, events: list[BusinessWindow]) -> ForecastingService: ...

    def forecast(
        self, history: pd.DataFrame, *, now: datetime, horizon_steps: int, events: list[BusinessWindow]
    ) -> dict[str, ForecastPath | NoForecast]: ...


def paths_from_frame(
    frame: pd.DataFrame, model: str, *, issued_at: datetime, confidence: dict[str, float]
) -> list[ForecastPath]:
    """Turn a Nixtla forecast frame (``unique_id, ds, <model>, <model>-hi-80, <model>-hi-98``) into paths."""
    paths: list[ForecastPath] = []
    for uid, part in frame.sort_values(["unique_id", "ds"]).groupby("unique_id", sort=False):
        p50 = np.clip(part[model].to_numpy(dtype=float), 0, None)
        p90 = np.maximum(np.clip(part[f"{model}-hi-{LEVELS[0]}"].to_numpy(dtype=float), 0, None), p50)
        p99 = np.maximum(np.clip(part[f"{model}-hi-{LEVELS[1]}"].to_numpy(dtype=float), 0, None), p90)
        paths.append(
            ForecastPath(
                unique_id=str(uid),
                issued_at=issued_at,
                ds=pd.DatetimeIndex(part["ds"]),
                p50=p50,
                p90=p90,
                p99=p99,
                confidence=confidence.get(str(uid), 0.0),
                model=model,
            )
        )
    return paths
