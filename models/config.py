"""Settings of the forecasting engine: hyper-parameters only, no fitted state."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.api import LEVELS


@dataclass(frozen=True)
class ForecastConfig:
    """How the engine fits, backtests and forecasts (defaults chosen by the benchmarks in models/README.md)."""

    #: central interval levels; p90 and p99 are the upper ends of the first two
    levels: tuple[int, ...] = LEVELS
    #: under this many days of known history: NoForecast
    min_history_days: float = 1.0
    #: under this many days: SeasonalNaive-like forecasts only
    full_history_days: float = 2.0
    #: history older than this is ignored (bounds training cost)
    max_history_days: float = 21.0
    #: a forecast is refused when the newest known value is older than this
    max_staleness_days: float = 1.0
    #: the holdout of the in-fit rolling-origin backtest (days), and its origin spacing
    holdout_days: float = 4.0
    backtest_every_minutes: int = 30
    #: a backtest error counts half as much in the weights for each ``backtest_half_life_days`` of age
    backtest_half_life_days: float = 1.0
    #: backtest MAE (the weights) pooled over every horizon from this many minutes on (inf: per horizon only)
    long_pool_minutes: float = 180.0
    #: horizons (minutes) where backtest errors are measured; weights and intervals interpolate between them
    horizon_minutes: tuple[int, ...] = (5, 10, 15, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720, 960, 1200, 1440)
    #: models eligible for the ensemble; a model worse than ``prune_ratio`` x the best gets no weight (at short
    #: horizons; ``prune_ratio_long`` and ``weight_power_long`` apply as the horizon grows, see recent_decay_seconds)
    models: tuple[str, ...] = (
        "Naive",
        "SeasonalNaive",
        "SeasonalWindowAverage",
        "MSTL",
        "AutoETS",
        "AutoTheta",
        "LightGBM",
    )
    #: the newest value held flat (statsforecast's Naive) is an ensemble member up to this horizon only: over
    #: the next minutes it often beats every seasonal model, beyond an hour it is a poor guess of the load
    naive_max_minutes: float = 60.0
    #: a lasting level shift (models/regime.py): the load has stayed beyond the range of the reference week,
    #: widened by ``shift_margin`` x its width, for ``shift_min_minutes``; for ``shift_max_days`` after it the
    #: ensemble follows the new level beyond ``shift_after_minutes`` (Naive the first day, then SeasonalNaive)
    shift_min_minutes: float = 20.0
    shift_margin: float = 0.5
    shift_max_days: float = 2.0
    shift_after_minutes: float = 60.0
    prune_ratio: float = 1.08
    prune_ratio_long: float = 1.08
    #: recent accuracy at forecast time: models re-applied at this many origins this far apart over the last
    #: hour; a model doing worse than usual loses weight at short horizons (effect halves every ~1.4 x decay)
    recent_origins: int = 4
    recent_every_minutes: int = 15
    recent_decay_seconds: float = 21600.0
    #: a model whose last-hour MAE exceeds ``recent_veto_ratio`` x the best model's keeps at least
    #: ``recent_veto_share`` of that excess in its effective MAE at every horizon (not only the decaying share)
    recent_veto_ratio: float = 3.0
    recent_veto_share: float = 0.5
    #: at each forecast step a path further than ``consensus_mads`` x max(median absolute deviation across
    #: models, ``consensus_floor`` x mean load) from the models' median loses its weight (inf/0: off)
    consensus_mads: float = 5.0
    consensus_floor: float = 0.2
    #: weights ~ MAE ** -weight_power
    weight_power: float = 4.0
    weight_power_long: float = 4.0
    #: from ``hedge_from_minutes`` on, ``hedge_share`` of the weight goes to the models within ``hedge_prune_ratio``
    #: x the best, ~ MAE ** -hedge_weight_power (a hedge against the sharp pick when the ranking turns)
    hedge_share: float = 0.5
    hedge_from_minutes: float = 180.0
    hedge_prune_ratio: float = 1.5
    hedge_weight_power: float = 1.0
    #: anomaly cleaning: "robust" (rolling median / MAD rule) or "isolation_forest", and its threshold
    anomaly_method: str = "robust"
    anomaly_threshold: float = 8.0
    anomaly_max_fraction: float = 0.01
    #: calendar: holidays of this country (``holidays`` package code)
    holiday_country: str = "US"
    #: LightGBM global model
    gbm_params: dict[str, float | int | str] = field(
        default_factory=lambda: {
            "objective": "l2",
            "learning_rate": 0.05,
            "num_leaves": 31,
            "min_data_in_leaf": 40,
            "feature_fraction": 0.8,
            "lambda_l2": 1.0,
            "num_threads": 1,
            "deterministic": True,
            "force_row_wise": True,
            "seed": 7,
            "verbose": -1,
        }
    )
    gbm_rounds: int = 200
    #: training rows: an origin every ``gbm_origin_every_minutes``, ``gbm_horizons_per_origin`` horizons each
    gbm_origin_every_minutes: int = 60
    gbm_horizons_per_origin: int = 6
    gbm_max_rows: int = 600_000
    #: refit the statistical models on the full history after the holdout (costs a second fit)
    refit_after_holdout: bool = True

    def __post_init__(self) -> None:
        if not self.levels or any(not 0 < lv < 100 for lv in self.levels):
            raise ValueError("levels: each must lie strictly between 0 and 100")
        if self.min_history_days <= 0 or self.full_history_days < self.min_history_days:
            raise ValueError("full_history_days: must be at least min_history_days (> 0)")
        unknown = set(self.models) - {
            "Naive",
            "SeasonalNaive",
            "SeasonalWindowAverage",
            "MSTL",
            "AutoETS",
            "AutoTheta",
            "LightGBM",
        }
        if unknown:
            raise ValueError(f"models: unknown model(s) {sorted(unknown)}")
        if self.anomaly_method not in ("robust", "isolation_forest", "none"):
            raise ValueError("anomaly_method: must be 'robust', 'isolation_forest' or 'none'")
