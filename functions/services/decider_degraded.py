"""The forecast error alert in the decider: one event per episode naming a target whose forecasts went bad.

The fleet's ``ForecastErrorPercent`` alarm watches the mean over every target, where one target with useless
forecasts hides among a thousand. So at each decision the decider also compares the target's own recent
error (:meth:`functions.domain.calibration.ForecastTracker.recent_error`: the forecasts' medians against
the load over the last 6 h, scaled by the mean load so idle minutes are no infinite error) with the
deployment's ``forecast_error_threshold_percent``. Going above it begins an episode and publishes
:class:`~events.contracts.ForecastDegraded` naming the target (to the notification topic); the episode
ends when the error falls below :data:`CLEAR_FRACTION` of the threshold, so an error around the threshold
does not flap. Without a figure (too few steps scored) the episode stays as it was. The flag is kept in
the target's stored state, so no CloudWatch alarm exists per target.
"""

from __future__ import annotations

from datetime import datetime

from events.contracts import MAX_ERROR_PERCENT, ForecastDegraded
from functions.domain.calibration import ForecastTracker, RecentError
from functions.domain.clock import IdSource
from functions.domain.target import ScalingTarget

#: an episode ends when the error falls below this fraction of the threshold
CLEAR_FRACTION = 0.8


def degraded_after(was: bool, error: RecentError | None, threshold_pct: float) -> bool:
    """Whether the episode is on after this decision: begins above the threshold, ends below 80 % of it."""
    if error is None:
        return was
    if was:
        return error.forecast_pct >= CLEAR_FRACTION * threshold_pct
    return error.forecast_pct > threshold_pct


def degraded_event(
    target: ScalingTarget,
    tracker: ForecastTracker,
    error: RecentError,
    threshold_pct: float,
    *,
    ids: IdSource,
    now: datetime,
) -> ForecastDegraded:
    """The event of an episode that began at this decision."""
    return ForecastDegraded(
        degraded_id=ids.new_id("degraded"),
        target_id=target.target_id,
        detected_at=now,
        error_percent=round(min(error.forecast_pct, MAX_ERROR_PERCENT), 3),
        naive_error_percent=round(min(error.naive_pct, MAX_ERROR_PERCENT), 3),
        threshold_percent=threshold_pct,
        clear_below_percent=round(CLEAR_FRACTION * threshold_pct, 6),
        scored_steps=error.steps,
        window_seconds=tracker.confidence_seconds,
        offset=tracker.offset,
    )
