"""Anomaly cleaning of load history: flag points unlike their neighbourhood, keep them out of training.

Two detectors (chosen by measurement on the NAB labels, see models/README.md):

- ``robust`` (default): distance of each point from the centred rolling median (about one hour),
  in units of the rolling MAD of those distances over a day. A short spike is flagged; a lasting
  level shift is not (the median follows it within half an hour), so real changes of load are learnt.
- ``isolation_forest``: scikit-learn's IsolationForest on (residual from the rolling median,
  step change, level), contamination = the maximum flagged fraction.

At most ``max_fraction`` of the points are flagged (the highest scores).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _rolling_residual(y: pd.Series, window: int) -> tuple[pd.Series, pd.Series]:
    median = y.rolling(window, center=True, min_periods=max(1, window // 3)).median()
    residual = y - median
    return median, residual


def robust_scores(y: np.ndarray, step: int) -> np.ndarray:
    """Robust z-score of every point (NaN stays NaN): |y - rolling median| / (1.4826 x rolling MAD)."""
    series = pd.Series(np.asarray(y, dtype=float))
    window = max(5, round(3600 / step) | 1)
    long_window = max(window * 4, int(86_400 / step))
    _median, residual = _rolling_residual(series, window)
    spread = residual.abs().rolling(long_window, center=True, min_periods=window).median() * 1.4826
    level = float(np.nanmedian(np.abs(series))) if series.notna().any() else 0.0
    floor = max(1e-9, 0.01 * level)
    return np.asarray((residual.abs() / spread.clip(lower=floor).fillna(floor)).to_numpy(dtype=float))


def isolation_forest_scores(y: np.ndarray, step: int, contamination: float) -> np.ndarray:
    """IsolationForest anomaly score (higher = more anomalous), comparable only within one series."""
    from sklearn.ensemble import IsolationForest

    series = pd.Series(np.asarray(y, dtype=float))
    window = max(5, round(3600 / step) | 1)
    _, residual = _rolling_residual(series, window)
    features = np.column_stack([residual.to_numpy(), series.diff().to_numpy(), series.to_numpy()])
    known = np.all(np.isfinite(features), axis=1)
    scores = np.full(len(series), np.nan)
    if known.sum() < 50:
        return scores
    forest = IsolationForest(n_estimators=100, contamination=contamination, random_state=0, n_jobs=1)
    forest.fit(features[known])
    scores[known] = -forest.score_samples(features[known])
    return scores


def detect(
    y: np.ndarray,
    step: int,
    *,
    method: str = "robust",
    threshold: float = 8.0,
    max_fraction: float = 0.01,
    protect_last: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Flags (bool) and scores of anomalous points; the last ``protect_last`` points are never flagged.

    The newest points cannot be judged against a centred window yet: they are left to the models.
    """
    values = np.asarray(y, dtype=float)
    flags = np.zeros(len(values), dtype=bool)
    if method == "none" or np.count_nonzero(np.isfinite(values)) < 24:
        return flags, np.zeros(len(values))
    if method == "isolation_forest":
        scores = isolation_forest_scores(values, step, max_fraction)
        candidate = np.isfinite(scores)
        cut = np.nanquantile(scores, 1 - max_fraction) if candidate.any() else np.inf
        flags = candidate & (scores >= cut)
    else:
        scores = robust_scores(values, step)
        flags = np.isfinite(scores) & (scores > threshold)
    budget = int(max_fraction * np.count_nonzero(np.isfinite(values)))
    if flags.sum() > budget:
        keep = np.argsort(np.where(flags, scores, -np.inf))[::-1][:budget]
        flags = np.zeros(len(values), dtype=bool)
        flags[keep] = True
    if protect_last:
        flags[-protect_last:] = False
    return flags, np.nan_to_num(scores)
