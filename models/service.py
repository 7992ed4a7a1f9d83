"""ForecastEnsemble: the forecasting engine as the trainer, the forecaster and the replay call it.

``fit`` refits and backtests (the trainer); ``forecast`` applies the fitted models to the newest data
(the forecaster), and also works unfitted (SeasonalNaive with in-sample intervals). Only rows with
``ds < now`` are ever used. ``predict`` gives the same forecasts as a Nixtla frame with every model's
``<model>``, ``<model>-lo-<level>``, ``<model>-hi-<level>`` columns. ``save`` / ``load`` write and read a
directory of artifacts.
"""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.api import BusinessWindow, ForecastPath, NoForecast
from models.config import ForecastConfig
from models.engine import EnsembleForecaster
from models.events import EventEffectLearner, apply_windows
from models.fitted import ENSEMBLE, ModelForecast
from models.intervals import band_at
from models.prep import DataReport, HistoryError, from_unix_seconds, to_grid, to_unix_seconds

ARTIFACT_VERSION = 1
LIBRARIES = ("numpy", "pandas", "scikit-learn", "lightgbm", "statsforecast", "holidays")


def _naive_utc(now: datetime) -> datetime:
    if now.tzinfo is not None:
        return now.astimezone(UTC).replace(tzinfo=None)
    return now


