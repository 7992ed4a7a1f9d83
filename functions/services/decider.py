"""The decider: on ``ForecastReady``, run the decision engine for each target and record the decision.

For each forecast summary: the target's stored state (sequence, stabilisation clock, the floor it set),
its latest forecast, business-event floors (events that give an ``expected_load``), the kill switch, and
the capacity and newest load the collector saw. :func:`functions.domain.decision.decide` does the rest.

Never scale on bad data: when the collector found no new load point this round (a missing metric), or
the history ends more than ``max(3 periods, 5 min)`` before now, the forecast is set aside and there is
no recent load, so the engine holds the current capacity. Without a usable forecast (none yet, missing,
unreadable) the reactive rule decides, and may add capacity but never remove it.

Target tracking (``DecisionPolicy.reactive_tracking``): the forecaster then sends, every collection round,
a summary of each target that is not due, pointing at the forecast already decided on (a round between
decisions). Every round the round's datapoint, if fresh and newer than the last one fed, is fed to target
tracking (:func:`functions.domain.reactive.target_tracking_step`; its counters, the newest datapoint fed,
the forecast decided on and whether the newest decision was reactive are in the target's stored state);
a missing or late datapoint feeds nothing, so stale data never moves capacity. While the newest decision
is reactive, target tracking's capacity applies (:func:`functions.domain.decision.with_tracking`, as the
replay applies it): between decisions it is recorded as a reactive decision, with the next sequence, when
it changes the capacity; at a decision round the larger of it and the decision's. Scale-in without a
forecast is then target tracking's: fresh datapoints below 90 % of its set-point for 15 minutes.

The SLO budget (:mod:`functions.domain.slo_budget`, ``ScalingTarget.slo_budget``) is held as the replay
holds it: every round, decision or not, the round's datapoint (its load and the in-service capacity),
if fresh and newer than the last one observed, is observed, and the controller's memory is kept in the
target's stored state; only minutes whose capacity was the forecast's move the margin (not before the
first decision, nor while the newest is reactive or the alarm responder has raised capacity since it). With an ``auto`` budget, the first decision of each day (00:00 UTC) computes
the reference, target tracking's under-provisioned share on the last ``window_days`` of archived load.
Each decision prices the forecast with the budget's margin and emits the budget, its spend and the margin.

The decider keeps the replay's forecast record (:class:`functions.domain.calibration.ForecastTracker`,
sized by :func:`functions.domain.decision.tracker_for`) between invocations, so that the Lambda function
runs exactly what ``forescale replay`` measures: before each decision the record is read (one S3 object
per target, :mod:`functions.adapters.tracker_records`, in :mod:`functions.adapters.tracker_codec`'s
binary form), scored against the loads the collector stored since its oldest pending forecast, and the
day before for seasonal naive's error (two days of S3 history at most), asked for the calibration the
engine prices with and the confidence it trusts the forecast by, and after the decision the
forecast it used is added and the record stored back, conditional on the version read. A malformed
record, or one kept for other target settings, is replaced by a fresh one (the outcome says so); two
deciders racing on a target: the first to store wins and the other's addition (one forecast window of
ratios) is dropped, which a calibration record over a week of forecasts can afford (a retry would score
the same loads).

A target whose ``capacity_per_instance`` is ``learn`` is decided with the value the trainer learned
(:mod:`functions.domain.capacity_model`, stored per target); until one is learned it is skipped with
the reason.

Each decision takes the next sequence number of its target (stored with optimistic concurrency: two
deciders racing on one target cannot issue the same number), is recorded in the audit table and the S3
audit trail, and is published as ``ScalingDecided`` when it changes something (a ``hold`` is recorded,
not sent). A decision is valid for one decision interval and two minutes
(:func:`functions.services.common.decision_validity`): the executor carries out only the newest recorded
decision of a target, and only while it is valid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from events.contracts import ForecastReady, ForecastSummary, ScalingDecided
from functions.domain.calibration import ForecastCalibration, ForecastTracker
from functions.domain.capacity_model import MIN_SAMPLES, CapacityEstimate, capacity_of, instances_for, resolve_capacity
from functions.domain.clock import Clock, IdSource
from functions.domain.decision import (
    MAX_REASON,
    CapacityFloor,
    CurrentCapacity,
    Decision,
    DecisionPolicy,
    TargetState,
    action_between,
    decide,
    format_load,
    never_scale_in,
    tracker_for,
    tracking_rule,
    with_tracking,
)
from functions.domain.reactive import AlarmState, target_tracking_step
from functions.domain.slo_budget import BudgetState, budget_clause, budget_pct, observe, with_reference
from functions.domain.target import ScalingTarget
from functions.ports import tracker_codec
from functions.ports.archive import Archive
from functions.ports.bus import EventPublisher
from functions.ports.errors import ConflictError
from functions.ports.records import TargetState as StoredTargetState
from functions.ports.state import StateStore
from functions.ports.tracker import TrackerRecords
from functions.services.common import (
    DECIDED_CAPACITY,
    FORECAST_AGE,
    SLO_BUDGET,
    SLO_BUDGET_MARGIN,
    SLO_BUDGET_SPENT,
    MetricSink,
    NullSink,
    decision_validity,
    floor_time,
    stale_data_after,
)
from functions.services.targets import TargetCatalog
from models.api import ForecastPath, NoForecast

MAX_CONFLICT_RETRIES = 5
#: the forecast record is scored against at most this much history per decision (one S3 day object,
#: two around midnight); a pending forecast older than that (a decider stopped for a day) scores nothing
MAX_OBSERVED_SPAN = timedelta(days=1)
#: a stored record made with another offset (a re-learned capacity) is kept if within this factor
OFFSET_TOLERANCE = 0.25

logger = logging.getLogger(__name__)


def decision_row(event: ScalingDecided, decision: Decision, summary: ForecastSummary) -> dict[str, Any]:
    """The S3 audit row of a decision: the event plus what only the engine knows (quantile, plan)."""
    return {
        **event.model_dump(mode="json"),
        "record": "decision",
        "forecast_id": summary.forecast_id,
        "quantile": decision.quantile,
        "peak_load": decision.peak_load,
        "peak_at": None if decision.peak_at is None else decision.peak_at.isoformat(),
        "plan": [[step.at.isoformat(), step.capacity] for step in decision.plan],
        "executed": decision.execute,
    }


def _ns(at: datetime) -> int:
    """Epoch nanoseconds of an aware time (what the forecast record counts in, computed as the replay does)."""
    import pandas as pd

    return int(pd.Timestamp(at).value)


def compatible(stored: dict[str, Any], fresh: dict[str, Any]) -> bool:
    """Whether a stored record's settings still fit the target (sizes equal, offset within tolerance)."""
    if {k: v for k, v in stored.items() if k != "offset"} != {k: v for k, v in fresh.items() if k != "offset"}:
        return False
    old, new = float(stored.get("offset", -1.0)), float(fresh["offset"])
    return old == new or (old > 0 and new > 0 and abs(old / new - 1.0) <= OFFSET_TOLERANCE)


