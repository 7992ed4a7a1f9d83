"""Ensemble weighting rules: the persistent penalty of a model that missed the last hour, the consensus guard."""

from __future__ import annotations

import math

import numpy as np

from models.config import ForecastConfig
from models.engine import EnsembleForecaster
from models.events import EventEffectLearner
from models.fitted import TargetFit
from models.weighting import consensus

STEP = 300


def _fit(engine: EnsembleForecaster, models: list[str]) -> TargetFit:
    n_h = len(engine.horizons)
    return TargetFit(
        unique_id="t",
        kind="full",
        step=STEP,
        t_last=0,
        models=models,
        horizons=engine.horizons,
        weights=np.empty((0, 0)),
        quantiles={},
        mae={m: np.full(n_h, 0.05) for m in models},
        confidence=0.5,
    )


def _day_ahead_share(config: ForecastConfig, recent: dict[str, list[float]]) -> float:
    engine = EnsembleForecaster(STEP, config, EventEffectLearner())
    fit = _fit(engine, ["MSTL", "AutoETS"])
    hs = np.array([288])
    weights = engine._weights(fit, ["MSTL", "AutoETS"], hs, recent)
    return float(weights[0, 1] / weights[0].sum())


def test_a_model_that_missed_the_last_hour_by_far_loses_its_weight_a_day_ahead() -> None:
    # GIVEN two models equal in the backtest, AutoETS ten times worse than MSTL over the last hour
    recent = {"MSTL": [0.01] * 24, "AutoETS": [0.1] * 24}
    # WHEN weighting the step 24 h ahead, with and without the persistent penalty
    penalised = _day_ahead_share(ForecastConfig(), recent)
    decaying_only = _day_ahead_share(ForecastConfig(recent_veto_ratio=math.inf), recent)
    # THEN the decaying last-hour share alone barely moves the weights a day ahead; the penalty removes it
    assert decaying_only > 0.3
    assert penalised == 0.0


def test_naive_is_weighted_only_up_to_its_horizon() -> None:
    # GIVEN Naive far better than MSTL in the backtest at every horizon
    engine = EnsembleForecaster(STEP, ForecastConfig(naive_max_minutes=60), EventEffectLearner())
    fit = _fit(engine, ["Naive", "MSTL"])
    fit.mae["Naive"] = np.full(len(engine.horizons), 0.01)
    # WHEN weighting steps 5 min, 1 h, 65 min and 24 h ahead
    weights = engine._weights(fit, ["Naive", "MSTL"], np.array([1, 12, 13, 288]), {})
    # THEN Naive carries the next hour and gets nothing beyond it
    assert weights[0, 0] > 0 and weights[1, 0] > 0
    assert weights[0, 1] == 0 and weights[1, 1] == 0
    assert weights[2, 0] == 0 and weights[3, 0] == 0
    assert weights[2, 1] > 0 and weights[3, 1] > 0


