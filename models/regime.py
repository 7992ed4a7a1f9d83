"""Lasting level shifts: after one, the history before it describes another load.

A service drained to another region, an autoscaling group that lost its instances, a new customer
moved onto a cluster: the load jumps to a level the week before never showed, and stays there. Every
fitted model (seasonal profile, trend, LightGBM's seasonal baseline) then forecasts a return to the
old level within hours. The ensemble's last-hour accuracy cannot tell them apart, because all of
them missed the jump alike. This module finds such a shift from the history alone, so the engine
can forecast the new level beyond the first hour (see ``models.weighting.follow_shift``).
"""

from __future__ import annotations

import numpy as np

from models.config import ForecastConfig

#: the reference range: these quantiles of the reference week
RANGE_QUANTILES = (0.005, 0.995)
#: share of the points since the start that must lie beyond the widened range (a few may fall back)
BEYOND_SHARE = 0.95
REFERENCE_DAYS = 7


def level_shift_start(y: np.ndarray, step: int, *, min_minutes: float, margin: float, max_days: float) -> int | None:
    """Index in ``y`` where a lasting level shift began within the last ``max_days``, or None.

    The reference is the range of the week that ends ``max_days`` before the newest value (0.5-99.5 %
    quantiles, widened on each side by ``margin`` times its width), so a shift in the last ``max_days``
    is never part of its own reference. A shift: the last ``min_minutes`` of load all lie beyond that
    range on one side, and so do at least 95 % of the known values from the start on. The start is the
    earliest such point. ``y`` is the raw grid (NaN for unknown load); at least ``max_days`` plus one day
    of history are needed.
    """
    n = len(y)
    day = 86_400 // step
    recent = max(2, int(min_minutes * 60 // step))
    reference_end = n - int(max_days * day)
    last = y[n - recent :]
    if reference_end < day or not np.isfinite(last).all():
        return None
    reference = y[max(0, reference_end - REFERENCE_DAYS * day) : reference_end]
    reference = reference[np.isfinite(reference)]
    if len(reference) < day:
        return None
    lo, hi = np.quantile(reference, RANGE_QUANTILES)
    width = hi - lo
    since = y[reference_end:]
    with np.errstate(invalid="ignore"):
        below, above = since < lo - margin * width, since > hi + margin * width
    if below[-recent:].all():
        beyond = below
    elif above[-recent:].all():
        beyond = above
    else:
        return None
    known = np.isfinite(since)
    # share of beyond-range values among the known ones from each index to the end
    beyond_after = np.cumsum(beyond[::-1])[::-1]
    known_after = np.cumsum(known[::-1])[::-1]
    qualifies = beyond & (beyond_after >= BEYOND_SHARE * known_after)
    return reference_end + int(np.argmax(qualifies))


def followed_shift_start(y: np.ndarray, step: int, config: ForecastConfig) -> int | None:
    """The start of the shift the ensemble follows (``config``'s rule), None if there is none or it is too old."""
    start = level_shift_start(
        y, step, min_minutes=config.shift_min_minutes, margin=config.shift_margin, max_days=config.shift_max_days
    )
    if start is None or (len(y) - start) * step >= config.shift_max_days * 86_400:
        return None
    return start
