"""A small forecasting service for tests only: seasonal persistence with empirical error quantiles.

It implements the ``ForecastingService`` protocol of ``models/api.py`` so that the replay and the
decision tests do not depend on the real engine's speed; the replay itself runs ``models.service``.
p50 at lead h is the newest load plus yesterday's change over the same h steps; p90/p99 add the
empirical quantiles of that rule's errors over the last days.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from models.api import BusinessWindow, ForecastPath, NoForecast


class SeasonalPersistence:
    def __init__(self, step_seconds: int, *, error_days: int = 3) -> None:
        self.step_seconds = step_seconds
        self.error_days = error_days
        self.fit_calls: list[datetime] = []
        self.forecast_calls: list[datetime] = []

    def fit(self, history: pd.DataFrame, *, now: datetime, events: list[BusinessWindow]) -> SeasonalPersistence:
        self.fit_calls.append(now)
        return self

    def forecast(
        self, history: pd.DataFrame, *, now: datetime, horizon_steps: int, events: list[BusinessWindow]
    ) -> dict[str, ForecastPath | NoForecast]:
        self.forecast_calls.append(now)
        out: dict[str, ForecastPath | NoForecast] = {}
        step = timedelta(seconds=int(self.step_seconds))
        season = 86_400 // self.step_seconds
        for uid, part in history.groupby("unique_id"):
            if (part["ds"] >= pd.Timestamp(now)).any():
                raise AssertionError("history holds rows at or after now")
            grid = pd.date_range(end=pd.Timestamp(now) - step, periods=season * (self.error_days + 2), freq=step)
            y = part.set_index("ds")["y"].reindex(grid).ffill().bfill().to_numpy(dtype=float)
            if len(part) < season or np.isnan(y).all():
                out[str(uid)] = NoForecast(str(uid), "less than one day of history")
                continue
            h = np.arange(1, horizon_steps + 1)
            last = len(y) - 1
            p50 = y[last] + (y[last - season + h] - y[last - season]) if horizon_steps <= season else None
            assert p50 is not None
            # errors of the same rule at each lead over the last days
            origins = np.arange(last - season * self.error_days, last - horizon_steps, 3)[:, None]
            guess = y[origins] + (y[origins - season + h] - y[origins - season])
            errors = y[origins + h] - guess
            e = errors
            p50 = np.clip(p50 + np.quantile(e, 0.5, axis=0), 0, None)
            p90 = np.maximum(p50, p50 + np.quantile(e, 0.9, axis=0) - np.quantile(e, 0.5, axis=0))
            p99 = np.maximum(p90, p50 + np.quantile(e, 0.99, axis=0) - np.quantile(e, 0.5, axis=0))
            out[str(uid)] = ForecastPath(
                unique_id=str(uid),
                issued_at=now,
                ds=pd.date_range(pd.Timestamp(now), periods=horizon_steps, freq=step),
                p50=p50,
                p90=p90,
                p99=p99,
                confidence=0.8,
                model="seasonal-persistence",
            )
        return out