def test_from_three_hours_half_the_weight_hedges_over_the_models_near_the_best() -> None:
    # GIVEN MSTL best in the backtest, AutoTheta 20 % worse, LightGBM four times worse
    engine = EnsembleForecaster(STEP, ForecastConfig(), EventEffectLearner())
    models = ["MSTL", "AutoTheta", "LightGBM"]
    fit = _fit(engine, models)
    fit.mae["AutoTheta"] = np.full(len(engine.horizons), 0.06)
    fit.mae["LightGBM"] = np.full(len(engine.horizons), 0.2)
    # WHEN weighting 1 h and 24 h ahead
    weights = engine._weights(fit, models, np.array([12, 288]), {})
    weights = weights / weights.sum(axis=1, keepdims=True)
    # THEN the next hour is MSTL's alone; a day ahead AutoTheta shares the hedge, LightGBM stays out
    np.testing.assert_allclose(weights[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(
        weights[1], [0.5 + 0.5 * (1 / 1.0) / (1 / 1.0 + 1 / 1.2), 0.5 * (1 / 1.2) / (1 / 1.0 + 1 / 1.2), 0.0]
    )


def test_a_model_within_the_veto_ratio_keeps_its_day_ahead_weight() -> None:
    # GIVEN AutoETS only twice as bad as MSTL over the last hour (under the ratio of 3)
    recent = {"MSTL": [0.01] * 24, "AutoETS": [0.02] * 24}
    # THEN the penalty does not apply: the weights equal those without it
    assert math.isclose(
        _day_ahead_share(ForecastConfig(), recent),
        _day_ahead_share(ForecastConfig(recent_veto_ratio=math.inf), recent),
    )


def test_consensus_drops_a_path_that_strays_from_the_others() -> None:
    # GIVEN four models, one of which blows up at the last two steps
    stacked = np.array(
        [
            [100.0, 101.0, 102.0, 103.0],
            [100.0, 100.0, 101.0, 102.0],
            [99.0, 100.0, 100.0, 101.0],
            [100.0, 101.0, 400.0, 900.0],
        ]
    )
    weights = np.full((4, 4), 0.25)
    # WHEN the consensus guard runs (5 x max(spread, 0.2 x mean load 100))
    out = consensus(weights, stacked, 100.0, 5.0, 0.2)
    # THEN the stray path has no weight where it strays, the others share it, rows still sum to 1
    assert np.allclose(out[:2], 0.25)
    assert np.allclose(out[2:, 3], 0.0)
    assert np.allclose(out[2:, :3], 1 / 3)
    assert np.allclose(out.sum(axis=1), 1.0)


def test_consensus_keeps_small_disagreements_and_can_be_turned_off() -> None:
    stacked = np.array([[100.0, 100.0], [105.0, 110.0], [95.0, 90.0]])
    weights = np.array([[0.5, 0.2, 0.3], [0.6, 0.2, 0.2]])
    # disagreement within 5 x 20 % of the load: unchanged
    assert np.array_equal(consensus(weights, stacked, 100.0, 5.0, 0.2), weights)
    # turned off (inf): unchanged even for a wild path
    wild = stacked.copy()
    wild[2] = [1e6, 1e6]
    assert np.array_equal(consensus(weights, wild, 100.0, math.inf, 0.2), weights)


def _calibrated(config: ForecastConfig) -> TargetFit:
    """Five backtest origins: MSTL misses by 1 at every horizon but 24 h (by 2), AutoETS by 1.4 everywhere."""
    engine = EnsembleForecaster(STEP, config, EventEffectLearner())
    fit = _fit(engine, [])
    hs = engine.horizons
    mstl_error = np.where(hs == hs[-1], 2.0, 1.0)
    samples = [
        (o, hs, np.full(len(hs), 10.0), 1.0, {"MSTL": 10.0 - mstl_error, "AutoETS": np.full(len(hs), 8.6)})
        for o in range(5)
    ]
    engine._calibrate(fit, samples)
    return fit


def test_long_horizon_weights_rest_on_the_errors_of_every_long_horizon() -> None:
    # GIVEN MSTL better than AutoETS at every horizon from 3 h but one bad 24 h reading
    # WHEN calibrating with the long horizons pooled (default) and per horizon only
    pooled = _calibrated(ForecastConfig())
    per_horizon = _calibrated(ForecastConfig(long_pool_minutes=math.inf))
    mstl, ets = pooled.models.index("MSTL"), pooled.models.index("AutoETS")
    # THEN pooled, MSTL keeps the 24 h weight; per horizon, the single reading hands it to AutoETS
    assert pooled.weights[-1, mstl] > pooled.weights[-1, ets]
    assert per_horizon.weights[-1, ets] > per_horizon.weights[-1, mstl]
    # and short horizons (under 3 h) are unaffected by the pooling
    assert np.array_equal(pooled.weights[:5], per_horizon.weights[:5])
