"""The ensemble engine: fits every model per target, backtests, weights and calibrates; then forecasts.

Fit (the trainer's job), per target with at least ``full_history_days`` of history:

1. anomalies are flagged (kept out of training, reported), past business windows are learnt from
   and divided out, gaps are filled;
2. rolling-origin backtest inside the history: the statistical family is fitted on everything
   before the holdout (the last ``holdout_days``) and applied, exactly as the forecaster applies it,
   at an origin every ``backtest_every_minutes`` in the holdout; the LightGBM global model is
   trained on rows whose target lies before each target's holdout and predicts the same points;
3. from the holdout errors (divided by the target's mean load of the day before each origin):
   per target and per horizon, each model's MAE (one MAE over every horizon from
   ``long_pool_minutes``), ensemble weights (~ MAE^-4, models more than ``prune_ratio`` x the best
   dropped) and conformal quantiles of the errors of each model and of the ensemble: the intervals;
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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.anomaly import detect
from models.api import BusinessWindow
from models.config import ForecastConfig
from models.events import EventEffectLearner, learn_and_remove, observed_uplift
from models.gbm import GlobalBooster, SeriesFeatures, horizon_steps, newest_scale, training_rows
from models.prep import GridSeries, fill_gaps, from_unix_seconds, season_steps, to_unix_seconds
from models.regime import followed_shift_start
from models.statistical import StatState, apply_stat, block_steps, fit_stat, seasonal_naive

PROBS = np.array([0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995])
ENSEMBLE = "Ensemble"
FALLBACK = "SeasonalNaive"
NAIVE = "Naive"
MIN_POOLED = 8


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
class Prepared:
    """A target's history ready for the models."""

    series: GridSeries
    raw: np.ndarray
    filled: np.ndarray
    trainable: np.ndarray
    anomalies: list[tuple[pd.Timestamp, float, float]] = field(default_factory=list)


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


def _quantile_table(errors_by_h: list[np.ndarray]) -> np.ndarray:
    """Quantiles (rows: horizons) of pooled errors; horizons with too few errors copy the nearest full one."""
    table = np.full((len(errors_by_h), len(PROBS)), np.nan)
    for j, errors in enumerate(errors_by_h):
        if len(errors) >= MIN_POOLED:
            table[j] = np.quantile(errors, PROBS)
    good = np.flatnonzero(~np.isnan(table[:, 0]))
    if len(good) == 0:
        return table
    for j in range(len(table)):
        if np.isnan(table[j, 0]):
            table[j] = table[good[np.argmin(np.abs(good - j))]]
    return table


def _pool(samples: list[np.ndarray], j: int) -> np.ndarray:
    parts = [samples[k] for k in range(max(0, j - 1), min(len(samples), j + 2))]
    return np.concatenate(parts) if parts else np.empty(0)