def learned_target(target: ScalingTarget, store: StateStore) -> tuple[ScalingTarget | None, str | None]:
    """``target`` with a numeric ``capacity_per_instance`` (the learned one for ``learn``), or why not."""
    if target.capacity_per_instance != "learn":
        return target, None
    learned = store.get_learned_capacity(target.target_id)
    if learned is None or learned.capacity_per_instance is None:
        has = 0 if learned is None else learned.samples
        why = "" if learned is None or not learned.reason else f": {learned.reason}"
        return None, f"capacity_per_instance 'learn': not learned yet (needs {MIN_SAMPLES} samples, has {has}){why}"[
            :500
        ]
    estimate = CapacityEstimate(
        learned.capacity_per_instance, learned.samples, learned.r2, learned.outliers, learned.method
    )
    return resolve_capacity(target, estimate), None


def domain_state(stored: StoredTargetState) -> TargetState:
    return TargetState(stored.last_scale_out_at, stored.last_scale_in_at, stored.plan_lower_since)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_NS = 86_400 * 1_000_000_000


def _time_of(ns: int | None) -> datetime | None:
    """Inverse of :func:`_ns` for the microsecond times the store keeps (exact)."""
    return None if ns is None else _EPOCH + timedelta(microseconds=ns // 1000)


def budget_of(stored: StoredTargetState) -> BudgetState:
    """The SLO budget controller's memory as the stored target state keeps it."""
    return BudgetState(
        level=stored.budget_level,
        minutes=stored.budget_minutes,
        under_minutes=stored.budget_under_minutes,
        under_run_minutes=stored.budget_under_run_minutes,
        observed_ns=None if stored.budget_observed_at is None else _ns(stored.budget_observed_at),
        reference_pct=stored.budget_reference_pct,
        reference_ns=None if stored.budget_reference_at is None else _ns(stored.budget_reference_at),
    )


def with_budget(stored: StoredTargetState, budget: BudgetState) -> StoredTargetState:
    """``stored`` keeping ``budget`` (see :func:`budget_of`)."""
    return replace(
        stored,
        budget_level=budget.level,
        budget_minutes=budget.minutes,
        budget_under_minutes=budget.under_minutes,
        budget_under_run_minutes=budget.under_run_minutes,
        budget_observed_at=_time_of(budget.observed_ns),
        budget_reference_pct=budget.reference_pct,
        budget_reference_at=_time_of(budget.reference_ns),
    )


def window_load(history: Any, *, end: datetime, step_seconds: int, steps: int) -> Any:
    """The loads of the ``steps`` metric periods before ``end`` as an array (NaN where none is stored),
    from the first stored one on: what the replay's ``observation.load[-steps:]`` holds at ``end``."""
    import numpy as np

    step_ns = step_seconds * 1_000_000_000
    start_ns = _ns(end) - steps * step_ns
    ds = history["ds"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    y = history["y"].to_numpy(dtype=float)
    index = (ds - start_ns) // step_ns
    inside = (index >= 0) & (index < steps)
    if not inside.any():
        return np.empty(0)
    load = np.full(steps, np.nan)
    load[index[inside]] = y[inside]
    # leading unknown steps change nothing in target tracking's share (functions/domain/slo_budget.py)
    return load[int(index[inside].min()) :]


def tracking_clause(target: ScalingTarget, alarms: AlarmState, load: float | None, capacity: int) -> str:
    """Why target tracking moved capacity: its breaching datapoints and the load's need."""
    rule = tracking_rule(target, target.metric.period_seconds)
    if alarms.above:
        why = f"{alarms.above} datapoints above {rule.target_utilization:g} utilisation"
    else:
        why = f"{alarms.below} datapoints below {rule.scale_in_ratio * rule.target_utilization:g} utilisation"
    shown = "" if load is None else f", load {format_load(load, target.metric.unit_label)}"
    return f"target tracking: {why}{shown} needs {capacity}"


@dataclass
class DecisionOutcome:
    target_id: str
    decision_id: str | None
    action: str
    previous: int | None
    desired: int | None
    published: bool
    reason: str
    #: what happened to the forecast record when it was not simply carried on (fresh, dropped)
    calibration_note: str | None = None

    def summary(self) -> dict[str, Any]:
        out = {
            "target_id": self.target_id,
            "decision_id": self.decision_id,
            "action": self.action,
            "previous": self.previous,
            "desired": self.desired,
            "published": self.published,
            "reason": self.reason,
        }
        if self.calibration_note:
            out["calibration_note"] = self.calibration_note
        return out


@dataclass
class DeciderService:
    catalog: TargetCatalog
    store: StateStore
    archive: Archive
    #: the forecast record of each target between invocations
    records: TrackerRecords
    publisher: EventPublisher
    clock: Clock
    ids: IdSource
    sink: MetricSink = field(default_factory=NullSink)
    policy: DecisionPolicy = field(default_factory=DecisionPolicy)

    def decide_batch(self, ready: ForecastReady) -> list[DecisionOutcome]:
        outcomes: list[DecisionOutcome] = []
        to_publish: list[ScalingDecided] = []
        for summary in ready.forecasts:
            target = self.catalog.find(summary.target_id)
            if target is None:
                outcomes.append(
                    DecisionOutcome(summary.target_id, None, "skipped", None, None, False, "not a known target")
                )
                continue
            resolved, why_not = learned_target(target, self.store)
            if resolved is None:
                # Without a capacity per instance nothing can be sized: skip this target, not the batch.
                outcomes.append(DecisionOutcome(summary.target_id, None, "skipped", None, None, False, why_not or ""))
                continue
            outcome, event = self._decide_one(resolved, summary)
            outcomes.append(outcome)
            if event is not None and outcome.published:
                to_publish.append(event)
        if to_publish:
            self.publisher.publish(to_publish)
        return outcomes

    # ----------------------------------------------------------------- one target

    def _inputs(
        self, target: ScalingTarget, summary: ForecastSummary, aligned: datetime
    ) -> tuple[ForecastPath | NoForecast, float | None]:
        """(forecast or why there is none, recent load) — with stale data, neither is trusted."""
        tid = target.target_id
        if summary.recent_load is None or aligned - summary.history_end > stale_data_after(target):
            reason = f"no new load this round, newest {summary.history_end:%Y-%m-%d %H:%M} UTC"
            return NoForecast(tid, reason), None
        if summary.no_forecast_reason:
            return NoForecast(tid, summary.no_forecast_reason), summary.recent_load
        try:
            stored = self.store.latest_forecast(tid)
            path = None if stored is None or stored.no_forecast_reason is not None else stored.to_path()
        except (ValueError, KeyError, TypeError) as error:  # a corrupt item: decide without it
            return NoForecast(tid, f"the stored forecast is unreadable ({error})"[:300]), summary.recent_load
        if path is None:
            return NoForecast(tid, "the stored forecast is missing"), summary.recent_load
        return path, summary.recent_load

    def _floors(self, target: ScalingTarget, start: datetime) -> list[CapacityFloor]:
        """Business events with an expected load: the capacity that load needs, over the event's window."""
        end = start + timedelta(seconds=2 * target.boot_seconds + target.decision_interval_seconds)
        per_instance = capacity_of(target) * target.slo_utilization
        floors = []
        for record in self.store.business_events(target.target_id, start, end):
            event = record.event
            if event.expected_load is not None:
                floors.append(
                    CapacityFloor(event.name, event.start, event.end, instances_for(event.expected_load, per_instance))
                )
        return floors

    # ----------------------------------------------------------------- forecast record

    def _load_tracker(self, target: ScalingTarget) -> tuple[ForecastTracker, str | None, str | None]:
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

    def _observe(self, tracker: ForecastTracker, target: ScalingTarget, aligned: datetime) -> None:
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
            (_ns(record.event.start), _ns(record.event.end))
            for record in self.store.business_events(target.target_id, start, aligned)
        ]
        tracker.observe(ds, history["y"].to_numpy(dtype=float), now_ns=_ns(aligned), announced=announced)

    def _calibrate(
        self, target: ScalingTarget, aligned: datetime
    ) -> tuple[ForecastTracker, str | None, str | None, ForecastCalibration]:
        tracker, version, note = self._load_tracker(target)
        self._observe(tracker, target, aligned)
        return tracker, version, note, tracker.calibration(now_ns=_ns(aligned))

    def _store_tracker(self, target: ScalingTarget, tracker: ForecastTracker, version: str | None) -> str | None:
        try:
            self.records.put(target.target_id, tracker_codec.encode(tracker.to_state()), version)
        except ConflictError:
            note = "another decider stored the forecast record first; this round's forecast is not added"
            logger.info("decider: %s: %s", target.target_id, note)
            return note
        return None

    # ----------------------------------------------------------------- one target

    def _decide_one(
        self, target: ScalingTarget, summary: ForecastSummary
    ) -> tuple[DecisionOutcome, ScalingDecided | None]:
        tid = target.target_id
        now = self.clock.now()
        aligned = floor_time(now, target.metric.period_seconds)
        if summary.desired_capacity is None:
            return DecisionOutcome(tid, None, "skipped", None, None, False, "current capacity unknown this round"), None
        first = self.store.get_target_state(tid)  # re-read only after a conflicting write
        if first.decided_forecast_id == summary.forecast_id:
            return self._between(target, summary, now, aligned, first)
        forecast, recent = self._inputs(target, summary, aligned)
        tracker, tracker_version, note, calibration = self._calibrate(target, aligned)
        floors = self._floors(target, aligned)
        kill = self.store.kill_switch(tid) is not None
        for attempt in range(MAX_CONFLICT_RETRIES):
            stored = first if attempt == 0 else self.store.get_target_state(tid)
            desired_now = self._desired_now(target, summary, stored)
            tracked, alarms, fed_at = self._feed(target, summary, aligned, stored, desired_now)
            observed = self._observe_budget(target, summary, aligned, stored)
            budget = self._reference(target, aligned, observed)
            decision = decide(
                forecast,
                current=CurrentCapacity(
                    desired=desired_now,
                    in_service=summary.in_service_capacity or 0,
                    recent_load=recent,
                ),
                target=target,
                state=domain_state(stored),
                now=aligned,
                floors=floors,
                kill_switch=kill,
                calibration=calibration,
                policy=self.policy,
                margin=budget.margin,
                margin_clause=budget_clause(target, budget),
            )
            if isinstance(forecast, NoForecast):
                decision = never_scale_in(decision, state=domain_state(stored))
            final = with_tracking(
                self.policy, reactive=decision.reactive, current=desired_now, tracked=tracked, decided=decision.desired
            )
            if final != decision.desired and not kill:
                clause = tracking_clause(target, alarms, summary.recent_load, final)
                decision = replace(
                    decision,
                    desired=final,
                    action=action_between(decision.previous_desired, final),
                    reason=f"{decision.reason}; {clause}"[:MAX_REASON],
                )
            sequence = stored.sequence + 1
            try:
                self.store.put_target_state(
                    replace(
                        with_budget(stored, budget),
                        sequence=sequence,
                        last_scale_out_at=decision.state.last_scale_out_at,
                        last_scale_in_at=decision.state.last_scale_in_at,
                        plan_lower_since=decision.state.plan_lower_since,
                        updated_at=now,
                        reactive_why=(decision.reactive_why or "reactive") if decision.reactive else None,
                        decided_forecast_id=summary.forecast_id,
                        tracking_above=alarms.above,
                        tracking_below=alarms.below,
                        tracking_fed_at=fed_at,
                        alarm_governs=False,
                    )
                )
            except ConflictError:
                continue
            if isinstance(forecast, ForecastPath):
                tracker.record(forecast, now_ns=_ns(aligned), bias=calibration.bias)
            stored_note = self._store_tracker(target, tracker, tracker_version)
            outcome, event = self._record(target, summary, decision, sequence, now)
            self._emit_budget(target, budget)
            outcome.calibration_note = "; ".join(n for n in (note, stored_note) if n) or None
            return outcome, event
        raise ConflictError("target state", tid, f"still changing after {MAX_CONFLICT_RETRIES} attempts")

    @staticmethod
    def _desired_now(target: ScalingTarget, summary: ForecastSummary, stored: StoredTargetState) -> int:
        own = stored.last_desired if target.mode == "floor" and stored.last_desired is not None else None
        return target.clamp(own if own is not None else (summary.desired_capacity or 0))

    def _feed(
        self,
        target: ScalingTarget,
        summary: ForecastSummary,
        aligned: datetime,
        stored: StoredTargetState,
        desired: int,
    ) -> tuple[int, AlarmState, datetime | None]:
        """Target tracking fed this round's datapoint: (its capacity, its counters, the newest datapoint fed).

        Only a fresh datapoint newer than the last one fed counts; a missing or late one leaves the counters
        where they were (AWS's "missing data: maintain state"), so stale data never moves capacity.
        """
        alarms, fed_at = AlarmState(stored.tracking_above, stored.tracking_below), stored.tracking_fed_at
        fresh = summary.recent_load is not None and aligned - summary.history_end <= stale_data_after(target)
        if not self.policy.reactive_tracking or not fresh or (fed_at is not None and summary.history_end <= fed_at):
            return desired, alarms, fed_at
        assert summary.recent_load is not None
        tracked, alarms = target_tracking_step(
            tracking_rule(target, target.metric.period_seconds),
            alarms,
            load=summary.recent_load,
            in_service=summary.in_service_capacity or 0,
            desired=desired,
        )
        return tracked, alarms, summary.history_end

    def _between(
        self,
        target: ScalingTarget,
        summary: ForecastSummary,
        now: datetime,
        aligned: datetime,
        first: StoredTargetState,
    ) -> tuple[DecisionOutcome, ScalingDecided | None]:
        """A round between decisions (the forecast was decided on): the SLO budget observes the round's datapoint,
        and target tracking (``reactive_tracking``) is fed it, recorded as a decision if it moves capacity."""
        tid = target.target_id
        tracking = self.policy.reactive_tracking
        kill = tracking and self.store.kill_switch(tid) is not None
        for attempt in range(MAX_CONFLICT_RETRIES):
            stored = first if attempt == 0 else self.store.get_target_state(tid)
            observed = self._observe_budget(target, summary, aligned, stored)
            if not tracking:
                if observed == budget_of(stored):
                    return self._decided_already(tid), None
                try:
                    self.store.put_target_state(replace(with_budget(stored, observed), updated_at=now))
                except ConflictError:
                    continue
                return self._decided_already(tid), None
            desired_now = self._desired_now(target, summary, stored)
            tracked, alarms, fed_at = self._feed(target, summary, aligned, stored, desired_now)
            reactive = stored.reactive_why is not None
            final = (
                desired_now
                if kill
                else with_tracking(self.policy, reactive=reactive, current=desired_now, tracked=tracked, decided=None)
            )
            moved = final != desired_now
            sequence = stored.sequence + 1 if moved else stored.sequence
            try:
                self.store.put_target_state(
                    replace(
                        with_budget(stored, observed),
                        sequence=sequence,
                        updated_at=now,
                        tracking_above=alarms.above,
                        tracking_below=alarms.below,
                        tracking_fed_at=fed_at,
                    )
                )
            except ConflictError:
                continue
            if not moved:
                why = "kill switch engaged" if kill else "target tracking holds"
                return DecisionOutcome(
                    tid, None, "hold", desired_now, desired_now, False, f"between decisions: {why}"
                ), None
            mode = f"reactive ({stored.reactive_why})" if reactive else "tracking floor in forecast mode"
            clauses = [tracking_clause(target, alarms, summary.recent_load, final), f"between decisions, {mode}"]
            if target.mode == "forecast_only":
                clauses.append("forecast_only: not executed")
            decision = Decision(
                target_id=tid,
                decided_at=aligned,
                mode=target.mode,
                execute=target.mode != "forecast_only",
                action=action_between(desired_now, final),
                previous_desired=desired_now,
                in_service=summary.in_service_capacity or 0,
                desired=final,
                min_capacity=target.min_capacity,
                max_capacity=target.max_capacity,
                confidence=0.0,
                reactive=reactive,
                reason="; ".join(clauses)[:MAX_REASON],
                reactive_why=stored.reactive_why,
                state=domain_state(stored),
            )
            return self._record(target, summary, decision, sequence, now)
        raise ConflictError("target state", tid, f"still changing after {MAX_CONFLICT_RETRIES} attempts")

    @staticmethod
    def _decided_already(tid: str) -> DecisionOutcome:
        return DecisionOutcome(tid, None, "skipped", None, None, False, "this forecast was decided on already")

    # ----------------------------------------------------------------- SLO budget

    def _observe_budget(
        self, target: ScalingTarget, summary: ForecastSummary, aligned: datetime, stored: StoredTargetState
    ) -> BudgetState:
        """The stored budget with this round's datapoint observed: only a fresh one (as :meth:`_feed`), with a
        known in-service capacity; :func:`observe` ignores one not newer than the last observed.

        The datapoint counts in the spend; it moves the margin only when its capacity was the forecast's
        (the replay's mode ``forecast``): the newest decision was in forecast mode and the alarm responder
        has not raised capacity since. Before the first decision, or while the reactive rule or the alarm
        governs, the margin (which prices forecasts only) keeps its level.
        """
        budget = budget_of(stored)
        if (
            summary.recent_load is None
            or summary.in_service_capacity is None
            or aligned - summary.history_end > stale_data_after(target)
        ):
            return budget
        return observe(
            budget,
            stamps_ns=(_ns(summary.history_end),),
            loads=(summary.recent_load,),
            in_service=(summary.in_service_capacity,),
            target=target,
            priced=stored.decided_forecast_id is not None and stored.reactive_why is None and not stored.alarm_governs,
        )

    def _reference(self, target: ScalingTarget, aligned: datetime, budget: BudgetState) -> BudgetState:
        """With an ``auto`` budget, the reference on the last window of archived load, computed at the first
        decision of each day (00:00 UTC slots, the replay's refit schedule). Without any known load the day's
        attempt is still marked, so that the next try is the next day's, as in the replay."""
        settings = target.slo_budget
        if settings.under_provisioning_pct != "auto":
            return budget
        now_ns = _ns(aligned)
        if budget.reference_ns is not None and budget.reference_ns // _DAY_NS >= now_ns // _DAY_NS:
            return budget
        step = target.metric.period_seconds
        steps = int(settings.window_days * 86_400 / step)
        history = self.archive.read_history(target.target_id, aligned - timedelta(seconds=steps * step), aligned)
        load = window_load(history, end=aligned, step_seconds=step, steps=steps)
        updated = with_reference(budget, load=load, target=target, now_ns=now_ns)
        return updated if updated.reference_ns == now_ns else replace(budget, reference_ns=now_ns)

    def _emit_budget(self, target: ScalingTarget, budget: BudgetState) -> None:
        """The budget, its spend and the margin of a decision, while a budget is known (each metric costs)."""
        pct = budget_pct(target, budget)
        if pct is None:
            return
        tid = target.target_id
        self.sink.emit(SLO_BUDGET, pct, unit="Percent", target_id=tid)
        if budget.spend_pct is not None:
            self.sink.emit(SLO_BUDGET_SPENT, budget.spend_pct, unit="Percent", target_id=tid)
        self.sink.emit(SLO_BUDGET_MARGIN, budget.margin, target_id=tid)

    def _record(
        self, target: ScalingTarget, summary: ForecastSummary, decision: Decision, sequence: int, now: datetime
    ) -> tuple[DecisionOutcome, ScalingDecided]:
        decision_id = self.ids.new_id("decision")
        event = decision.to_event(
            decision_id=decision_id,
            sequence=sequence,
            kind=target.kind,
            valid_until=now + decision_validity(target.decision_interval_seconds),
        )
        self.store.record_decision(event)
        self.archive.write_audit(target.target_id, decision_id, now, [decision_row(event, decision, summary)])
        self.sink.emit(DECIDED_CAPACITY, decision.desired, unit="Count", target_id=target.target_id)
        self.sink.emit(
            FORECAST_AGE, (now - summary.issued_at).total_seconds(), unit="Seconds", target_id=target.target_id
        )
        publish = decision.action != "hold"
        return (
            DecisionOutcome(
                target.target_id,
                decision_id,
                decision.action,
                decision.previous_desired,
                decision.desired,
                publish,
                decision.reason,
            ),
            event,
        )
