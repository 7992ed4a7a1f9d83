"""Ensemble weights: which models to trust at each horizon, from backtest and last-hour errors.

A model's weight is (MAE / best MAE) ** -power among the models within ``prune`` x the best. At fit time
the MAE is the backtest's; at forecast time it is blended with the MAE of the last hour's forecasts
(a share decaying with the horizon), a model that missed the last hour by far keeps a penalty, paths
straying from the models' median lose their weight, and after a lasting level shift the ensemble
follows the new level (models/regime.py).
"""

from __future__ import annotations

import math

import numpy as np

from models.config import ForecastConfig
from models.fitted import FALLBACK, NAIVE, TargetFit
from models.prep import season_steps


def selection(mae: np.ndarray, prune: np.ndarray | float, power: np.ndarray | float) -> np.ndarray:
    """Unnormalised weights (rows: horizons): (MAE / best) ** -power for the models within ``prune`` x the best."""
    best = np.min(mae, axis=1, keepdims=True)
    use = np.isfinite(mae) & (mae <= prune * best + 1e-12)
    relative = np.where(np.isfinite(mae), mae, np.inf) / np.where(np.isfinite(best) & (best > 0), best, 1.0)
    return np.asarray(np.where(use, np.maximum(np.where(use, relative, 1.0), 1e-12) ** -power, 0.0))


def normalised(weights: np.ndarray) -> np.ndarray:
    """Rows summing to 1 (rows of zeros stay zero)."""
    total = weights.sum(axis=1, keepdims=True)
    return np.asarray(np.where(total > 0, weights / np.where(total > 0, total, 1.0), 0.0))


def short_range_only(
    models: list[str], hs: np.ndarray, mae: np.ndarray, *, step: int, config: ForecastConfig
) -> np.ndarray:
    """``mae`` (horizons x models) with Naive out of the running beyond ``naive_max_minutes``."""
    if NAIVE not in models:
        return mae
    out = mae.copy()
    out[hs * step > config.naive_max_minutes * 60, models.index(NAIVE)] = np.inf
    return out


def backtest_weights(
    models: list[str], mae: np.ndarray, horizons: np.ndarray, *, step: int, config: ForecastConfig
) -> np.ndarray:
    """Weights (horizons x models) from the backtest MAE alone: what the fit stores and its ensemble errors use."""
    cfg = config
    weights = np.zeros_like(mae)
    eligible = short_range_only(models, horizons, mae, step=step, config=cfg)
    for j in range(len(horizons)):
        row = eligible[j]
        if not np.isfinite(row).any():
            weights[j, models.index(FALLBACK) if FALLBACK in models else 0] = 1.0
            continue
        weights[j] = normalised(selection(row[None, :], cfg.prune_ratio, cfg.weight_power))[0]
        if cfg.hedge_share > 0 and horizons[j] * step >= cfg.hedge_from_minutes * 60:
            broad = normalised(selection(row[None, :], cfg.hedge_prune_ratio, cfg.hedge_weight_power))[0]
            weights[j] = (1 - cfg.hedge_share) * weights[j] + cfg.hedge_share * broad
    return weights


def recent_mae(recent: dict[str, list[float]], model: str) -> tuple[float, float]:
    """Recent MAE (/ mean load) of a model and the trust in it (0 with no errors, 1 from 24 errors)."""
    values = np.asarray(recent.get(model, []), dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 6:
        return float("nan"), 0.0
    return float(max(np.mean(values), 1e-12)), min(1.0, len(values) / 24)


def forecast_weights(
    fit: TargetFit,
    models: list[str],
    hs: np.ndarray,
    recent: dict[str, list[float]],
    *,
    step: int,
    config: ForecastConfig,
) -> np.ndarray:
    """Per-step weights from an effective MAE per horizon and model.

    Effective MAE = backtest MAE^(1 - a) x recent MAE^a (geometric blend), where the share ``a`` of
    the last hour's out-of-sample accuracy decays with the horizon (``recent_decay_seconds``), so
    after a change of regime the models that follow it take over the next hours.
    """
    cfg = config
    x = np.log(fit.horizons.astype(float))
    xq = np.log(np.clip(hs, fit.horizons[0], fit.horizons[-1]).astype(float))
    decay = np.exp(-hs * step / cfg.recent_decay_seconds)
    mae = np.full((len(hs), len(models)), np.inf)
    recents = {m: recent_mae(recent, m) for m in models} if cfg.recent_origins else {}
    # the reference of the veto below: the best last-hour MAE of the models that forecast every horizon
    # (Naive, a short-range member, beats them all over an hour without any of them being broken)
    trusted = [value for m, (value, trust) in recents.items() if trust > 0 and m != NAIVE]
    recent_best = min(trusted) if trusted else math.nan
    for c, m in enumerate(models):
        usual = fit.mae.get(m)
        if usual is None or not np.isfinite(usual).all():
            continue
        log_usual = np.interp(xq, x, np.log(np.maximum(usual, 1e-12)))
        recent_model_mae, trust = recents.get(m, (math.nan, 0.0))
        share = decay * trust
        log_mae = (1 - share) * log_usual + share * np.log(recent_model_mae if trust else 1.0)
        # a model that missed the last hour by far more than the best one is likely broken by a change
        # of regime for longer than the decay says: a penalty that persists at every horizon
        veto = cfg.recent_veto_ratio * recent_best
        if trust and np.isfinite(veto) and recent_model_mae > veto:
            log_mae = log_mae + np.maximum(cfg.recent_veto_share - share, 0.0) * np.log(recent_model_mae / veto)
        mae[:, c] = np.exp(log_mae)
    mae = short_range_only(models, hs, mae, step=step, config=cfg)
    # sharp selection at short horizons (where the last hour tells which model follows the load),
    # broader averaging at long ones (where only the backtest speaks)
    prune = (cfg.prune_ratio_long + (cfg.prune_ratio - cfg.prune_ratio_long) * decay)[:, None]
    power = (cfg.weight_power_long + (cfg.weight_power - cfg.weight_power_long) * decay)[:, None]
    weights = selection(mae, prune, power)
    hedged = hs * step >= cfg.hedge_from_minutes * 60
    if cfg.hedge_share > 0 and hedged.any():
        # from 3 h on the backtest ranking lags the turns between models by a day or so (nyc_taxi): half the
        # weight is spread over every model near the best instead of the sharp pick
        broad = selection(mae, cfg.hedge_prune_ratio, cfg.hedge_weight_power)
        blend = (1 - cfg.hedge_share) * normalised(weights) + cfg.hedge_share * normalised(broad)
        weights = np.where(hedged[:, None], blend, weights)
    return np.asarray(weights)


def consensus(weights: np.ndarray, stacked: np.ndarray, scale: float, mads: float, floor: float) -> np.ndarray:
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


def follow_shift(
    weights: np.ndarray, models: list[str], hs: np.ndarray, shift_age: int, *, step: int, config: ForecastConfig
) -> bool:
    """After a lasting level shift, beyond the first hour: the new level (in place; True if applied).

    Every fitted model returns to the old level within hours and the last hour cannot tell which is right
    (they all missed the shift). Under a day after it the newest value held flat (Naive), then the day
    before (SeasonalNaive, all of it after the shift). Measured in models/README.md.
    """
    follow = NAIVE if shift_age < season_steps(step) else FALLBACK
    if follow not in models:
        return False
    far = hs * step > config.shift_after_minutes * 60
    weights[far] = 0.0
    weights[far, models.index(follow)] = 1.0
    return True
