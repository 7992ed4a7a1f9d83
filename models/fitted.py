"""What the ensemble engine keeps per target after fitting and what it forecasts (both picklable)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.statistical import StatState

ENSEMBLE = "Ensemble"
FALLBACK = "SeasonalNaive"
NAIVE = "Naive"

#: One backtest origin: (origin index, horizons, truth at those horizons, scale, model -> predictions)
BacktestSample = tuple[int, np.ndarray, np.ndarray, float, dict[str, np.ndarray]]


@dataclass
class TargetFit:
    """Everything fitted for one target (picklable)."""

    unique_id: str
    kind: str  # "full" | "short"
    step: int
    t_last: int
    models: list[str]
    horizons: np.ndarray
    weights: np.ndarray  # (len(horizons), len(models))
    quantiles: dict[str, np.ndarray]  # model -> (len(horizons), len(PROBS)) of errors / scale
    mae: dict[str, np.ndarray]  # model -> (len(horizons),) MAE / scale in the holdout
    confidence: float
    stat: StatState | None = None
    history_days: float = 0.0


@dataclass
class ModelForecast:
    """Forecasts of one target: point and quantile paths per model (``Ensemble`` included)."""

    unique_id: str
    times: np.ndarray  # Unix seconds of each forecast step
    points: dict[str, np.ndarray]
    bands: dict[str, dict[float, np.ndarray]]  # model -> prob -> values
    confidence: float
    kind: str
    #: Unix seconds of the start of a lasting level shift the ensemble follows (models/regime.py)
    shift_start: int | None = None
