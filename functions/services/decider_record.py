"""The decider's forecast record of each target, kept between invocations.

The decider keeps the replay's forecast record (:class:`functions.domain.calibration.ForecastTracker`,
sized by :func:`functions.domain.decision.tracker_for`) between invocations, so that the Lambda function
runs exactly what ``forescale replay`` measures: before each decision the record is read (one S3 object
per target, :mod:`functions.adapters.tracker_records`, in :mod:`functions.ports.tracker_codec`'s
binary form), scored against the loads the collector stored since its oldest pending forecast, and the
day before for seasonal naive's error (two days of S3 history at most), asked for the calibration the
engine prices with and the confidence it trusts the forecast by, and after the decision the
forecast it used is added and the record stored back, conditional on the version read. A malformed
record, or one kept for other target settings, is replaced by a fresh one (the outcome says so); two
deciders racing on a target: the first to store wins and the other's addition (one forecast window of
ratios) is dropped, which a calibration record over a week of forecasts can afford (a retry would score
the same loads).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.domain.calibration import ForecastCalibration, ForecastTracker
from functions.domain.decision import DecisionPolicy, tracker_for
from functions.domain.target import ScalingTarget
from functions.ports import tracker_codec
from functions.ports.archive import Archive
from functions.ports.errors import ConflictError
from functions.ports.state import BusinessEventStore
from functions.ports.tracker import TrackerRecords
from functions.services.common import epoch_ns

#: the forecast record is scored against at most this much history per decision (one S3 day object,
#: two around midnight); a pending forecast older than that (a decider stopped for a day) scores nothing
MAX_OBSERVED_SPAN = timedelta(days=1)
#: a stored record made with another offset (a re-learned capacity) is kept if within this factor
OFFSET_TOLERANCE = 0.25

logger = logging.getLogger(__name__)


def compatible(stored: dict[str, Any], fresh: dict[str, Any]) -> bool:
    """Whether a stored record's settings still fit the target (sizes equal, offset within tolerance)."""
    if {k: v for k, v in stored.items() if k != "offset"} != {k: v for k, v in fresh.items() if k != "offset"}:
        return False
    old, new = float(stored.get("offset", -1.0)), float(fresh["offset"])
    return old == new or (old > 0 and new > 0 and abs(old / new - 1.0) <= OFFSET_TOLERANCE)


@dataclass(frozen=True)
class ForecastRecordKeeper:
    """Reads, scores and stores back the forecast record of a target (see the module's docstring)."""

    records: TrackerRecords
    archive: Archive
    events: BusinessEventStore
    policy: DecisionPolicy

    def load(self, target: ScalingTarget) -> tuple[ForecastTracker, str | None, str | None]:
        """(record, stored version or None, note): the stored record, or a fresh one and why."""
        fresh = tracker_for(target, self.policy)
        stored = self.records.get(target.target_id)
        if stored is None:
            return fresh, None, None
        try:
            state = tracker_codec.decode(stored.body)
        except (ValueError, KeyError, TypeError) as error:
            note = f"forecast record unreadable, started afresh ({error})"[:300]
            logger.warning("decider: %s: %s", target.target_id, note)
            return fresh, stored.version, note
        if not compatible(dict(state.get("settings", {})), fresh.to_state()["settings"]):
            return fresh, stored.version, "forecast record kept for other target settings, started afresh"
        try:
            return ForecastTracker.from_state(state), stored.version, None
        except (ValueError, KeyError, TypeError) as error:
            note = f"forecast record malformed, started afresh ({error})"[:300]
            logger.warning("decider: %s: %s", target.target_id, note)
            return fresh, stored.version, note

    def score_pending(self, tracker: ForecastTracker, target: ScalingTarget, aligned: datetime) -> None:
        """Score the pending forecasts against the loads since the oldest of them (and one season before it)."""
        import numpy as np

        first = tracker.history_start_ns()
        if first is None:
            return
        season = timedelta(seconds=tracker.season_seconds)
        start = max(datetime.fromtimestamp(first / 1e9, UTC), aligned - MAX_OBSERVED_SPAN - season)
        if start >= aligned:
            return
        history = self.archive.read_history(target.target_id, start, aligned)
        ds = history["ds"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        announced = [
            (epoch_ns(record.event.start), epoch_ns(record.event.end))
            for record in self.events.business_events(target.target_id, start, aligned)
        ]
        tracker.observe(ds, history["y"].to_numpy(dtype=float), now_ns=epoch_ns(aligned), announced=announced)

    def calibrate(
        self, target: ScalingTarget, aligned: datetime
    ) -> tuple[ForecastTracker, str | None, str | None, ForecastCalibration]:
        """(record, stored version, note, calibration): the record read and scored, and what it calibrates."""
        tracker, version, note = self.load(target)
        self.score_pending(tracker, target, aligned)
        return tracker, version, note, tracker.calibration(now_ns=epoch_ns(aligned))

    def store(self, target: ScalingTarget, tracker: ForecastTracker, version: str | None) -> str | None:
        """Store the record back, conditional on ``version``; a note when another decider stored first."""
        try:
            self.records.put(target.target_id, tracker_codec.encode(tracker.to_state()), version)
        except ConflictError:
            note = "another decider stored the forecast record first; this round's forecast is not added"
            logger.info("decider: %s: %s", target.target_id, note)
            return note
        return None
