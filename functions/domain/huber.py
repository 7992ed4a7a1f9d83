"""Huber regression through the origin of one feature, with scipy alone.

The same estimator as scikit-learn's ``HuberRegressor(fit_intercept=False, alpha=0.0)`` (Owen's joint
estimate of the slope and the scale, minimised by L-BFGS-B from slope 0 and scale 1), written out so that
the trainer needs no scikit-learn: its Lambda layers have no room for it beside statsforecast
(layers/README.md). ``tests/unit/test_huber.py`` checks it against scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HuberFit:
    """The fitted slope, the scale of the residuals, and which points were treated as outliers."""

    slope: float
    scale: float
    outliers: np.ndarray
    iterations: int


def _loss_and_gradient(w: np.ndarray, x: np.ndarray, y: np.ndarray, epsilon: float) -> tuple[float, np.ndarray]:
    """Huber loss of slope ``w[0]`` with scale ``w[1]``, and its gradient (scikit-learn's, unit weights)."""
    slope, sigma = w[0], w[1]
    residual = y - x * slope
    outlying = np.abs(residual) > epsilon * sigma
    n_outliers = int(np.count_nonzero(outlying))
    inner = residual[~outlying]
    squared_loss = float(np.dot(inner, inner)) / sigma
    outlier_loss = 2.0 * epsilon * float(np.sum(np.abs(residual[outlying]))) - sigma * n_outliers * epsilon**2
    signs = np.where(residual[outlying] < 0, -1.0, 1.0)
    grad = np.zeros(2)
    grad[0] = 2.0 / sigma * float(np.dot(inner, -x[~outlying])) - 2.0 * epsilon * float(np.dot(signs, x[outlying]))
    grad[1] = len(y) - n_outliers * epsilon**2 - squared_loss / sigma
    return len(y) * sigma + squared_loss + outlier_loss, grad


def huber_through_origin(x: np.ndarray, y: np.ndarray, *, epsilon: float = 1.35, max_iter: int = 500) -> HuberFit:
    """Fit ``y ≈ slope * x`` robustly: squared loss for residuals within ``epsilon`` scales, linear beyond."""
    from scipy import optimize

    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x: {x.shape} and y: {y.shape} differ")
    if epsilon < 1.0:
        raise ValueError(f"epsilon: must be at least 1.0, got {epsilon}")
    bounds = [(-np.inf, np.inf), (np.finfo(np.float64).eps * 10, np.inf)]
    result = optimize.minimize(
        _loss_and_gradient,
        np.array([0.0, 1.0]),
        method="L-BFGS-B",
        jac=True,
        args=(x, y, epsilon),
        options={"maxiter": max_iter, "gtol": 1e-05},
        bounds=bounds,
    )
    if result.status == 2:
        raise ValueError(f"Huber regression did not converge: L-BFGS-B stopped with {result.message}")
    slope, scale = float(result.x[0]), float(result.x[1])
    return HuberFit(slope, scale, np.abs(y - slope * x) > scale * epsilon, int(result.nit))
