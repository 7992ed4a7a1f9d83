"""A target's history made ready for the models: anomalies out, business windows divided out, gaps filled."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.anomaly import detect
from models.api import BusinessWindow
from models.config import ForecastConfig
from models.events import EventEffectLearner, learn_and_remove, observed_uplift
from models.prep import GridSeries, fill_gaps, from_unix_seconds, season_steps, to_unix_seconds
from models.statistical import block_steps


@dataclass
class Prepared:
    """A target's history ready for the models."""

    series: GridSeries
    raw: np.ndarray
    filled: np.ndarray
    trainable: np.ndarray
    anomalies: list[tuple[pd.Timestamp, float, float]] = field(default_factory=list)


def prepare(
    series: GridSeries,
    windows: Iterable[BusinessWindow],
    *,
    config: ForecastConfig,
    learner: EventEffectLearner,
    step: int,
    now_seconds: int,
    learn: bool,
) -> Prepared:
    """The history up to its newest known value, cleaned for the models.

    ``learn`` (the fit) learns the uplift of past business windows and reports the anomalies; otherwise
    (the forecast) the newest half hour is never flagged and past windows' observed uplift is divided out.
    """
    cfg = config
    raw = np.array(series.y, dtype=float)
    known = np.flatnonzero(~np.isnan(raw))
    if len(known):
        raw = raw[: known[-1] + 1]
    series = GridSeries(series.unique_id, series.t0, series.step, raw)
    hour = block_steps(step, 3600)
    flags, scores = detect(
        raw,
        step,
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
            learner,
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
    filled = fill_gaps(clean, season_steps(step), hour)
    trainable = ~np.isnan(clean)
    anomalies = []
    if learn and flags.any():
        stamps = from_unix_seconds(series.times()[flags])
        anomalies = [(stamp, float(v), float(s)) for stamp, v, s in zip(stamps, raw[flags], scores[flags], strict=True)]
    return Prepared(series, raw, filled, trainable, anomalies)