class ForecastEnsemble:
    """Implements :class:`models.api.ForecastingService` over the ensemble engine.

    Fitted state: ``anomalies_`` (per target: (ds, value, score) of the history points flagged and kept
    out of training), ``skipped_`` (targets not fitted, with the reason), ``report_`` (repairs made
    to the input), ``scores_`` (per target and model: backtest MAE / mean load at 15 min, 1 h, 24 h).
    ``event_effects`` holds the learned business-event uplifts (``event_effects.state`` is a dict).
    """

    def __init__(
        self,
        step_seconds: int,
        config: ForecastConfig | None = None,
        *,
        event_effects: EventEffectLearner | None = None,
    ) -> None:
        if not isinstance(step_seconds, int) or step_seconds <= 0 or 86_400 % step_seconds:
            raise ValueError(f"step_seconds: must be a positive divisor of one day, got {step_seconds!r}")
        self.step_seconds = step_seconds
        self.config = config or ForecastConfig()
        self.event_effects = event_effects or EventEffectLearner()
        self.engine = EnsembleForecaster(step_seconds, self.config, self.event_effects)
        self.anomalies_: dict[str, list[tuple[pd.Timestamp, float, float]]] = {}
        self.skipped_: dict[str, str] = {}
        self.report_ = DataReport()
        self.fitted_at_: datetime | None = None

    @property
    def is_fitted(self) -> bool:
        return self.fitted_at_ is not None

    # ------------------------------------------------------------------ trainer
    def fit(self, history: pd.DataFrame, *, now: datetime, events: list[BusinessWindow]) -> ForecastEnsemble:
        """Refit and backtest every target on its rows with ``ds < now``."""
        now = _naive_utc(now)
        self.report_ = DataReport()
        grids = to_grid(
            history,
            step_seconds=self.step_seconds,
            now=now,
            max_history_days=self.config.max_history_days,
            report=self.report_,
        )
        self.skipped_ = self.engine.fit(grids, list(events), now_seconds=to_unix_seconds(now))
        self.anomalies_ = dict(self.engine.anomalies_)
        self.fitted_at_ = now
        return self

    @property
    def scores_(self) -> dict[str, dict[str, dict[str, float]]]:
        out: dict[str, dict[str, dict[str, float]]] = {}
        marks = {"15min": 900, "1h": 3600, "24h": 86_400}
        for uid, fit in self.engine.targets_.items():
            per_model: dict[str, dict[str, float]] = {}
            for model, mae in fit.mae.items():
                row = {}
                for label, seconds in marks.items():
                    j = int(np.argmin(np.abs(fit.horizons * self.step_seconds - seconds))) if len(mae) > 1 else 0
                    value = float(mae[min(j, len(mae) - 1)])
                    if np.isfinite(value):
                        row[label] = round(value, 6)
                per_model[model] = row
            out[uid] = per_model
        return out

    # ------------------------------------------------------------------ forecaster
    def _run(
        self, history: pd.DataFrame, now: datetime, horizon_steps: int, events: list[BusinessWindow]
    ) -> tuple[dict[str, ModelForecast], dict[str, str]]:
        if not isinstance(horizon_steps, int | np.integer) or horizon_steps < 1:
            raise ValueError(f"horizon_steps: must be a positive integer, got {horizon_steps!r}")
        grids = to_grid(
            history,
            step_seconds=self.step_seconds,
            now=now,
            max_history_days=self.config.max_history_days,
        )
        return self.engine.forecast(grids, list(events), now_seconds=to_unix_seconds(now), horizon=int(horizon_steps))

    def forecast(
        self, history: pd.DataFrame, *, now: datetime, horizon_steps: int, events: list[BusinessWindow]
    ) -> dict[str, ForecastPath | NoForecast]:
        """p50 / p90 / p99 paths for the ``horizon_steps`` grid steps from the first one at or after ``now``."""
        issued_at = now
        now = _naive_utc(now)
        forecasts, refused = self._run(history, now, horizon_steps, events)
        out: dict[str, ForecastPath | NoForecast] = {uid: NoForecast(uid, reason) for uid, reason in refused.items()}
        lo, hi = self.config.levels[0], self.config.levels[min(1, len(self.config.levels) - 1)]
        for uid, fc in forecasts.items():
            bands = fc.bands.get(ENSEMBLE, {})
            p50 = fc.points[ENSEMBLE]
            p90 = band_at(bands, 0.5 + lo / 200) if bands else p50
            p99 = band_at(bands, 0.5 + hi / 200) if bands else p50
            quantiles, applied = apply_windows(
                uid, fc.times, {"p50": p50, "p90": p90, "p99": p99}, events, self.event_effects
            )
            p50 = np.nan_to_num(np.maximum(quantiles["p50"], 0))
            p90 = np.maximum(np.nan_to_num(quantiles["p90"]), p50)
            p99 = np.maximum(np.nan_to_num(quantiles["p99"]), p90)
            model = ENSEMBLE if fc.kind == "full" else "SeasonalNaive"
            if fc.shift_start is not None:
                model += "+level-shift"
            if applied:
                model += "+" + ",".join(applied)
            out[uid] = ForecastPath(
                unique_id=uid,
                issued_at=issued_at,
                ds=from_unix_seconds(fc.times),
                p50=p50,
                p90=p90,
                p99=p99,
                confidence=float(np.clip(fc.confidence, 0, 1)),
                model=model,
                level_shift_since=None if fc.shift_start is None else datetime.fromtimestamp(fc.shift_start, UTC),
            )
        return out

    def predict(
        self,
        history: pd.DataFrame,
        *,
        now: datetime,
        h: int,
        level: list[int] | tuple[int, ...] | None = None,
        events: list[BusinessWindow] | None = None,
    ) -> pd.DataFrame:
        """Nixtla frame: ``unique_id, ds`` and per model ``<model>``, ``<model>-lo-<l>``, ``<model>-hi-<l>``.

        Business windows are not applied here (this is the models' view); ``forecast`` applies them.
        """
        now = _naive_utc(now)
        levels = list(level) if level is not None else list(self.config.levels)
        forecasts, _ = self._run(history, now, h, events or [])
        frames = []
        for uid, fc in forecasts.items():
            columns: dict[str, Any] = {"unique_id": uid, "ds": from_unix_seconds(fc.times)}
            for model, point in fc.points.items():
                columns[model] = point
                bands = fc.bands.get(model)
                for lv in levels:
                    if bands:
                        columns[f"{model}-lo-{lv}"] = np.minimum(band_at(bands, 0.5 - lv / 200), point)
                        columns[f"{model}-hi-{lv}"] = np.maximum(band_at(bands, 0.5 + lv / 200), point)
            frames.append(pd.DataFrame(columns))
        if not frames:
            return pd.DataFrame(columns=["unique_id", "ds"])
        return pd.concat(frames, ignore_index=True)

    # ------------------------------------------------------------------ artifacts
    def save(self, directory: str | Path) -> Path:
        """Write ``metadata.json``, ``lightgbm.txt`` and ``targets.pkl`` into ``directory``."""
        if self.fitted_at_ is None:
            raise ValueError("service: fit before save")
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        (path / "lightgbm.txt").write_text(self.engine.booster_.to_string())
        from models.gbm import holiday_calendar

        # the holidays of the training years and two years on travel with the models: loading them
        # spares the forecaster's cold start the import of the ``holidays`` package
        start, end = self.engine.fit_seconds_ or (0, 0)
        first_year = min(from_unix_seconds(start)[0].year, self.fitted_at_.year - 1)
        state = {
            "holidays": holiday_calendar(self.config.holiday_country, first_year, self.fitted_at_.year + 2),
            "targets": self.engine.targets_,
            "config": self.config,
            "event_effects": self.event_effects.state,
            "skipped": self.skipped_,
            "anomalies": self.anomalies_,
        }
        with (path / "targets.pkl").open("wb") as handle:
            pickle.dump(state, handle, protocol=5)
        meta = {
            "artifact_version": ARTIFACT_VERSION,
            "step_seconds": self.step_seconds,
            "fitted_at": self.fitted_at_.isoformat() if self.fitted_at_ else None,
            "training_window": {
                "start": from_unix_seconds(start)[0].isoformat(),
                "end": from_unix_seconds(end)[0].isoformat(),
            },
            "libraries": {name: _version(name) for name in LIBRARIES},
            "targets": {
                uid: {"kind": fit.kind, "models": fit.models, "confidence": round(fit.confidence, 4)}
                for uid, fit in self.engine.targets_.items()
            },
            "scores": self.scores_,
            "skipped": self.skipped_,
        }
        (path / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
        return path

    @classmethod
    def load(cls, directory: str | Path) -> ForecastEnsemble:
        """Read a directory written by :meth:`save` (trusted artifacts only: it unpickles)."""
        path = Path(directory)
        meta = json.loads((path / "metadata.json").read_text())
        if meta.get("artifact_version") != ARTIFACT_VERSION:
            raise ValueError(f"artifact_version: {meta.get('artifact_version')!r} is not {ARTIFACT_VERSION}")
        with (path / "targets.pkl").open("rb") as handle:
            state = pickle.load(handle)
        service = cls(
            int(meta["step_seconds"]), state["config"], event_effects=EventEffectLearner(state["event_effects"])
        )
        from models.gbm import GlobalBooster, remember_holidays

        remember_holidays(service.config.holiday_country, state.get("holidays", {}))
        service.engine.targets_ = state["targets"]
        service.engine.booster_ = GlobalBooster.from_string((path / "lightgbm.txt").read_text())
        service.skipped_ = state["skipped"]
        service.anomalies_ = state["anomalies"]
        service.fitted_at_ = datetime.fromisoformat(meta["fitted_at"]) if meta.get("fitted_at") else None
        return service


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


__all__ = ["ForecastEnsemble", "HistoryError"]
