"""The forecaster: on ``MetricsCollected``, forecast every target of the batch whose decision is due.

A target is due once per decision interval (its first round at or after each interval boundary), and,
with ``surprise_decisions``, at once when the round's fresh load needs more instances than the desired
capacity at ``slo_utilization`` (:func:`functions.domain.decision.is_surprise`, as the replay). Time
is aligned on the target's metric period: the forecast is issued at the start of the current period
and its first step is that period, so the decider, aligned the same way, finds a forecast that covers
the window it decides for.

For each due target: the history of the last ``history_days`` (S3), the business events that overlap
the history or the horizon (they lift the forecast inside their windows, and teach the models what
past ones did), and the champion model (or the unfitted fallback). Targets sharing a model are
forecast together in one call. The batch's forecasts are appended to the audit trail (S3, one object per
shard), then stored as the targets' latest (DynamoDB), and summarised in one ``ForecastReady`` per batch,
carrying the capacity and load the collector saw so that the decider needs no AWS call of its own to know
the present. Audit rows first: a stored forecast makes its target no longer due, so a retry after a crash
forecasts again exactly the targets whose forecast was not stored (a row of a forecast never stored may
remain; none of a stored one is missing).

Anomalies: points of the last day that have just become judgeable (the robust detector needs half an
hour after a point) and are flagged are published as ``AnomalyDetected``, one event per target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from events.contracts import (
    AnomalousPoint,
    AnomalyDetected,
    CollectedTarget,
    ForecastReady,
    ForecastSummary,
    MetricsCollected,
)
from functions.domain.clock import Clock, IdSource
from functions.domain.decision import is_surprise
from functions.domain.target import ScalingTarget
from functions.ports.archive import Archive, AuditRecord
from functions.ports.bus import EventPublisher
from functions.ports.records import StoredBusinessEvent, StoredForecast
from functions.ports.state import StateStore
from functions.services.common import (
    FORECAST_ERROR,
    LEVEL_SHIFT,
    MetricSink,
    NullSink,
    audit_batch_name,
    floor_time,
    stale_data_after,
)
from functions.services.model_registry import ModelLoader, learned_effects
from functions.services.targets import TargetCatalog

if TYPE_CHECKING:
    import pandas as pd

    from models.api import BusinessWindow, ForecastPath, NoForecast
    from models.service import ForecastEnsemble

#: The forecast reaches at least this far (the plan shown by the API and the decider's scale-in look-ahead).
MIN_HORIZON_SECONDS = 3600
ANOMALY_METHOD = "robust"


def horizon_steps(target: ScalingTarget) -> int:
    """Steps covering the decision window, one more boot time (scale-in look-ahead), and at least an hour."""
    seconds = max(MIN_HORIZON_SECONDS, 2 * target.boot_seconds + target.decision_interval_seconds)
    return math.ceil(seconds / target.metric.period_seconds) + 1


def is_due(target: ScalingTarget, latest: StoredForecast | None, aligned_now: datetime) -> bool:
    """No forecast issued yet in the current decision interval."""
    if latest is None:
        return True
    return latest.issued_at < floor_time(aligned_now, target.decision_interval_seconds)


def to_window(record: StoredBusinessEvent) -> BusinessWindow:
    from models.api import BusinessWindow

    event = record.event
    return BusinessWindow(
        unique_id=record.target_id,
        event_type=event.event_type,
        start=event.start.astimezone(UTC).replace(tzinfo=None),
        end=event.end.astimezone(UTC).replace(tzinfo=None),
        multiplier=event.expected_multiplier,
        expected_load=event.expected_load,
    )


@dataclass
class _Job:
    target: ScalingTarget
    collected: CollectedTarget
    aligned_now: datetime
    history: pd.DataFrame
    windows: list[BusinessWindow]
    previous: StoredForecast | None
    service: ForecastEnsemble
    version: str


@dataclass
class ForecastOutcome:
    target_id: str
    forecast_id: str
    model_version: str
    no_forecast_reason: str | None
    peak_p90: float | None
    anomalies: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "target_id": self.target_id,
            "forecast_id": self.forecast_id,
            "model": self.model_version,
            "no_forecast_reason": self.no_forecast_reason,
            "peak_p90": None if self.peak_p90 is None else round(self.peak_p90, 3),
            "anomalies": self.anomalies,
        }


@dataclass
class _Made:
    outcome: ForecastOutcome
    summary: ForecastSummary
    forecast: StoredForecast
    record: AuditRecord


@dataclass
class ForecasterService:
    catalog: TargetCatalog
    store: StateStore
    archive: Archive
    publisher: EventPublisher
    models: ModelLoader
    clock: Clock
    ids: IdSource
    sink: MetricSink = field(default_factory=NullSink)
    history_days: float = 8.0
    #: how much history the anomaly detector looks at
    anomaly_days: float = 1.0
    #: targets read and stored side by side
    workers: int = 16
    #: also summarise, every round, the latest forecast of each target that is not due, with the round's
    #: load and capacity, so that the decider observes every datapoint (the SLO budget; target tracking)
    every_round: bool = False
    #: a target whose fresh newest load outgrew its desired capacity is due at once (DecisionPolicy.surprise_decisions)
    surprise_decisions: bool = False

    def forecast_batch(self, collected: MetricsCollected) -> list[ForecastOutcome]:
        now = self.clock.now()
        # Reading each target's state, history, events and model is I/O: side by side, the batch's history
        # listings and objects shared (its targets share history shards).
        with self.archive.batch_reads(), ThreadPoolExecutor(max_workers=self.workers) as pool:
            prepared = list(pool.map(lambda item: self._prepare(item, now), collected.targets))
        jobs = [job for job in prepared if isinstance(job, _Job)]
        between = [summary for summary in prepared if isinstance(summary, ForecastSummary)]
        if not jobs:
            if between:
                self.publisher.publish([ForecastReady(round_id=collected.round_id, forecasts=between)])
            return []
        made: list[_Made] = []
        anomalies: list[AnomalyDetected] = []
        for group in self._groups(jobs):
            results = self._run(group[0].service, group)
            for job in group:
                made.append(self._made(job, results.get(job.target.target_id)))
                anomaly = self._anomalies(job, now)
                if anomaly is not None:
                    made[-1].outcome.anomalies = len(anomaly.points)
                    anomalies.append(anomaly)
        batches: dict[datetime, list[AuditRecord]] = {}
        for item in made:
            batches.setdefault(item.summary.issued_at, []).append(item.record)
        for at, records in batches.items():
            self.archive.write_audit_batch(audit_batch_name("forecasts", collected.round_id), at, records)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(pool.map(self.store.put_forecast, [item.forecast for item in made]))
        summaries = [item.summary for item in made] + between
        self.publisher.publish([ForecastReady(round_id=collected.round_id, forecasts=summaries), *anomalies])
        return [item.outcome for item in made]

    # ----------------------------------------------------------------- steps

    def _prepare(self, item: CollectedTarget, now: datetime) -> _Job | ForecastSummary | None:
        """Everything one due target's forecast needs; when it is not due, the summary of its latest forecast
        (``every_round``) or None (and None for what is not a target)."""
        target = self.catalog.find(item.target_id)
        if target is None:
            return None
        aligned = floor_time(now, target.metric.period_seconds)
        latest = self.store.latest_forecast(target.target_id)
        if latest is not None and not is_due(target, latest, aligned) and not self._surprised(target, item, aligned):
            return self._between(target, item, latest) if self.every_round else None
        start = aligned - timedelta(days=self.history_days)
        history = self.archive.read_history(target.target_id, start, aligned)
        reach = aligned + timedelta(seconds=horizon_steps(target) * target.metric.period_seconds)
        windows = [to_window(e) for e in self.store.business_events(target.target_id, start, reach)]
        effects = learned_effects(self.store, {w.event_type for w in windows})
        service, version = self.models.service_for(target.target_id, target.metric.period_seconds, effects)
        return _Job(target, item, aligned, history, windows, latest, service, version)

    def _surprised(self, target: ScalingTarget, item: CollectedTarget, aligned: datetime) -> bool:
        """The round's fresh newest load needs more than the desired capacity (a target that still learns its
        capacity is never surprised: the forecaster does not know it)."""
        if not self.surprise_decisions or item.last_timestamp is None or item.desired_capacity is None:
            return False
        if isinstance(target.capacity_per_instance, str) or aligned - item.last_timestamp > stale_data_after(target):
            return False
        return is_surprise(target, load=item.last_value, desired=item.desired_capacity)

    @staticmethod
    def _between(target: ScalingTarget, item: CollectedTarget, latest: StoredForecast) -> ForecastSummary:
        """The latest forecast, again, with this round's newest load and capacity: a round between decisions."""
        fresh = item.last_timestamp is not None
        return ForecastSummary(
            target_id=target.target_id,
            forecast_id=latest.forecast_id,
            issued_at=latest.issued_at,
            history_end=item.last_timestamp if fresh else (latest.history_end or latest.issued_at),
            step_seconds=target.metric.period_seconds,
            horizon_steps=len(latest.ds),
            model_version=latest.model_version[:64] or "unknown",
            confidence=min(1.0, max(0.0, latest.confidence)),
            no_forecast_reason=latest.no_forecast_reason,
            desired_capacity=item.desired_capacity,
            in_service_capacity=item.in_service_capacity,
            recent_load=item.last_value if fresh else None,
        )

    def _groups(self, jobs: list[_Job]) -> list[list[_Job]]:
        """Jobs sharing a loaded model, alignment and horizon: one forecast call each."""
        groups: dict[tuple[int, datetime, int], list[_Job]] = {}
        for job in jobs:
            groups.setdefault((id(job.service), job.aligned_now, horizon_steps(job.target)), []).append(job)
        return list(groups.values())

    def _run(self, service: ForecastEnsemble, jobs: Sequence[_Job]) -> dict[str, ForecastPath | NoForecast]:
        import pandas as pd

        history = pd.concat([job.history for job in jobs], ignore_index=True)
        windows = [w for job in jobs for w in job.windows]
        return service.forecast(
            history, now=jobs[0].aligned_now, horizon_steps=horizon_steps(jobs[0].target), events=windows
        )

    def _made(self, job: _Job, result: ForecastPath | NoForecast | None) -> _Made:
        """The forecast of a job as stored, its audit record and summary (nothing written yet)."""
        from models.api import ForecastPath

        target, tid, version = job.target, job.target.target_id, job.version
        forecast_id = self.ids.new_id("forecast")
        history_end = (
            job.history["ds"].iloc[-1].to_pydatetime().replace(tzinfo=UTC)
            if len(job.history)
            else job.aligned_now - timedelta(days=self.history_days)
        )
        if isinstance(result, ForecastPath):
            model = f"{version}:{result.model}"[:64]
            stored = StoredForecast.from_path(
                result, forecast_id=forecast_id, model_version=model, history_end=history_end
            )
            reason = None
            peak = float(result.p90.max()) if len(result.p90) else None
            if result.level_shift_since is not None:  # a fleet count: the forecast record names the target
                self.sink.emit(LEVEL_SHIFT, 1.0, unit="Count")
        else:
            reason = result.reason if result is not None else "the forecasting service returned nothing for the target"
            model = version[:64]
            stored = StoredForecast(
                target_id=tid,
                forecast_id=forecast_id,
                issued_at=job.aligned_now,
                model_version=model,
                confidence=0.0,
                history_end=history_end,
                no_forecast_reason=reason[:300],
            )
            peak = None
        self._error_metric(job)
        record = AuditRecord(
            tid,
            f"forecast-{forecast_id}",
            [
                {
                    "record": "forecast",
                    "forecast_id": forecast_id,
                    "model_version": model,
                    "confidence": stored.confidence,
                    "history_end": history_end.isoformat(),
                    "no_forecast_reason": stored.no_forecast_reason or "",
                    "ds": [s.isoformat() for s in stored.ds],
                    "p50": list(stored.p50),
                    "p90": list(stored.p90),
                    "p99": list(stored.p99),
                }
            ],
        )
        item = job.collected
        summary = ForecastSummary(
            target_id=tid,
            forecast_id=forecast_id,
            issued_at=job.aligned_now,
            history_end=history_end,
            step_seconds=target.metric.period_seconds,
            horizon_steps=len(stored.ds),
            model_version=model,
            confidence=stored.confidence,
            no_forecast_reason=stored.no_forecast_reason,
            peak_p90=peak,
            desired_capacity=item.desired_capacity,
            in_service_capacity=item.in_service_capacity,
            recent_load=item.last_value if item.last_timestamp is not None else None,
        )
        return _Made(ForecastOutcome(tid, forecast_id, model, reason, peak), summary, stored, record)

    def _error_metric(self, job: _Job) -> None:
        """Absolute % error of the previous forecast's median at the newest observed point: one value of the
        fleet's distribution (no target id: each target's error is in its stored forecasts and loads)."""
        previous, item = job.previous, job.collected
        if previous is None or previous.no_forecast_reason or item.last_timestamp is None or not item.last_value:
            return
        stamp = item.last_timestamp
        for ds, p50 in zip(previous.ds, previous.p50, strict=True):
            if ds == stamp:
                self.sink.emit(
                    FORECAST_ERROR,
                    abs(item.last_value - p50) / item.last_value * 100.0,
                    unit="Percent",
                )
                return

    def _anomalies(self, job: _Job, now: datetime) -> AnomalyDetected | None:
        import numpy as np
        import pandas as pd

        from models.anomaly import detect

        step = job.target.metric.period_seconds
        if len(job.history) < 24:
            return None
        start = job.aligned_now - timedelta(days=self.anomaly_days)
        grid = pd.date_range(
            start.replace(tzinfo=None),
            job.aligned_now.replace(tzinfo=None),
            freq=f"{step}s",
            inclusive="left",
        )
        series = pd.Series(job.history["y"].to_numpy(), index=pd.DatetimeIndex(job.history["ds"])).reindex(grid)
        protect = max(1, (3600 // step) // 2 + 1)
        flags, scores = detect(series.to_numpy(dtype=float), step, method=ANOMALY_METHOD, protect_last=protect)
        # Only points that became judgeable since the previous forecast (each is reported once).
        judged_until = len(grid) - protect
        fresh = max(0, judged_until - max(1, job.target.decision_interval_seconds // step))
        index = [int(i) for i in np.flatnonzero(flags) if fresh <= i < judged_until]
        if not index:
            return None
        points = [
            AnomalousPoint(
                ds=grid[i].to_pydatetime().replace(tzinfo=UTC), value=float(series.iloc[i]), score=float(scores[i])
            )
            for i in index
        ]
        return AnomalyDetected(target_id=job.target.target_id, detected_at=now, method=ANOMALY_METHOD, points=points)
