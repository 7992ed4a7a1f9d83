"""The rolling-origin backtest inside a target's history, run at fit time.

The statistical family is fitted on everything before the holdout (the last ``holdout_days``, fewer on
short histories) and applied, exactly as the forecaster applies it, at an origin every
``backtest_every_minutes`` in the holdout; the LightGBM global model is trained on rows whose target
lies before each target's holdout and predicts the same points, then is retrained on all rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.cleaning import Prepared
from models.config import ForecastConfig
from models.fitted import BacktestSample
from models.gbm import GlobalBooster, SeriesFeatures, training_rows
from models.prep import season_steps
from models.statistical import StatState, apply_stat, fit_stat


@dataclass
class Holdout:
    """A target's backtest: its history, where the holdout starts, and a sample per origin."""

    prep: Prepared
    cut: int  # index of the first step of the holdout
    feats: SeriesFeatures
    samples: list[BacktestSample]
    stat: StatState  # the statistical models fitted before ``cut``


def statistical_backtest(
    prep: Prepared, days: float, *, horizons: np.ndarray, step: int, config: ForecastConfig
) -> Holdout:
    """The statistical models fitted before the holdout and their forecasts at every origin in it."""
    cfg = config
    day = season_steps(step)
    n = len(prep.filled)
    # the holdout: up to ``holdout_days``, leaving at least 5 days (or half the history) to fit on
    hold_days = float(np.clip(min(cfg.holdout_days, days - 5.0), 0.5 if days < 3 else 1.0, cfg.holdout_days))
    hold_days = min(hold_days, days / 2)
    cut = n - int(hold_days * day)
    stat = fit_stat(prep.filled[:cut], prep.series.t0, step)
    stride = max(1, round(cfg.backtest_every_minutes * 60 / step))
    origins = np.arange(cut - 1, n - 1, stride)
    samples: list[BacktestSample] = []
    feats = SeriesFeatures.build(prep.filled, prep.series.t0, step, cfg.holiday_country)
    for o in origins:
        hs = horizons[horizons <= n - 1 - o]
        if len(hs) == 0:
            continue
        paths = apply_stat(stat, prep.filled[: o + 1], prep.series.t0, int(hs[-1]))
        paths = {m: p for m, p in paths.items() if m in cfg.models}
        truth = prep.raw[o + hs]
        sc = float(feats.scale(np.array([o]))[0])
        samples.append((int(o), hs, truth, sc, {m: p[hs - 1] for m, p in paths.items()}))
    return Holdout(prep, cut, feats, samples, stat)


def gbm_rows(
    holdouts: dict[str, Holdout], *, before_holdout: bool, horizons: np.ndarray, step: int, config: ForecastConfig
) -> tuple[np.ndarray, np.ndarray]:
    """LightGBM's training rows of every target (only labels before each holdout if ``before_holdout``)."""
    cfg = config
    xs, ys = [], []
    every = max(1, round(cfg.gbm_origin_every_minutes * 60 / step))
    for holdout in holdouts.values():
        prep = holdout.prep
        feats = SeriesFeatures.build(prep.filled, prep.series.t0, step, cfg.holiday_country)
        x, target = training_rows(
            feats,
            label=prep.filled,
            trainable=prep.trainable,
            limit=holdout.cut if before_holdout else len(prep.filled),
            horizons=horizons,
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


def gbm_backtest(
    holdouts: dict[str, Holdout], *, horizons: np.ndarray, step: int, config: ForecastConfig
) -> GlobalBooster:
    """LightGBM's holdout predictions added to every sample; returns the booster retrained on all rows."""
    cfg = config
    x, y = gbm_rows(holdouts, before_holdout=True, horizons=horizons, step=step, config=cfg)
    booster_c = GlobalBooster.train(x, y, cfg.gbm_params, cfg.gbm_rounds)
    del x, y
    if booster_c.booster is not None:
        blocks, index = [], []
        for uid, holdout in holdouts.items():
            for k, (o, hs, _truth, _sc, _paths) in enumerate(holdout.samples):
                xr, base, sc = holdout.feats.rows(np.full(len(hs), o), hs)
                blocks.append(xr)
                index.append((uid, k, base, sc))
        if blocks:
            pred = booster_c.predict(np.vstack(blocks))
            pos = 0
            for uid, k, base, sc in index:
                r = pred[pos : pos + len(base)] if pred is not None else None
                pos += len(base)
                if r is not None:
                    holdouts[uid].samples[k][4]["LightGBM"] = np.maximum(base + sc * r, 0)
    x, y = gbm_rows(holdouts, before_holdout=False, horizons=horizons, step=step, config=cfg)
    return GlobalBooster.train(x, y, cfg.gbm_params, cfg.gbm_rounds)
