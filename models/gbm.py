"""LightGBM global model: one booster across all targets, direct multi-horizon with the horizon as a feature.

Each training row is (target, origin ``o``, horizon ``h``): features known at ``o`` plus calendar
features of the target time ``o + h``; the label is the gap between the load at ``o + h`` and a
seasonal baseline (mean of the same time of the week on the last 3 comparable weeks when two are
known, else of the same time of day on the last 7 comparable days), divided by the target's recent
mean load. A day is comparable unless it is a public holiday or the eve of one. Normalising makes
targets of any unit share one model; the baseline lets trees, which cannot extrapolate, work on
small corrections. Direct (not recursive) forecasting: one prediction per horizon step, no
feedback of predictions, so 288 steps x 1,000 targets is one ``predict`` call.

Features: recent lags, rolling means / standard deviations, rate of change, deviation from the
daily profile, seasonal lags of the target time (1 day, 1 comparable week), calendar (hour,
weekday, month end, payday, public holiday via ``holidays``) and Fourier terms of the day and week.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.prep import season_steps

PROFILE_DAYS = 7
PROFILE_WEEKS = 3
#: how many more periods a seasonal average looks back to replace the holidays it skips
HOLIDAY_SLACK = 2
FEATURES: tuple[str, ...] = (
    "h_days",
    "lvl0",
    "lvl1",
    "lvl2",
    "lvl5",
    "lvl11",
    "gap_to_base",
    "dev1",
    "dev3",
    "dev12",
    "dev48",
    "dev144",
    "std12",
    "std144",
    "roc1",
    "roc12",
    "base",
    "sn_day",
    "sn_week",
    "profile_now",
    "hour",
    "weekday",
    "month_end",
    "payday",
    "holiday",
    "sin_day",
    "cos_day",
    "sin_day2",
    "cos_day2",
    "sin_week",
    "cos_week",
)


#: Public holidays per (country, year) as days since the Unix epoch. Filled from the ``holidays``
#: package on first use, or seeded from a saved artifact (:func:`remember_holidays`) so that a cold
#: forecaster never imports ``holidays`` (it loads every country's module: ~0.4 s of a cold start).
_HOLIDAYS_BY_YEAR: dict[tuple[str, int], frozenset[int]] = {}


def _holidays_of_year(country: str, year: int) -> frozenset[int]:
    known = _HOLIDAYS_BY_YEAR.get((country, year))
    if known is not None:
        return known
    import holidays

    try:
        calendar = holidays.country_holidays(country, years=[year])
    except (KeyError, NotImplementedError) as exc:
        raise ValueError(f"holiday_country: {country!r} is not known to the holidays package") from exc
    epoch = np.datetime64("1970-01-01", "D")
    days = frozenset(int((np.datetime64(day, "D") - epoch).astype(int)) for day in calendar)
    _HOLIDAYS_BY_YEAR[(country, year)] = days
    return days


def _holiday_days(country: str, first_year: int, last_year: int) -> frozenset[int]:
    """Public holidays of ``first_year`` … ``last_year`` as days since the Unix epoch."""
    return frozenset().union(*(_holidays_of_year(country, year) for year in range(first_year, last_year + 1)))


def holiday_calendar(country: str, first_year: int, last_year: int) -> dict[int, list[int]]:
    """The holidays of a span of years, to store in an artifact beside the models that use them."""
    return {year: sorted(_holidays_of_year(country, year)) for year in range(first_year, last_year + 1)}


def remember_holidays(country: str, calendar: dict[int, list[int]]) -> None:
    """Seed the holiday cache from an artifact (see :func:`holiday_calendar`)."""
    for year, days in calendar.items():
        _HOLIDAYS_BY_YEAR[(country, int(year))] = frozenset(int(day) for day in days)


def calendar_features(seconds: np.ndarray, country: str) -> dict[str, np.ndarray]:
    """Calendar and Fourier features of UTC Unix seconds."""
    days = seconds // 86_400
    stamps = seconds.astype("datetime64[s]")
    day_start = stamps.astype("datetime64[D]")
    month_start = stamps.astype("datetime64[M]")
    next_month = (month_start + np.timedelta64(1, "M")).astype("datetime64[D]")
    day_of_month = (day_start - month_start.astype("datetime64[D]")).astype(int) + 1
    days_left = (next_month - day_start).astype(int)
    years = stamps.astype("datetime64[Y]").astype(int) + 1970
    holiday_days = _holiday_days(country, int(years.min()), int(years.max())) if len(years) else frozenset()
    holiday = np.fromiter((d in holiday_days for d in days.tolist()), dtype=bool, count=len(days))
    tod = (seconds % 86_400) / 86_400
    tow = ((days + 3) % 7 + tod) / 7  # Monday = 0
    return {
        "hour": tod * 24,
        "weekday": ((days + 3) % 7).astype(float),
        "month_end": (days_left <= 2).astype(float),
        "payday": ((day_of_month == 1) | (day_of_month == 15) | (days_left == 1)).astype(float),
        "holiday": holiday.astype(float),
        "sin_day": np.sin(2 * np.pi * tod),
        "cos_day": np.cos(2 * np.pi * tod),
        "sin_day2": np.sin(4 * np.pi * tod),
        "cos_day2": np.cos(4 * np.pi * tod),
        "sin_week": np.sin(2 * np.pi * tow),
        "cos_week": np.cos(2 * np.pi * tow),
    }


@dataclass
class SeriesFeatures:
    """Per-series arrays computed once, from which rows for any (origin, horizon) are gathered."""

    y: np.ndarray
    t0: int
    step: int
    country: str
    #: per step: False on a public holiday and on the eve of one (their load is not their weekday's)
    comparable: np.ndarray
    csum: np.ndarray
    csum2: np.ndarray
    dev_csum: np.ndarray
    profile: np.ndarray

    @classmethod
    def build(cls, y: np.ndarray, t0: int, step: int, country: str) -> SeriesFeatures:
        y = np.asarray(y, dtype=float)
        day = season_steps(step)
        days = (t0 + step * np.arange(len(y), dtype=np.int64)) // 86_400
        comparable = np.ones(len(y), dtype=bool)
        if len(y):
            years = days[[0, -1]].astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970
            holidays = np.fromiter(_holiday_days(country, int(years[0]), int(years[1]) + 1), dtype=np.int64)
            comparable = ~np.isin(days, np.concatenate([holidays, holidays - 1]))
        total = np.zeros(len(y))
        count = np.zeros(len(y))
        for k in range(1, PROFILE_DAYS + 1):
            if k * day >= len(y):
                break
            total[k * day :] += y[: -k * day]
            count[k * day :] += 1
        profile = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        dev = np.where(np.isnan(profile), 0.0, y - np.nan_to_num(profile))
        return cls(
            y=y,
            t0=t0,
            step=step,
            country=country,
            comparable=comparable,
            csum=np.concatenate([[0.0], np.cumsum(y)]),
            csum2=np.concatenate([[0.0], np.cumsum(y * y)]),
            dev_csum=np.concatenate([[0.0], np.cumsum(dev)]),
            profile=profile,
        )

    def _window_mean(self, csum: np.ndarray, o: np.ndarray, w: int) -> np.ndarray:
        start = np.maximum(o + 1 - w, 0)
        return np.asarray((csum[o + 1] - csum[start]) / (o + 1 - start))

    def base(self, o: np.ndarray, h: np.ndarray) -> np.ndarray:
        """Baseline for target ``o + h`` from values up to ``o``: the seasonal-window average plus the
        current deviation from it (last 3 steps), decaying with the horizon (time constant 2 h)."""
        swa = self.profile_at(o, h)
        now = self.profile_at(o, np.zeros_like(h))
        recent = self._window_mean(self.csum, o, 3)
        tau = max(1.0, 7200 / self.step)
        return np.asarray(swa + (recent - now) * np.exp(-h / tau))

    def profile_at(self, o: np.ndarray, h: np.ndarray) -> np.ndarray:
        """Seasonal average for target ``o + h`` using values up to ``o`` only (h = 0: at ``o``).

        The same time of the week on the last 3 comparable weeks where two are known (weekly seasonal
        loads: nyc_taxi's weekend is not its weekdays' mean), else of the day on the last 7 comparable
        days; holidays and their eves are skipped (a long weekend last week is not this week's).
        """
        day = season_steps(self.step)
        daily, days = self._seasonal_mean(o, h, day, PROFILE_DAYS)
        weekly, weeks = self._seasonal_mean(o, h, 7 * day, PROFILE_WEEKS)
        return np.where(weeks >= 2, weekly, np.where(days > 0, daily, self.y[o]))

    def _seasonal_mean(self, o: np.ndarray, h: np.ndarray, period: int, wanted: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean of the values one or more ``period`` before ``o + h`` (and not after ``o``) on comparable
        days, the newest ``wanted`` of them, and how many there were."""
        j = o + h
        first = np.maximum(np.ceil(h / period).astype(np.int64), 1)
        total = np.zeros(len(o))
        count = np.zeros(len(o))
        for extra in range(wanted + HOLIDAY_SLACK):
            idx = j - period * (first + extra)
            ok = (idx >= 0) & (count < wanted)
            ok &= self.comparable[np.maximum(idx, 0)]
            total[ok] += self.y[idx[ok]]
            count[ok] += 1
        return np.where(count > 0, total / np.maximum(count, 1), np.nan), count

    def scale(self, o: np.ndarray) -> np.ndarray:
        return _scale(self.csum, o, season_steps(self.step))

    def rows(self, o: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Feature matrix, baseline and scale for origins ``o`` and horizons ``h`` (equal-length arrays)."""
        o = np.asarray(o, dtype=np.int64)
        h = np.asarray(h, dtype=np.int64)
        day = season_steps(self.step)
        week = 7 * day
        y = self.y
        sc = self.scale(o)
        base = self.base(o, h)
        j = o + h

        def lag(i: int) -> np.ndarray:
            return np.asarray(y[np.maximum(o - i, 0)] / sc)

        def rolling_std(w: int) -> np.ndarray:
            mean = self._window_mean(self.csum, o, w)
            sq = self._window_mean(self.csum2, o, w)
            return np.sqrt(np.maximum(sq - mean * mean, 0)) / sc

        sn_day_idx = j - day * np.ceil(h / day).astype(np.int64)
        sn_week_idx = j - week * np.ceil(h / week).astype(np.int64)
        for _ in range(HOLIDAY_SLACK + 1):  # the newest comparable week
            holiday = (sn_week_idx >= 0) & ~self.comparable[np.maximum(sn_week_idx, 0)]
            sn_week_idx = np.where(holiday, sn_week_idx - week, sn_week_idx)
        sn_week = np.where(sn_week_idx >= 0, y[np.maximum(sn_week_idx, 0)] / sc, np.nan)
        profile_now = np.where(np.isnan(self.profile[o]), np.nan, self.profile[o] / sc)
        columns: dict[str, np.ndarray] = {
            "h_days": h / day,
            "lvl0": lag(0),
            "lvl1": lag(1),
            "lvl2": lag(2),
            "lvl5": lag(5),
            "lvl11": lag(11),
            "gap_to_base": (y[o] - base) / sc,
            "dev1": self._window_mean(self.dev_csum, o, 1) / sc,
            "dev3": self._window_mean(self.dev_csum, o, 3) / sc,
            "dev12": self._window_mean(self.dev_csum, o, 12) / sc,
            "dev48": self._window_mean(self.dev_csum, o, 48) / sc,
            "dev144": self._window_mean(self.dev_csum, o, 144) / sc,
            "std12": rolling_std(12),
            "std144": rolling_std(144),
            "roc1": (y[o] - y[np.maximum(o - 1, 0)]) / sc,
            "roc12": (y[o] - y[np.maximum(o - 12, 0)]) / sc,
            "base": base / sc,
            "sn_day": y[np.maximum(sn_day_idx, 0)] / sc,
            "sn_week": sn_week,
            "profile_now": profile_now,
        }
        target_seconds = self.t0 + self.step * j
        columns.update(calendar_features(target_seconds, self.country))
        matrix = np.column_stack([columns[name] for name in FEATURES]).astype(np.float64)
        return matrix, base, sc


def _scale(csum: np.ndarray, o: np.ndarray, day: int) -> np.ndarray:
    """Mean load of the day up to each ``o`` (cumulative sums ``csum``), floored at 1 % of the series' mean."""
    start = np.maximum(o + 1 - day, 0)
    mean = (csum[o + 1] - csum[start]) / (o + 1 - start)
    overall = abs(csum[-1]) / max(1, len(csum) - 1)
    return np.asarray(np.maximum(np.abs(mean), max(1e-6, 0.01 * overall)))


def newest_scale(y: np.ndarray, step: int) -> float:
    """The scale of :meth:`SeriesFeatures.scale` at the newest value of ``y``, without building features."""
    y = np.asarray(y, dtype=float)
    return float(_scale(np.concatenate([[0.0], np.cumsum(y)]), np.array([len(y) - 1]), season_steps(step))[0])


def horizon_steps(step: int, minutes: tuple[int, ...]) -> np.ndarray:
    """Distinct horizon steps (≥ 1) of the given minutes at this step."""
    steps = sorted({max(1, round(m * 60 / step)) for m in minutes})
    return np.asarray(steps, dtype=np.int64)


#: seed of the horizons sampled per training origin: one for every series, so that a series forecasts
#: the same whatever its name (it was seeded by the name, and a renamed trace replayed differently)
ROW_SAMPLING_SEED = 11


def training_rows(
    features: SeriesFeatures,
    *,
    label: np.ndarray,
    trainable: np.ndarray,
    limit: int,
    horizons: np.ndarray,
    origin_every: int,
    per_origin: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows (X, label) whose target position is below ``limit`` and trainable (known, not anomalous)."""
    day = season_steps(features.step)
    first_origin = min(day, max(0, limit - 2 * day))
    origins = np.arange(limit - 2, first_origin - 1, -origin_every)[::-1]
    if len(origins) == 0:
        return np.empty((0, len(FEATURES))), np.empty(0)
    rng = np.random.default_rng(ROW_SAMPLING_SEED)
    k = min(per_origin, len(horizons))
    picks = np.argsort(rng.random((len(origins), len(horizons))), axis=1)[:, :k]
    o = np.repeat(origins, k)
    h = horizons[picks.ravel()]
    j = o + h
    ok = (j < limit) & trainable[np.minimum(j, len(trainable) - 1)]
    o, h, j = o[ok], h[ok], j[ok]
    if len(o) == 0:
        return np.empty((0, len(FEATURES))), np.empty(0)
    x, base, sc = features.rows(o, h)
    target = np.clip((label[j] - base) / sc, -10, 10)
    return x, target


class GlobalBooster:
    """A thin holder of a LightGBM booster with save/load as text (portable, exact)."""

    def __init__(self, booster: object | None = None) -> None:
        self.booster = booster

    @classmethod
    def train(
        cls, x: np.ndarray, target: np.ndarray, params: dict[str, float | int | str], rounds: int
    ) -> GlobalBooster:
        import lightgbm as lgb

        if len(target) < 50:
            return cls(None)
        data = lgb.Dataset(x, label=target, feature_name=list(FEATURES), free_raw_data=True)
        return cls(lgb.train(dict(params), data, num_boost_round=rounds))

    def predict(self, x: np.ndarray) -> np.ndarray | None:
        if self.booster is None or len(x) == 0:
            return None
        return np.asarray(self.booster.predict(x, num_threads=1))  # type: ignore[attr-defined]

    def to_string(self) -> str:
        return "" if self.booster is None else str(self.booster.model_to_string())  # type: ignore[attr-defined]

    @classmethod
    def from_string(cls, text: str) -> GlobalBooster:
        import lightgbm as lgb

        return cls(lgb.Booster(model_str=text) if text else None)
