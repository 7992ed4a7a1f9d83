"""The trainer's Huber regression equals scikit-learn's HuberRegressor (which its layers do not ship)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import HuberRegressor

from functions.domain.huber import huber_through_origin


def _data(seed: int, n: int, outliers: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 20.0, n)
    y = 37.0 * x * (1 + rng.normal(0, 0.05, n))
    spoiled = rng.random(n) < outliers
    y[spoiled] *= rng.uniform(0.1, 3.0, int(spoiled.sum()))
    return x, y / np.median(y)


@pytest.mark.parametrize(
    ("seed", "n", "outliers", "epsilon"),
    [(0, 40, 0.0, 1.35), (1, 500, 0.1, 1.35), (2, 3000, 0.3, 1.1), (3, 200, 0.05, 2.0)],
)
def test_same_fit_as_scikit_learn(seed: int, n: int, outliers: float, epsilon: float) -> None:
    # GIVEN a load/busy-instances sample with some outliers
    x, y = _data(seed, n, outliers)
    # WHEN both fit a line through the origin
    ours = huber_through_origin(x, y, epsilon=epsilon)
    theirs = HuberRegressor(fit_intercept=False, epsilon=epsilon, alpha=0.0, max_iter=500).fit(x.reshape(-1, 1), y)
    # THEN the slope, the scale and the outliers are the same
    assert ours.slope == pytest.approx(float(theirs.coef_[0]), rel=1e-12, abs=1e-12)
    assert ours.scale == pytest.approx(float(theirs.scale_), rel=1e-12, abs=1e-12)
    assert np.array_equal(ours.outliers, theirs.outliers_)


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match=r"x: .* and y: .* differ"):
        huber_through_origin(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match=r"epsilon: must be at least 1\.0"):
        huber_through_origin(np.ones(3), np.ones(3), epsilon=0.5)