def _interp_rows(horizons: np.ndarray, table: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Interpolate each column of ``table`` (rows at ``horizons``) at horizons ``h`` (clamped at the ends)."""
    x = np.log(horizons.astype(float))
    xq = np.log(np.clip(h, horizons[0], horizons[-1]).astype(float))
    return np.column_stack([np.interp(xq, x, table[:, c]) for c in range(table.shape[1])])


def _default_quantiles(scale_sigma: float) -> np.ndarray:
    from statistics import NormalDist

    z = np.array([NormalDist().inv_cdf(float(p)) for p in PROBS])
    return (z * scale_sigma)[None, :]


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

    # ----------------------------------------------------------------- preparation
    def prepare(
        self, series: GridSeries, windows: Iterable[BusinessWindow], *, now_seconds: int, learn: bool
    ) -> Prepared:
        cfg = self.config
        raw = np.array(series.y, dtype=float)
        known = np.flatnonzero(~np.isnan(raw))
        if len(known):
            raw = raw[: known[-1] + 1]
        series = GridSeries(series.unique_id, series.t0, series.step, raw)
        hour = block_steps(self.step, 3600)
        flags, scores = detect(
            raw,
            self.step,
            method=cfg.anomaly_method,
            threshold=cfg.anomaly_threshold,
            max_fraction=cfg.anomaly_max_fraction,
            protect_last=0 if learn else hour // 2 + 1,
        )
        clean = np.where(flags, np.nan, raw)
        windows = [w for w in windows if w.unique_id == series.unique_id]
        if learn:
            clean = learn_and_remove(
                GridSeries(series.unique_id, series.t0, series.step, clean),
                windows,
                self.learner,
                now_seconds=now_seconds,
            )
        else:
            cleaned = GridSeries(series.unique_id, series.t0, series.step, clean)
            times = series.times()
            for window in windows:
                if to_unix_seconds(window.end) > now_seconds:
                    continue
                uplift = observed_uplift(cleaned, window)
                if uplift:
                    inside = (times >= to_unix_seconds(window.start)) & (times < to_unix_seconds(window.end))
                    clean = np.where(inside, clean / uplift, clean)
        filled = fill_gaps(clean, self.day, hour)
        trainable = ~np.isnan(clean)
        anomalies = []
        if learn and flags.any():
            stamps = from_unix_seconds(series.times()[flags])
            anomalies = [
                (stamp, float(v), float(s)) for stamp, v, s in zip(stamps, raw[flags], scores[flags], strict=True)
            ]
        return Prepared(series, raw, filled, trainable, anomalies)

    # ----------------------------------------------------------------- fitting
    def _short_fit(self, prep: Prepared) -> TargetFit:
        """SeasonalNaive with intervals from its in-sample errors (or wide defaults when too few)."""
        y, raw = prep.filled, prep.raw
        sc = newest_scale(y, self.step)
        errors = np.empty(0)
        if len(y) > self.day:
            errors = (raw[self.day :] - y[: -self.day]) / sc
            errors = errors[np.isfinite(errors)]
        if len(errors) >= 24:
            table = np.quantile(errors, PROBS)[None, :] * 1.2
            mae = float(np.mean(np.abs(errors)))
        else:
            table = _default_quantiles(0.3)
            mae = 0.5
        horizons = self.horizons[:1]
        return TargetFit(
            unique_id=prep.series.unique_id,
            kind="short",
            step=self.step,
            t_last=prep.series.t_last,
            models=[FALLBACK],
            horizons=horizons,
            weights=np.ones((1, 1)),
            quantiles={FALLBACK: table, ENSEMBLE: table},
            mae={FALLBACK: np.array([mae])},
            confidence=float(np.clip(0.5 * (1 - mae), 0, 0.5)),
            history_days=prep.series.known_days,
        )

    def fit(self, grids: dict[str, GridSeries], windows: list[BusinessWindow], *, now_seconds: int) -> dict[str, str]:
        """Fit all targets; returns the targets that could not be fitted with the reason."""
        cfg = self.config
        skipped: dict[str, str] = {}
        self.targets_ = {}
        self.anomalies_ = {}
        full: dict[str, tuple[Prepared, int]] = {}
        holdout: dict[str, dict[str, Any]] = {}
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
                self.targets_[uid] = self._short_fit(prep)
                continue
            n = len(prep.filled)
            # the holdout: up to ``holdout_days``, leaving at least 5 days (or half the history) to fit on
            hold_days = float(np.clip(min(cfg.holdout_days, days - 5.0), 0.5 if days < 3 else 1.0, cfg.holdout_days))
            hold_days = min(hold_days, days / 2)
            cut = n - int(hold_days * self.day)
            stat_c = fit_stat(prep.filled[:cut], prep.series.t0, self.step)
            stride = max(1, round(cfg.backtest_every_minutes * 60 / self.step))
            origins = np.arange(cut - 1, n - 1, stride)
            samples: list[tuple[int, np.ndarray, np.ndarray, float, dict[str, np.ndarray]]] = []
            feats = SeriesFeatures.build(prep.filled, prep.series.t0, self.step, cfg.holiday_country)
            for o in origins:
                hs = self.horizons[self.horizons <= n - 1 - o]
                if len(hs) == 0:
                    continue
                paths = apply_stat(stat_c, prep.filled[: o + 1], prep.series.t0, int(hs[-1]))
                paths = {m: p for m, p in paths.items() if m in cfg.models}
                truth = prep.raw[o + hs]
                sc = float(feats.scale(np.array([o]))[0])
                samples.append((int(o), hs, truth, sc, {m: p[hs - 1] for m, p in paths.items()}))
            holdout[uid] = {"samples": samples, "cut": cut, "feats": feats}
            stat = fit_stat(prep.filled, prep.series.t0, self.step) if cfg.refit_after_holdout else stat_c
            full[uid] = (prep, cut)
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
        if use_gbm and full:
            self._fit_gbm(full, holdout)
        for uid in full:
            self._calibrate(self.targets_[uid], holdout[uid]["samples"])
        self.fit_seconds_ = (
            min((g.t0 for g in grids.values()), default=0),
            max((g.t_last for g in grids.values()), default=0),
        )
        return skipped

    def _gbm_rows(self, full: dict[str, tuple[Prepared, int]], holdout_limit: bool) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        xs, ys = [], []
        every = max(1, round(cfg.gbm_origin_every_minutes * 60 / self.step))
        for prep, cut in full.values():
            feats = SeriesFeatures.build(prep.filled, prep.series.t0, self.step, cfg.holiday_country)
            x, target = training_rows(
                feats,
                label=prep.filled,
                trainable=prep.trainable,
                limit=cut if holdout_limit else len(prep.filled),
                horizons=self.horizons,
                origin_every=every,
                per_origin=cfg.gbm_horizons_per_origin,
            )
            xs.append(x)
            ys.append(target)
        x_all = np.vstack(xs) if xs else np.empty((0, 0))
        y_all = np.concatenate(ys) if ys else np.empty(0)
        if len(y_all) > cfg.gbm_max_rows:
            keep = np.sort(np.random.default_rng(11).choice(len(y_all), cfg.gbm_max_rows, replace=False))
            x_all, y_all = x_all[keep], y_all[keep]
        return x_all, y_all

    def _fit_gbm(self, full: dict[str, tuple[Prepared, int]], holdout: dict[str, dict[str, Any]]) -> None:
        cfg = self.config
        x, y = self._gbm_rows(full, holdout_limit=True)
        booster_c = GlobalBooster.train(x, y, cfg.gbm_params, cfg.gbm_rounds)
        del x, y
        if booster_c.booster is not None:
            blocks, index = [], []
            for uid in full:
                feats: SeriesFeatures = holdout[uid]["feats"]
                for k, (o, hs, _truth, _sc, _paths) in enumerate(holdout[uid]["samples"]):
                    xr, base, sc = feats.rows(np.full(len(hs), o), hs)
                    blocks.append(xr)
                    index.append((uid, k, base, sc))
            if blocks:
                pred = booster_c.predict(np.vstack(blocks))
                pos = 0
                for uid, k, base, sc in index:
                    r = pred[pos : pos + len(base)] if pred is not None else None
                    pos += len(base)
                    if r is not None:
                        holdout[uid]["samples"][k][4]["LightGBM"] = np.maximum(base + sc * r, 0)
        x, y = self._gbm_rows(full, holdout_limit=False)
        self.booster_ = GlobalBooster.train(x, y, cfg.gbm_params, cfg.gbm_rounds)

    def _calibrate(
        self, fit: TargetFit, samples: list[tuple[int, np.ndarray, np.ndarray, float, dict[str, np.ndarray]]]
    ) -> None:
        cfg = self.config
        models = [m for m in cfg.models if any(m in s[4] for s in samples)]
        if not models:
            models = [FALLBACK]
        n_h = len(self.horizons)
        pos = {int(h): j for j, h in enumerate(self.horizons)}
        errs: dict[str, list[list[float]]] = {m: [[] for _ in range(n_h)] for m in models}
        ages: dict[str, list[list[float]]] = {m: [[] for _ in range(n_h)] for m in models}
        complete: list[tuple[int, np.ndarray, np.ndarray]] = []  # (j, model errors, truth/scale)
        newest = max((s[0] for s in samples), default=0)
        for o, hs, truth, sc, paths in samples:
            ok = np.isfinite(truth)
            for m in models:
                if m in paths:
                    e = (truth - paths[m]) / sc
                    for h, ev, good in zip(hs, e, ok, strict=True):
                        if good:
                            errs[m][pos[int(h)]].append(float(ev))
                            ages[m][pos[int(h)]].append(float(newest - o))
            if all(m in paths for m in models):
                matrix = np.vstack([(truth - paths[m]) / sc for m in models])
                for i, h in enumerate(hs):
                    if ok[i]:
                        complete.append((pos[int(h)], matrix[:, i], truth[i] / sc))
        mae = np.full((n_h, len(models)), np.inf)
        half_life = max(1.0, cfg.backtest_half_life_days * self.day)
        # from ``long_pool_minutes`` on, one MAE over all those horizons: the ranking of the models barely
        # changes between 3 h and 24 h, and a single-horizon MAE rests on a few dozen correlated errors
        long = np.flatnonzero(self.horizons * self.step >= cfg.long_pool_minutes * 60)
        for c, m in enumerate(models):
            arrays = [np.asarray(v) for v in errs[m]]
            recency = [0.5 ** (np.asarray(a) / half_life) for a in ages[m]]
            long_errors = np.concatenate([arrays[j] for j in long]) if len(long) else np.empty(0)
            long_recency = np.concatenate([recency[j] for j in long]) if len(long) else np.empty(0)
            for j in range(n_h):
                pooled, w = (long_errors, long_recency) if j in long else (_pool(arrays, j), _pool(recency, j))
                if len(pooled) >= 3:
                    mae[j, c] = float(np.sum(w * np.abs(pooled)) / np.sum(w))
        # horizons without samples borrow from the nearest horizon that has them
        have = np.flatnonzero(np.isfinite(mae).any(axis=1))
        for j in range(n_h):
            if len(have) and not np.isfinite(mae[j]).any():
                mae[j] = mae[have[np.argmin(np.abs(have - j))]]
        weights = np.zeros_like(mae)
        eligible = self._short_range_only(models, self.horizons, mae)
        for j in range(n_h):
            row = eligible[j]
            if not np.isfinite(row).any():
                weights[j, models.index(FALLBACK) if FALLBACK in models else 0] = 1.0
                continue
            weights[j] = _normalised(_selection(row[None, :], cfg.prune_ratio, cfg.weight_power))[0]
            if cfg.hedge_share > 0 and self.horizons[j] * self.step >= cfg.hedge_from_minutes * 60:
                broad = _normalised(_selection(row[None, :], cfg.hedge_prune_ratio, cfg.hedge_weight_power))[0]
                weights[j] = (1 - cfg.hedge_share) * weights[j] + cfg.hedge_share * broad
        ens: list[list[float]] = [[] for _ in range(n_h)]
        for j, e_models, _level in complete:
            ens[j].append(float(weights[j] @ e_models))
        quantiles = {
            m: _quantile_table([_pool([np.asarray(v) for v in errs[m]], j) for j in range(n_h)]) for m in models
        }
        ens_arrays = [np.asarray(v) for v in ens]
        quantiles[ENSEMBLE] = _quantile_table([_pool(ens_arrays, j) for j in range(n_h)])
        for m, table in list(quantiles.items()):
            if np.isnan(table).any():
                quantiles[m] = np.repeat(_default_quantiles(0.3), n_h, axis=0)
        all_ens = np.concatenate(ens_arrays) if any(len(a) for a in ens_arrays) else np.empty(0)
        fit.models = models
        fit.weights = weights
        fit.quantiles = quantiles
        fit.mae = {m: mae[:, c] for c, m in enumerate(models)}
        fit.mae[ENSEMBLE] = np.array(
            [np.mean(np.abs(_pool(ens_arrays, j))) if len(_pool(ens_arrays, j)) else np.nan for j in range(n_h)]
        )
        fit.confidence = float(np.clip(1 - np.mean(np.abs(all_ens)), 0, 1)) if len(all_ens) else 0.3

    def _weights(self, fit: TargetFit, models: list[str], hs: np.ndarray, recent: dict[str, list[float]]) -> np.ndarray:
        """Per-step weights from an effective MAE per horizon and model.

        Effective MAE = backtest MAE^(1 - a) x recent MAE^a (geometric blend), where the share ``a`` of
        the last hour's out-of-sample accuracy decays with the horizon (``recent_decay_seconds``), so
        after a change of regime the models that follow it take over the next hours.
        """
        cfg = self.config
        x = np.log(fit.horizons.astype(float))
        xq = np.log(np.clip(hs, fit.horizons[0], fit.horizons[-1]).astype(float))
        decay = np.exp(-hs * self.step / cfg.recent_decay_seconds)
        mae = np.full((len(hs), len(models)), np.inf)
        recents = {m: _recent_mae(recent, m) for m in models} if cfg.recent_origins else {}
        # the reference of the veto below: the best last-hour MAE of the models that forecast every horizon
        # (Naive, a short-range member, beats them all over an hour without any of them being broken)
        trusted = [value for m, (value, trust) in recents.items() if trust > 0 and m != NAIVE]
        recent_best = min(trusted) if trusted else math.nan
        for c, m in enumerate(models):
            usual = fit.mae.get(m)
            if usual is None or not np.isfinite(usual).all():
                continue
            log_usual = np.interp(xq, x, np.log(np.maximum(usual, 1e-12)))
            recent_mae, trust = recents.get(m, (math.nan, 0.0))
            share = decay * trust
            log_mae = (1 - share) * log_usual + share * np.log(recent_mae if trust else 1.0)
            # a model that missed the last hour by far more than the best one is likely broken by a change
            # of regime for longer than the decay says: a penalty that persists at every horizon
            veto = cfg.recent_veto_ratio * recent_best
            if trust and np.isfinite(veto) and recent_mae > veto:
                log_mae = log_mae + np.maximum(cfg.recent_veto_share - share, 0.0) * np.log(recent_mae / veto)
            mae[:, c] = np.exp(log_mae)
        mae = self._short_range_only(models, hs, mae)
        # sharp selection at short horizons (where the last hour tells which model follows the load),
        # broader averaging at long ones (where only the backtest speaks)
        prune = (cfg.prune_ratio_long + (cfg.prune_ratio - cfg.prune_ratio_long) * decay)[:, None]
        power = (cfg.weight_power_long + (cfg.weight_power - cfg.weight_power_long) * decay)[:, None]
        weights = _selection(mae, prune, power)
        hedged = hs * self.step >= cfg.hedge_from_minutes * 60
        if cfg.hedge_share > 0 and hedged.any():
            # from 3 h on the backtest ranking lags the turns between models by a day or so (nyc_taxi): half the
            # weight is spread over every model near the best instead of the sharp pick
            broad = _selection(mae, cfg.hedge_prune_ratio, cfg.hedge_weight_power)
            blend = (1 - cfg.hedge_share) * _normalised(weights) + cfg.hedge_share * _normalised(broad)
            weights = np.where(hedged[:, None], blend, weights)
        return np.asarray(weights)

    def _short_range_only(self, models: list[str], hs: np.ndarray, mae: np.ndarray) -> np.ndarray:
        """``mae`` (horizons x models) with Naive out of the running beyond ``naive_max_minutes``."""
        if NAIVE not in models:
            return mae
        out = mae.copy()
        out[hs * self.step > self.config.naive_max_minutes * 60, models.index(NAIVE)] = np.inf
        return out

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
                fit = self._short_fit(prep)
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
            weights = _consensus(weights, stacked, sc, self.config.consensus_mads, self.config.consensus_floor)
        followed = False
        if shift_start is not None and fit.kind == "full":
            newest = int(times[0]) - self.step * int(hs[0])
            followed = self._follow_shift(weights, models, hs, (newest - shift_start) // self.step + 1)
        ensemble = np.einsum("hm,mh->h", weights, stacked)
        points = {m: np.maximum(paths[m], 0) for m in models}
        points[ENSEMBLE] = np.maximum(ensemble, 0)
        bands: dict[str, dict[float, np.ndarray]] = {}
        for m, point in points.items():
            table = fit.quantiles.get(m, fit.quantiles.get(ENSEMBLE))
            if table is None:
                continue
            qs = (
                _interp_rows(fit.horizons[: len(table)], table, hs)
                if len(table) > 1
                else np.repeat(table, len(hs), axis=0)
            )
            bands[m] = {float(p): np.maximum(point + sc * qs[:, i], 0) for i, p in enumerate(PROBS)}
        shift = shift_start if followed else None
        return ModelForecast(uid, times, points, bands, fit.confidence, fit.kind, shift_start=shift)

    def _follow_shift(self, weights: np.ndarray, models: list[str], hs: np.ndarray, shift_age: int) -> bool:
        """After a lasting level shift, beyond the first hour: the new level (in place; True if applied).

        Every fitted model returns to the old level within hours and the last hour cannot tell which is right
        (they all missed the shift). Under a day after it the newest value held flat (Naive), then the day
        before (SeasonalNaive, all of it after the shift). Measured in models/README.md.
        """
        follow = NAIVE if shift_age < self.day else FALLBACK
        if follow not in models:
            return False
        far = hs * self.step > self.config.shift_after_minutes * 60
        weights[far] = 0.0
        weights[far, models.index(follow)] = 1.0
        return True


def _selection(mae: np.ndarray, prune: np.ndarray | float, power: np.ndarray | float) -> np.ndarray:
    """Unnormalised weights (rows: horizons): (MAE / best) ** -power for the models within ``prune`` x the best."""
    best = np.min(mae, axis=1, keepdims=True)
    use = np.isfinite(mae) & (mae <= prune * best + 1e-12)
    relative = np.where(np.isfinite(mae), mae, np.inf) / np.where(np.isfinite(best) & (best > 0), best, 1.0)
    return np.asarray(np.where(use, np.maximum(np.where(use, relative, 1.0), 1e-12) ** -power, 0.0))


def _normalised(weights: np.ndarray) -> np.ndarray:
    """Rows summing to 1 (rows of zeros stay zero)."""
    total = weights.sum(axis=1, keepdims=True)
    return np.asarray(np.where(total > 0, weights / np.where(total > 0, total, 1.0), 0.0))


def _consensus(weights: np.ndarray, stacked: np.ndarray, scale: float, mads: float, floor: float) -> np.ndarray:
    """Weights (steps x models) without the paths that stray from the models' median at that step.

    A path further than ``mads`` x max(median absolute deviation across models, ``floor`` x mean load)
    from the median is a blow-up (an extrapolated trend, a level jump) more often than foresight: its
    weight goes to the others. Steps where every weighted model strays keep their weights.
    """
    if not math.isfinite(mads) or mads <= 0:
        return weights
    median = np.median(stacked, axis=0)
    spread = np.median(np.abs(stacked - median), axis=0)
    stray = (np.abs(stacked - median) > mads * np.maximum(spread, floor * scale)).T
    kept = np.where(stray, 0.0, weights)
    total = kept.sum(axis=1, keepdims=True)
    return np.where(total > 0, kept / np.where(total > 0, total, 1.0), weights)


def _recent_mae(recent: dict[str, list[float]], model: str) -> tuple[float, float]:
    """Recent MAE (/ mean load) of a model and the trust in it (0 with no errors, 1 from 24 errors)."""
    values = np.asarray(recent.get(model, []), dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 6:
        return float("nan"), 0.0
    return float(max(np.mean(values), 1e-12)), min(1.0, len(values) / 24)


def band_at(bands: dict[float, np.ndarray], prob: float) -> np.ndarray:
    """Values at probability ``prob``, interpolated between the stored probabilities."""
    keys = np.array(sorted(bands))
    values = np.vstack([bands[k] for k in keys])
    prob = float(np.clip(prob, keys[0], keys[-1]))
    i = int(np.searchsorted(keys, prob))
    if i < len(keys) and math.isclose(keys[i], prob):
        return np.asarray(values[i])
    lo, hi = max(0, i - 1), min(len(keys) - 1, i)
    if lo == hi:
        return np.asarray(values[lo])
    w = (prob - keys[lo]) / (keys[hi] - keys[lo])
    return np.asarray((1 - w) * values[lo] + w * values[hi])
