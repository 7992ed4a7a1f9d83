"""Conformal intervals: quantile tables of backtest errors per horizon, and the bands they put around a path.

Errors are divided by the target's mean load (the scale), so a table is applied to any level: a band is
``point + scale x error quantile``, interpolated in log-horizon between the backtested horizons.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from models.fitted import ENSEMBLE, TargetFit

PROBS = np.array([0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995])
#: errors needed at a horizon for its own quantiles (fewer: the nearest horizon that has them)
MIN_POOLED = 8


def quantile_table(errors_by_h: list[np.ndarray]) -> np.ndarray:
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


def pool_neighbours(samples: list[np.ndarray], j: int) -> np.ndarray:
    """The values at horizon ``j`` and its two neighbours, in one array."""
    parts = [samples[k] for k in range(max(0, j - 1), min(len(samples), j + 2))]
    return np.concatenate(parts) if parts else np.empty(0)


def interp_rows(horizons: np.ndarray, table: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Interpolate each column of ``table`` (rows at ``horizons``) at horizons ``h`` (clamped at the ends)."""
    x = np.log(horizons.astype(float))
    xq = np.log(np.clip(h, horizons[0], horizons[-1]).astype(float))
    return np.column_stack([np.interp(xq, x, table[:, c]) for c in range(table.shape[1])])


def default_quantiles(scale_sigma: float) -> np.ndarray:
    """One row of normal quantiles of standard deviation ``scale_sigma``: the table when errors are too few."""
    z = np.array([NormalDist().inv_cdf(float(p)) for p in PROBS])
    return (z * scale_sigma)[None, :]


def quantile_bands(
    fit: TargetFit, points: dict[str, np.ndarray], hs: np.ndarray, scale: float
) -> dict[str, dict[float, np.ndarray]]:
    """Per model (the ensemble's table for a model without its own): probability -> non-negative values."""
    bands: dict[str, dict[float, np.ndarray]] = {}
    for m, point in points.items():
        table = fit.quantiles.get(m, fit.quantiles.get(ENSEMBLE))
        if table is None:
            continue
        qs = interp_rows(fit.horizons[: len(table)], table, hs) if len(table) > 1 else np.repeat(table, len(hs), axis=0)
        bands[m] = {float(p): np.maximum(point + scale * qs[:, i], 0) for i, p in enumerate(PROBS)}
    return bands


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
