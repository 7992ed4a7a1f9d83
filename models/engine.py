"""The ensemble engine: fits every model per target, backtests, weights and calibrates; then forecasts.

Fit (the trainer's job), per target with at least ``full_history_days`` of history:

1. anomalies are flagged (kept out of training, reported), past business windows are learnt from
   and divided out, gaps are filled (models/cleaning.py);
2. rolling-origin backtest inside the history (models/holdout.py): the statistical family is fitted on
   everything before the holdout (the last ``holdout_days``) and applied, exactly as the forecaster
   applies it, at an origin every ``backtest_every_minutes`` in the holdout; the LightGBM global model
   is trained on rows whose target lies before each target's holdout and predicts the same points;
3. from the holdout errors (divided by the target's mean load of the day before each origin;
   models/calibration.py): per target and per horizon, each model's MAE (one MAE over every horizon
   from ``long_pool_minutes``), ensemble weights (~ MAE^-4, models more than ``prune_ratio`` x the best
   dropped; models/weighting.py) and conformal quantiles of the errors of each model and of the
   ensemble: the intervals (models/intervals.py);
4. the statistical models are refitted on the whole history and LightGBM on all rows.

Forecast (the forecaster's job) applies the fitted models to the newest data: statistical filters
re-run forward, one LightGBM ``predict`` for all targets and horizons, weights and quantiles
interpolated between the backtested horizons, re-weighted by the last hour's accuracy, and paths
straying far from the models' median dropped. Targets under ``full_history_days`` (or never
fitted) get SeasonalNaive with intervals from its in-sample errors.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from models.api import BusinessWindow
from models.calibration import calibrate, short_fit
from models.cleaning import Prepared, prepare
from models.config import ForecastConfig
from models.events import EventEffectLearner
from models.fitted import ENSEMBLE, FALLBACK, BacktestSample, ModelForecast, TargetFit
from models.gbm import GlobalBooster, SeriesFeatures, horizon_steps, newest_scale
from models.holdout import Holdout, gbm_backtest, statistical_backtest
from models.intervals import quantile_bands
from models.prep import GridSeries, season_steps
from models.regime import followed_shift_start
from models.statistical import apply_stat, fit_stat, seasonal_naive
from models.weighting import consensus, follow_shift, forecast_weights


class EnsembleForecaster:
    """Nixtla-style engine over regular-grid series; see the module docstring for the method."""

    def __init__(self, step_seconds: int, config: ForecastConfig, learner: EventEffectLearner) -> None:
        self.step = step_seconds
        self.config = config
        self.learner = learner
        self.day = season_steps(step_seconds)
        self.horizons = horizon_steps(step_seconds, config.horizon_minutes)
        self.targets_: dict[str, TargetFit] = {}
        self.booster_: GlobalBooster = GlobalBooster(None)
        self.anomalies_: dict[str, list[tuple[pd.Timestamp, float, float]]] = {}
        self.fit_seconds_: tuple[int, int] | None = None

    def prepare(
        self, series: GridSeries, windows: Iterable[BusinessWindow], *, now_seconds: int, learn: bool
    ) -> Prepared:
        """The target's history cleaned for the models (models/cleaning.py)."""
        return prepare(
            series,
            windows,
            config=self.config,
            learner=self.learner,
            step=self.step,
            now_seconds=now_seconds,
            learn=learn,
        )

    # ----------------------------------------------------------------- fitting
    def fit(self, grids: dict[str, GridSeries], windows: list[BusinessWindow], *, now_seconds: int) -> dict[str, str]:
        """Fit all targets; returns the targets that could not be fitted with the reason."""
        cfg = self.config
        skipped: dict[str, str] = {}
        self.targets_ = {}
        self.anomalies_ = {}
        holdouts: dict[str, Holdout] = {}
        use_gbm = "LightGBM" in cfg.models
        for uid, grid in grids.items():
            days = grid.known_days
            if days < cfg.min_history_days:
                skipped[uid] = f"history: {days:.2f} days of known load, under the {cfg.min_history_days:g} needed"
                continue
            prep = self.prepare(grid, windows, now_seconds=now_seconds, learn=True)
            if prep.anomalies:
                self.anomalies_[uid] = prep.anomalies
            if days < cfg.full_history_days:
                self.targets_[uid] = short_fit(prep, horizons=self.horizons, step=self.step)
                continue
            holdout = statistical_backtest(prep, days, horizons=self.horizons, step=self.step, config=cfg)
            holdouts[uid] = holdout
            stat = fit_stat(prep.filled, prep.series.t0, self.step) if cfg.refit_after_holdout else holdout.stat
            self.targets_[uid] = TargetFit(
                unique_id=uid,
                kind="full",
                step=self.step,
                t_last=prep.series.t_last,
                models=[],
                horizons=self.horizons,
                weights=np.empty((0, 0)),
                quantiles={},
                mae={},
                confidence=0.0,
                stat=stat,
                history_days=days,
            )
        if use_gbm and holdouts:
            self.booster_ = gbm_backtest(holdouts, horizons=self.horizons, step=self.step, config=cfg)
        for uid, holdout in holdouts.items():
            self._calibrate(self.targets_[uid], holdout.samples)
        self.fit_seconds_ = (
            min((g.t0 for g in grids.values()), default=0),
            max((g.t_last for g in grids.values()), default=0),
        )
        return skipped

    def _calibrate(self, fit: TargetFit, samples: list[BacktestSample]) -> None:
        calibrate(fit, samples, horizons=self.horizons, step=self.step, config=self.config)

    def _weights(self, fit: TargetFit, models: list[str], hs: np.ndarray, recent: dict[str, list[float]]) -> np.ndarray:
        return forecast_weights(fit, models, hs, recent, step=self.step, config=self.config)

    # ----------------------------------------------------------------- forecasting
    def forecast(
        self,
        grids: dict[str, GridSeries],
        windows: list[BusinessWindow],
        *,
        now_seconds: int,
        horizon: int,
    ) -> tuple[dict[str, ModelForecast], dict[str, str]]:
        """Forecasts for ``horizon`` grid steps from the first step at or after ``now``; and refusals."""
        cfg = self.config
        refused: dict[str, str] = {}
        work: list[tuple[str, Prepared, TargetFit, np.ndarray, dict[str, np.ndarray], float, int | None]] = []
        gbm_blocks: list[np.ndarray] = []
        gbm_meta: list[tuple[int, np.ndarray, np.ndarray]] = []
        recent: list[dict[str, list[float]]] = []
        recent_gbm: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
        for uid, grid in grids.items():
            days = grid.known_days
            if days < cfg.min_history_days:
                refused[uid] = f"history: {days:.2f} days of known load, under the {cfg.min_history_days:g} needed"
                continue
            prep = self.prepare(grid, windows, now_seconds=now_seconds, learn=False)
            t_last = prep.series.t_last
            if (now_seconds - t_last) > cfg.max_staleness_days * 86_400:
                refused[uid] = f"history: newest known load is {(now_seconds - t_last) / 86_400:.2f} days old"
                continue
            offset = max(1, -(-(now_seconds - t_last) // self.step))
            hs = np.arange(offset, offset + horizon, dtype=np.int64)
            fit = self.targets_.get(uid)
            errors: dict[str, list[float]] = {}
            if fit is None or fit.kind != "full" or days < cfg.full_history_days or fit.stat is None:
                fit = short_fit(prep, horizons=self.horizons, step=self.step)
                paths = {FALLBACK: seasonal_naive(prep.filled, int(hs[-1]), self.day)}
            else:
                # one feature build per target serves the last hour's LightGBM re-forecasts and this one
                feats = (
                    SeriesFeatures.build(prep.filled, prep.series.t0, self.step, cfg.holiday_country)
                    if "LightGBM" in fit.models and self.booster_.booster is not None
                    else None
                )
                errors = self._recent_stat_errors(fit, prep, feats, recent_gbm, len(work))
                paths = {
                    m: p
                    for m, p in apply_stat(fit.stat, prep.filled, prep.series.t0, int(hs[-1])).items()
                    if m in fit.models
                }
                if feats is not None:
                    o = np.full(len(hs), len(prep.filled) - 1)
                    xr, base, sc_rows = feats.rows(o, hs)
                    gbm_blocks.append(xr)
                    gbm_meta.append((len(work), base, sc_rows))
                paths = {m: p[hs - 1] for m, p in paths.items()}
            if FALLBACK in paths and len(paths[FALLBACK]) != len(hs):
                paths[FALLBACK] = paths[FALLBACK][hs - 1]
            sc = newest_scale(prep.filled[-self.day * 2 :], self.step)
            shift = followed_shift_start(prep.raw, self.step, cfg) if fit.kind == "full" else None
            work.append((uid, prep, fit, hs, paths, sc, shift))
            recent.append(errors)
        if recent_gbm:
            pred = self.booster_.predict(np.vstack([x for _k, x, _b, _t in recent_gbm]))
            pos = 0
            for k, x, base_and_scale, truth in recent_gbm:
                if pred is not None:
                    base, sc_rows = base_and_scale
                    guess = np.maximum(base + sc_rows * pred[pos : pos + len(x)], 0)
                    recent[k].setdefault("LightGBM", []).extend(np.abs(truth - guess) / sc_rows)
                pos += len(x)
        if gbm_blocks:
            pred = self.booster_.predict(np.vstack(gbm_blocks))
            pos = 0
            for k, base, sc_rows in gbm_meta:
                if pred is not None:
                    work[k][4]["LightGBM"] = np.maximum(base + sc_rows * pred[pos : pos + len(base)], 0)
                pos += len(base)
        out: dict[str, ModelForecast] = {}
        for (uid, prep, fit, hs, paths, sc, shift), errors in zip(work, recent, strict=True):
            times = prep.series.t_last + self.step * hs
            start = None if shift is None else prep.series.t0 + self.step * shift
            out[uid] = self._combine(uid, fit, hs=hs, times=times, paths=paths, sc=sc, recent=errors, shift_start=start)
        return out, refused

    def _recent_stat_errors(
        self,
        fit: TargetFit,
        prep: Prepared,
        feats: SeriesFeatures | None,
        gbm_requests: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]],
        work_index: int,
    ) -> dict[str, list[float]]:
        """Errors (/ mean load) of each model's forecasts issued over the last hour, against what happened.

        Models applied at origins every ``recent_every_minutes`` in the last ``recent_origins`` steps of
        that spacing, horizons up to 1 h: the recent out-of-sample accuracy that re-weights the short
        horizons when the load changes regime (a drop, a surge) after the last training. LightGBM's rows
        (from ``feats``, None when it is not used) are queued on ``gbm_requests`` for one batched predict.
        """
        cfg = self.config
        assert fit.stat is not None
        n = len(prep.filled)
        every = max(1, round(cfg.recent_every_minutes * 60 / self.step))
        hour = max(1, round(3600 / self.step))
        errors: dict[str, list[float]] = {}
        # at coarse steps (30 min) look further back so that about 24 errors are measured
        origins = max(cfg.recent_origins, math.ceil(24 / hour)) if cfg.recent_origins else 0
        for k in range(1, origins + 1):
            o = n - 1 - k * every
            if o < self.day:
                break
            hmax = min(hour, n - 1 - o)
            truth = prep.raw[o + 1 : o + 1 + hmax]
            sc = newest_scale(prep.filled[max(0, o - self.day) : o + 1], self.step)
            for m, path in apply_stat(fit.stat, prep.filled[: o + 1], prep.series.t0, hmax).items():
                if m in fit.models:
                    errors.setdefault(m, []).extend(np.abs(truth - path[:hmax]) / sc)
            if feats is not None:
                h = np.arange(1, hmax + 1)
                x, base, sc_rows = feats.rows(np.full(hmax, o), h)
                gbm_requests.append((work_index, x, np.vstack([base, sc_rows]), truth))
        return errors

    def _combine(
        self,
        uid: str,
        fit: TargetFit,
        *,
        hs: np.ndarray,
        times: np.ndarray,
        paths: dict[str, np.ndarray],
        sc: float,
        recent: dict[str, list[float]] | None = None,
        shift_start: int | None = None,
    ) -> ModelForecast:
        """The ensemble path (weights, consensus guard, level shift) and every model's bands."""
        models = [m for m in fit.models if m in paths]
        if not models:
            models = [FALLBACK] if FALLBACK in paths else list(paths)[:1]
        weights = np.zeros((len(hs), len(models)))
        if fit.kind == "full":
            weights = self._weights(fit, models, hs, recent or {})
        total = weights.sum(axis=1, keepdims=True)
        weights = np.where(total > 0, weights / np.where(total > 0, total, 1), 1.0 / len(models))
        stacked = np.vstack([paths[m] for m in models])
        if fit.kind == "full" and len(models) > 2:
            weights = consensus(weights, stacked, sc, self.config.consensus_mads, self.config.consensus_floor)
        followed = False
        if shift_start is not None and fit.kind == "full":
            newest = int(times[0]) - self.step * int(hs[0])
            shift_age = (newest - shift_start) // self.step + 1
            followed = follow_shift(weights, models, hs, shift_age, step=self.step, config=self.config)
        ensemble = np.einsum("hm,mh->h", weights, stacked)
        points = {m: np.maximum(paths[m], 0) for m in models}
        points[ENSEMBLE] = np.maximum(ensemble, 0)
        bands = quantile_bands(fit, points, hs, sc)
        shift = shift_start if followed else None
        return ModelForecast(uid, times, points, bands, fit.confidence, fit.kind, shift_start=shift)
