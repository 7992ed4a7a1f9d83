"""The decider: on ``ForecastReady``, run the decision engine for each target and record the decision.

For each forecast summary: the target's stored state (sequence, stabilisation clock, the floor it set),
its latest forecast, business-event floors (events that give an ``expected_load``), the kill switch, and
the capacity and newest load the collector saw. :func:`functions.domain.decision.decide` does the rest.

Never scale on bad data: when the collector found no new load point this round (a missing metric), or
the history ends more than ``max(3 periods, 5 min)`` before now, the forecast is set aside and there is
no recent load, so the engine holds the current capacity. Without a usable forecast (none yet, missing,
unreadable) the reactive rule decides, and may add capacity but never remove it.

Three parts of a decision have modules of their own, whose docstrings say how they work: target
tracking, fed every round and applied while the newest decision is reactive
(:mod:`functions.services.decider_tracking`; the rounds between decisions are handled here, in
``_between``), the SLO budget kept in the target's stored state (:mod:`functions.services.decider_budget`),
and the replay's forecast record kept between invocations (:mod:`functions.services.decider_record`), whose
recent error raises the forecast error alert (:mod:`functions.services.decider_degraded`).

A target whose ``capacity_per_instance`` is ``learn`` is decided with the value the trainer learned
(:mod:`functions.domain.capacity_model`, stored per target); until one is learned it is skipped with
the reason.

Each decision takes the next sequence number of its target (stored with optimistic concurrency: two
deciders racing on one target cannot issue the same number), is recorded in the audit table and the S3
audit trail, and is published as ``ScalingDecided`` when it changes something (a ``hold`` is recorded,
not sent). A decision is valid for one decision interval and two minutes
(:func:`functions.services.common.decision_validity`): the executor carries out only the newest recorded
decision of a target, and only while it is valid.

The S3 audit rows of a batch are written together at its end (one object per shard), before its events are
published. Each decision's row is also kept in its target's state (stored with the decision) until the
target's next round: a retry of a round that crashed before the write finds its decisions made, and writes
their rows again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from events.contracts import ForecastDegraded, ForecastReady, ForecastSummary, ScalingDecided, SloBreached
from functions.domain.capacity_model import capacity_of, instances_for
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
    never_scale_in,
    with_tracking,
)
from functions.domain.slo_budget import budget_clause
from functions.domain.target import ScalingTarget
from functions.ports.archive import Archive, AuditRecord
from functions.ports.bus import EventPublisher
from functions.ports.errors import ConflictError
from functions.ports.records import StoredTargetState
from functions.ports.state import StateStore
from functions.ports.tracker import TrackerRecords
from functions.services.common import (
    FORECAST_AGE,
    FORECASTS_DEGRADED,
    SLO_BREACHES,
    SLO_BUDGET_OVERSPENT,
    STALE_TARGETS,
    TARGETS_OVER_SLO,
    MetricSink,
    NullSink,
    audit_batch_name,
    decision_validity,
    epoch_ns,
    floor_time,
    stale_data_after,
)
from functions.services.decider_audit import decision_row, kept_round, round_kept
from functions.services.decider_budget import budget_of, daily_reference, observe_round, overspent, with_budget
from functions.services.decider_degraded import degraded_after, degraded_event
from functions.services.decider_record import ForecastRecordKeeper
from functions.services.decider_slo import breach_event, feed_slo, with_slo
from functions.services.decider_tracking import between_decision, feed_tracking, tracking_clause
from functions.services.targets import TargetCatalog, learned_target
from models.api import ForecastPath, NoForecast

MAX_CONFLICT_RETRIES = 5


def domain_state(stored: StoredTargetState) -> TargetState:
    return TargetState(stored.last_scale_out_at, stored.last_scale_in_at, stored.plan_lower_since)


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
    #: the SLO breach this round's datapoint began (published with the decisions), whether the target's SLO rule
    #: is breached after the round, and whether a decision found its SLO budget overspent (fleet counts)
    breach: SloBreached | None = None
    over_slo: bool = False
    budget_overspent: bool = False
    #: the forecast error episode this decision began, and whether the target's forecasts are degraded after it
    degraded: ForecastDegraded | None = None
    forecast_degraded: bool = False
    #: the S3 audit records the batch writes for this target (this round's decision; a retried round's again)
    audit: list[AuditRecord] = field(default_factory=list)

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
        if self.breach is not None:
            out["slo_breach"] = self.breach.breach_id
        if self.degraded is not None:
            out["forecast_degraded"] = self.degraded.degraded_id
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
    #: a target's recent forecast error above this begins a ``ForecastDegraded`` episode (percent)
    forecast_error_threshold_pct: float = 35.0

    def decide_batch(self, ready: ForecastReady) -> list[DecisionOutcome]:
        with self.archive.batch_reads():  # the batch's history reads share listings and objects
            return self._decide_batch(ready)

    def _decide_batch(self, ready: ForecastReady) -> list[DecisionOutcome]:
        outcomes: list[DecisionOutcome] = []
        to_publish: list[ScalingDecided] = []
        breaches: list[SloBreached] = []
        degraded: list[ForecastDegraded] = []
        stale, ages = 0, [0.0]
        for summary in ready.forecasts:
            target = self.catalog.find(summary.target_id)
            if target is not None and self._stale(target, summary):
                stale += 1
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
            outcome, event = self._decide_one(resolved, summary, ready.round_id)
            outcomes.append(outcome)
            if event is not None and outcome.published:
                to_publish.append(event)
            if outcome.breach is not None:
                breaches.append(outcome.breach)
            if outcome.degraded is not None:
                degraded.append(outcome.degraded)
            if outcome.decision_id is not None:
                ages.append((self.clock.now() - summary.issued_at).total_seconds())
        records = [record for outcome in outcomes for record in outcome.audit]
        if records:
            # before the events: whatever a crash loses here, the retry of the batch writes again
            self.archive.write_audit_batch(audit_batch_name("decisions", ready.round_id), self.clock.now(), records)
        if to_publish or breaches or degraded:
            # decisions first: a responder that runs after the executor sizes from the decided capacity
            self.publisher.publish([*to_publish, *breaches, *degraded])
        self._emit_fleet(outcomes, breaches=len(breaches), stale=stale, oldest=max(ages))
        return outcomes

    def _stale(self, target: ScalingTarget, summary: ForecastSummary) -> bool:
        aligned = floor_time(self.clock.now(), target.metric.period_seconds)
        return summary.recent_load is None or aligned - summary.history_end > stale_data_after(target)

    def _emit_fleet(self, outcomes: list[DecisionOutcome], *, breaches: int, stale: int, oldest: float) -> None:
        """One value of each fleet metric per invocation (a metric per target would bill per target)."""
        self.sink.emit(SLO_BREACHES, breaches, unit="Count")
        self.sink.emit(TARGETS_OVER_SLO, sum(1 for o in outcomes if o.over_slo), unit="Count")
        self.sink.emit(STALE_TARGETS, stale, unit="Count")
        self.sink.emit(SLO_BUDGET_OVERSPENT, sum(1 for o in outcomes if o.budget_overspent), unit="Count")
        self.sink.emit(FORECASTS_DEGRADED, sum(1 for o in outcomes if o.forecast_degraded), unit="Count")
        if oldest > 0:
            self.sink.emit(FORECAST_AGE, oldest, unit="Seconds")

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

    def _forecast_records(self) -> ForecastRecordKeeper:
        return ForecastRecordKeeper(self.records, self.archive, self.store, self.policy)

    # ----------------------------------------------------------------- one target

    def _decide_one(
        self, target: ScalingTarget, summary: ForecastSummary, round_id: str
    ) -> tuple[DecisionOutcome, ScalingDecided | None]:
        tid = target.target_id
        now = self.clock.now()
        aligned = floor_time(now, target.metric.period_seconds)
        if summary.desired_capacity is None:
            return DecisionOutcome(tid, None, "skipped", None, None, False, "current capacity unknown this round"), None
        first = self.store.get_target_state(tid)  # re-read only after a conflicting write
        if first.decided_forecast_id == summary.forecast_id:
            outcome, found = self._between(target, summary, now, aligned, first, round_id=round_id)
            kept = kept_round(first, round_id)  # a retried round: what its crashed attempt made, again
            outcome.audit = [*kept.audit, *outcome.audit]
            for sent in kept.events:
                if isinstance(sent, SloBreached):
                    outcome.breach = outcome.breach or sent
                else:
                    outcome.degraded = outcome.degraded or sent
            if found is None and kept.decision is not None:
                self.store.record_decision(kept.decision)
                outcome.published = kept.decision.action != "hold"
                return outcome, kept.decision
            return outcome, found
        forecast, recent = self._inputs(target, summary, aligned)
        tracker, tracker_version, note, calibration = self._forecast_records().calibrate(target, aligned)
        error = tracker.recent_error(now_ns=epoch_ns(aligned))
        floors = self._floors(target, aligned)
        kill = self.store.kill_switch(tid) is not None
        for attempt in range(MAX_CONFLICT_RETRIES):
            stored = first if attempt == 0 else self.store.get_target_state(tid)
            desired_now = self._desired_now(target, summary, stored)
            tracked, alarms, fed_at = feed_tracking(
                target, summary, stored, policy=self.policy, aligned=aligned, desired=desired_now
            )
            observed = observe_round(target, summary, aligned, stored)
            slo, slo_fed_at, breached = feed_slo(target, summary, stored, aligned=aligned)
            degraded = degraded_after(stored.forecast_degraded, error, self.forecast_error_threshold_pct)
            budget = daily_reference(self.archive, target, aligned, observed)
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
            event = self._event(target, decision, sequence, now)
            row = decision_row(event, decision, summary)
            breach = breach_event(target, summary, slo, ids=self.ids, now=now) if breached else None
            newly = None  # a degraded episode that begins now
            if degraded and not stored.forecast_degraded and error is not None:
                threshold = self.forecast_error_threshold_pct
                newly = degraded_event(target, tracker, error, threshold, ids=self.ids, now=now)
            try:
                self.store.put_target_state(
                    replace(
                        with_slo(with_budget(stored, budget), slo, slo_fed_at),
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
                        forecast_degraded=degraded,
                        **round_kept(stored, round_id, row=row, events=[e for e in (breach, newly) if e is not None]),
                    )
                )
            except ConflictError:
                continue
            if isinstance(forecast, ForecastPath):
                tracker.record(forecast, now_ns=epoch_ns(aligned), bias=calibration.bias)
            stored_note = self._forecast_records().store(target, tracker, tracker_version)
            outcome = self._record(target, decision, event, row)
            outcome.budget_overspent = overspent(target, budget)
            outcome.over_slo = slo.alarm
            outcome.calibration_note = "; ".join(n for n in (note, stored_note) if n) or None
            outcome.breach, outcome.degraded, outcome.forecast_degraded = breach, newly, degraded
            return outcome, event
        raise ConflictError("target state", tid, f"still changing after {MAX_CONFLICT_RETRIES} attempts")

    @staticmethod
    def _desired_now(target: ScalingTarget, summary: ForecastSummary, stored: StoredTargetState) -> int:
        own = stored.last_desired if target.mode == "floor" and stored.last_desired is not None else None
        return target.clamp(own if own is not None else (summary.desired_capacity or 0))

    def _between(
        self,
        target: ScalingTarget,
        summary: ForecastSummary,
        now: datetime,
        aligned: datetime,
        first: StoredTargetState,
        *,
        round_id: str,
    ) -> tuple[DecisionOutcome, ScalingDecided | None]:
        """A round between decisions (the forecast was decided on): the SLO budget observes the round's datapoint,
        and target tracking (``reactive_tracking``) is fed it, recorded as a decision if it moves capacity."""
        tid = target.target_id
        tracking = self.policy.reactive_tracking
        kill = tracking and self.store.kill_switch(tid) is not None
        for attempt in range(MAX_CONFLICT_RETRIES):
            stored = first if attempt == 0 else self.store.get_target_state(tid)
            observed = observe_round(target, summary, aligned, stored)
            slo, slo_fed_at, breached = feed_slo(target, summary, stored, aligned=aligned)
            breach = breach_event(target, summary, slo, ids=self.ids, now=now) if breached else None
            if not tracking:
                flagged = stored.forecast_degraded
                if observed == budget_of(stored) and slo_fed_at == stored.slo_fed_at:
                    return replace(self._decided_already(tid), over_slo=slo.alarm, forecast_degraded=flagged), None
                try:
                    self.store.put_target_state(
                        replace(
                            with_slo(with_budget(stored, observed), slo, slo_fed_at),
                            updated_at=now,
                            **round_kept(stored, round_id, events=[breach] if breach else []),
                        )
                    )
                except ConflictError:
                    continue
                return replace(
                    self._decided_already(tid), breach=breach, over_slo=slo.alarm, forecast_degraded=flagged
                ), None
            desired_now = self._desired_now(target, summary, stored)
            tracked, alarms, fed_at = feed_tracking(
                target, summary, stored, policy=self.policy, aligned=aligned, desired=desired_now
            )
            reactive = stored.reactive_why is not None
            final = (
                desired_now
                if kill
                else with_tracking(self.policy, reactive=reactive, current=desired_now, tracked=tracked, decided=None)
            )
            moved = final != desired_now
            sequence = stored.sequence + 1 if moved else stored.sequence
            event: ScalingDecided | None = None
            row = None
            if moved:
                clause = tracking_clause(target, alarms, summary.recent_load, final)
                decision = between_decision(
                    target,
                    summary,
                    stored,
                    domain_state(stored),
                    aligned=aligned,
                    desired_now=desired_now,
                    final=final,
                    clause=clause,
                )
                event = self._event(target, decision, sequence, now)
                row = decision_row(event, decision, summary)
            audit = round_kept(stored, round_id, row=row, events=[breach] if breach else [])
            try:
                self.store.put_target_state(
                    replace(
                        with_slo(with_budget(stored, observed), slo, slo_fed_at),
                        sequence=sequence,
                        updated_at=now,
                        tracking_above=alarms.above,
                        tracking_below=alarms.below,
                        tracking_fed_at=fed_at,
                        **audit,
                    )
                )
            except ConflictError:
                continue
            if event is None or row is None:
                why = "kill switch engaged" if kill else "target tracking holds"
                return DecisionOutcome(
                    tid,
                    None,
                    "hold",
                    desired_now,
                    desired_now,
                    False,
                    f"between decisions: {why}",
                    breach=breach,
                    over_slo=slo.alarm,
                    forecast_degraded=stored.forecast_degraded,
                ), None
            outcome = self._record(target, decision, event, row)
            outcome.breach, outcome.over_slo = breach, slo.alarm
            outcome.forecast_degraded = stored.forecast_degraded
            return outcome, event
        raise ConflictError("target state", tid, f"still changing after {MAX_CONFLICT_RETRIES} attempts")

    @staticmethod
    def _decided_already(tid: str) -> DecisionOutcome:
        return DecisionOutcome(tid, None, "skipped", None, None, False, "this forecast was decided on already")

    def _event(self, target: ScalingTarget, decision: Decision, sequence: int, now: datetime) -> ScalingDecided:
        return decision.to_event(
            decision_id=self.ids.new_id("decision"),
            sequence=sequence,
            kind=target.kind,
            valid_until=now + decision_validity(target.decision_interval_seconds),
        )

    def _record(
        self, target: ScalingTarget, decision: Decision, event: ScalingDecided, row: dict[str, Any]
    ) -> DecisionOutcome:
        """Record a decision whose state is stored; its audit row goes to S3 with the batch."""
        self.store.record_decision(event)
        return DecisionOutcome(
            target.target_id,
            event.decision_id,
            decision.action,
            decision.previous_desired,
            decision.desired,
            decision.action != "hold",
            decision.reason,
            audit=[AuditRecord(target.target_id, event.decision_id, [row])],
        )
