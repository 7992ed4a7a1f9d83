"""The accuracy protocol shared by ``forescale backtest`` and benchmarks/forecast_accuracy.py.

On a trace at 5-minute steps (other steps are resampled by the caller): forecast origins every 6 h
over the last 7 days; at each origin the service is refitted on the history before it (at most
``ForecastConfig.max_history_days``) and forecasts 24 h. For each horizon (1 h, 24 h): MASE (mean
absolute error over the first H steps, scaled by the in-sample MAE of the daily seasonal-naive
forecast over the training window) and sMAPE (%), averaged over origins, per model and ensemble.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.config import ForecastConfig
from models.prep import season_steps

DEFAULT_HORIZONS = {"1h": 3600, "24h": 86_400}


def parse_horizons(text: str) -> dict[str, int]:
    """``"15min,1h,24h"`` → {label: seconds}; clear error on a bad item."""
    out: dict[str, int] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            seconds = int(pd.Timedelta(item).total_seconds())
        except ValueError as exc:
            raise ValueError(f"horizons: {item!r} is not a duration like 15min, 1h or 24h") from exc
        if seconds <= 0:
            raise ValueError(f"horizons: {item!r} must be positive")
        out[item] = seconds
    if not out:
        raise ValueError("horizons: give at least one, e.g. 1h,24h")
    return out


def mase_scale(history: np.ndarray, season: int) -> float:
    """In-sample MAE of the seasonal-naive forecast (NaN-aware)."""
    if len(history) <= season:
        return float("nan")
    diff = np.abs(history[season:] - history[:-season])
    return float(np.nanmean(diff)) if np.isfinite(diff).any() else float("nan")


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    denominator = np.abs(actual) + np.abs(forecast)
    ok = np.isfinite(actual) & (denominator > 0)
    if not ok.any():
        return float("nan")
    return float(np.mean(200 * np.abs(actual[ok] - forecast[ok]) / denominator[ok]))


@dataclass
class BacktestResult:
    """Per horizon label and model: mean MASE and sMAPE over origins; plus timing."""

    mase: dict[str, dict[str, float]] = field(default_factory=dict)
    smape: dict[str, dict[str, float]] = field(default_factory=dict)
    #: per horizon label: share of actual values at or below the ensemble's p90 and p99
    coverage: dict[str, dict[str, float]] = field(default_factory=dict)
    origins: int = 0
    fit_seconds: float = 0.0
    forecast_seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "origins": self.origins,
            "mase": self.mase,
            "smape": self.smape,
            "ensemble_coverage": self.coverage,
            "fit_seconds_per_origin": round(self.fit_seconds / max(1, self.origins), 3),
            "forecast_seconds_per_origin": round(self.forecast_seconds / max(1, self.origins), 3),
        }


def origins_for(ds: pd.DatetimeIndex, *, last_days: float, every_hours: float, max_horizon: int) -> list[pd.Timestamp]:
    """Origins every ``every_hours`` over the last ``last_days`` that leave ``max_horizon`` seconds of truth."""
    end = ds[-1] + (ds[1] - ds[0])
    first = end - pd.Timedelta(days=last_days)
    stop = end - pd.Timedelta(seconds=max_horizon)
    out = []
    t = first
    while t <= stop:
        out.append(t)
        t += pd.Timedelta(hours=every_hours)
    return out


def run_backtest(
    ds: pd.DatetimeIndex,
    y: np.ndarray,
    *,
    step_seconds: int,
    horizons: dict[str, int] | None = None,
    last_days: float = 7,
    every_hours: float = 6,
    config: ForecastConfig | None = None,
    name: str = "trace",
    make_service: Callable[[int, ForecastConfig], object] | None = None,
) -> BacktestResult:
    """Run the protocol on one series (``ds`` regular, ``y`` with NaN for unknown load)."""
    from models.service import ForecastEnsemble

    horizons = horizons or dict(DEFAULT_HORIZONS)
    config = config or ForecastConfig()
    max_h = max(horizons.values())
    h_steps = {label: max(1, seconds // step_seconds) for label, seconds in horizons.items()}
    season = season_steps(step_seconds)
    series = pd.Series(y, index=ds)
    half_step = pd.Timedelta(step_seconds * 500, unit="ms")
    frame = pd.DataFrame({"unique_id": name, "ds": ds, "y": y}).dropna()
    result = BacktestResult()
    sums: dict[str, dict[str, list[float]]] = {k: {} for k in horizons}
    smapes: dict[str, dict[str, list[float]]] = {k: {} for k in horizons}
    covered: dict[str, dict[str, list[float]]] = {k: {"p90": [], "p99": []} for k in horizons}
    for origin in origins_for(ds, last_days=last_days, every_hours=every_hours, max_horizon=max_h):
        now = origin.to_pydatetime()
        train_start = origin - pd.Timedelta(days=config.max_history_days)
        history = frame[(frame.ds < origin) & (frame.ds >= train_start)]
        service = make_service(step_seconds, config) if make_service else ForecastEnsemble(step_seconds, config)
        t0 = time.perf_counter()
        service.fit(history, now=now, events=[])  # type: ignore[attr-defined]
        t1 = time.perf_counter()
        predicted = service.predict(history, now=now, h=max(h_steps.values()))  # type: ignore[attr-defined]
        t2 = time.perf_counter()
        if predicted.empty:
            continue
        result.fit_seconds += t1 - t0
        result.forecast_seconds += t2 - t1
        result.origins += 1
        scale = mase_scale(series[(series.index < origin) & (series.index >= train_start)].to_numpy(), season)
        # the engine's grid keeps a trace's phase to the whole minute (models/prep.py): a forecast stands for
        # the trace step nearest to it, not only one at the very same second
        truth = series.reindex(pd.DatetimeIndex(predicted["ds"]), method="nearest", tolerance=half_step).to_numpy()
        models = [c for c in predicted.columns if c not in ("unique_id", "ds") and "-lo-" not in c and "-hi-" not in c]
        for label, steps in h_steps.items():
            actual = truth[:steps]
            if not np.isfinite(actual).any():
                continue
            for model in models:
                forecast = predicted[model].to_numpy()[:steps]
                err = float(np.nanmean(np.abs(actual - forecast)))
                if np.isfinite(scale) and scale > 0:
                    sums[label].setdefault(model, []).append(err / scale)
                smapes[label].setdefault(model, []).append(smape(actual, forecast))
            known = np.isfinite(actual)
            for quantile, column in (("p90", "Ensemble-hi-80"), ("p99", "Ensemble-hi-98")):
                if column in predicted.columns:
                    upper = predicted[column].to_numpy()[:steps]
                    covered[label][quantile].extend((actual[known] <= upper[known]).astype(float))
    for label in horizons:
        result.mase[label] = {m: round(float(np.mean(v)), 4) for m, v in sums[label].items()}
        result.smape[label] = {m: round(float(np.nanmean(v)), 3) for m, v in smapes[label].items()}
        result.coverage[label] = {q: round(float(np.mean(v)), 4) for q, v in covered[label].items() if v}
    return result
