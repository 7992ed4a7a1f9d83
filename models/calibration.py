"""From backtest errors to what a target's fit keeps: MAE per horizon and model, weights, intervals, confidence.

Errors are divided by the target's mean load of the day before each origin. Per horizon, a model's MAE
pools the errors of the neighbouring horizons (and, from ``long_pool_minutes`` on, of every long
horizon), recency-weighted; the weights follow (models/weighting.py); the conformal quantiles are
those of each model's errors and of the ensemble's under those weights (models/intervals.py).
"""

from __future__ import annotations

import numpy as np

from models.cleaning import Prepared
from models.config import ForecastConfig
from models.fitted import ENSEMBLE, FALLBACK, BacktestSample, TargetFit
from models.gbm import newest_scale
from models.intervals import PROBS, default_quantiles, pool_neighbours, quantile_table
from models.prep import season_steps
from models.weighting import backtest_weights


def calibrate(
    fit: TargetFit, samples: list[BacktestSample], *, horizons: np.ndarray, step: int, config: ForecastConfig
) -> None:
    """Fill ``fit``'s models, weights, quantiles, MAE and confidence from its backtest ``samples``."""
    cfg = config
    day = season_steps(step)
    models = [m for m in cfg.models if any(m in s[4] for s in samples)]
    if not models:
        models = [FALLBACK]
    n_h = len(horizons)
    pos = {int(h): j for j, h in enumerate(horizons)}
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
    half_life = max(1.0, cfg.backtest_half_life_days * day)
    # from ``long_pool_minutes`` on, one MAE over all those horizons: the ranking of the models barely
    # changes between 3 h and 24 h, and a single-horizon MAE rests on a few dozen correlated errors
    long = np.flatnonzero(horizons * step >= cfg.long_pool_minutes * 60)
    for c, m in enumerate(models):
        arrays = [np.asarray(v) for v in errs[m]]
        recency = [0.5 ** (np.asarray(a) / half_life) for a in ages[m]]
        long_errors = np.concatenate([arrays[j] for j in long]) if len(long) else np.empty(0)
        long_recency = np.concatenate([recency[j] for j in long]) if len(long) else np.empty(0)
        for j in range(n_h):
            pooled, w = (
                (long_errors, long_recency) if j in long else (pool_neighbours(arrays, j), pool_neighbours(recency, j))
            )
            if len(pooled) >= 3:
                mae[j, c] = float(np.sum(w * np.abs(pooled)) / np.sum(w))
    # horizons without samples borrow from the nearest horizon that has them
    have = np.flatnonzero(np.isfinite(mae).any(axis=1))
    for j in range(n_h):
        if len(have) and not np.isfinite(mae[j]).any():
            mae[j] = mae[have[np.argmin(np.abs(have - j))]]
    weights = backtest_weights(models, mae, horizons, step=step, config=cfg)
    ens: list[list[float]] = [[] for _ in range(n_h)]
    for j, e_models, _level in complete:
        ens[j].append(float(weights[j] @ e_models))
    quantiles = {
        m: quantile_table([pool_neighbours([np.asarray(v) for v in errs[m]], j) for j in range(n_h)]) for m in models
    }
    ens_arrays = [np.asarray(v) for v in ens]
    quantiles[ENSEMBLE] = quantile_table([pool_neighbours(ens_arrays, j) for j in range(n_h)])
    for m, table in list(quantiles.items()):
        if np.isnan(table).any():
            quantiles[m] = np.repeat(default_quantiles(0.3), n_h, axis=0)
    all_ens = np.concatenate(ens_arrays) if any(len(a) for a in ens_arrays) else np.empty(0)
    fit.models = models
    fit.weights = weights
    fit.quantiles = quantiles
    fit.mae = {m: mae[:, c] for c, m in enumerate(models)}
    fit.mae[ENSEMBLE] = np.array(
        [
            np.mean(np.abs(pool_neighbours(ens_arrays, j))) if len(pool_neighbours(ens_arrays, j)) else np.nan
            for j in range(n_h)
        ]
    )
    fit.confidence = float(np.clip(1 - np.mean(np.abs(all_ens)), 0, 1)) if len(all_ens) else 0.3


def short_fit(prep: Prepared, *, horizons: np.ndarray, step: int) -> TargetFit:
    """SeasonalNaive with intervals from its in-sample errors (or wide defaults when too few)."""
    day = season_steps(step)
    y, raw = prep.filled, prep.raw
    sc = newest_scale(y, step)
    errors = np.empty(0)
    if len(y) > day:
        errors = (raw[day:] - y[:-day]) / sc
        errors = errors[np.isfinite(errors)]
    if len(errors) >= 24:
        table = np.quantile(errors, PROBS)[None, :] * 1.2
        mae = float(np.mean(np.abs(errors)))
    else:
        table = default_quantiles(0.3)
        mae = 0.5
    return TargetFit(
        unique_id=prep.series.unique_id,
        kind="short",
        step=step,
        t_last=prep.series.t_last,
        models=[FALLBACK],
        horizons=horizons[:1],
        weights=np.ones((1, 1)),
        quantiles={FALLBACK: table, ENSEMBLE: table},
        mae={FALLBACK: np.array([mae])},
        confidence=float(np.clip(0.5 * (1 - mae), 0, 0.5)),
        history_days=prep.series.known_days,
    )
