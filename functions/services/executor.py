"""The executor: carry out one ``ScalingDecided`` on its Auto Scaling group or ECS service, or refuse.

Skipped (recorded in the result, nothing changed): ``forecast_only`` decisions or targets; a target
the configuration no longer knows; an engaged kill switch. Refused as well, and kept in the S3 audit
trail with the reason (a ``refusal`` row; the result says ``refused``):

- ``unrecorded``: the decider did not record this decision (looked up in the audit table by target,
  ``decided_at`` and id, and compared field by field): a forged or corrupt event never acts;
- ``superseded``: a newer decision is recorded for the target (the decider numbers every decision,
  holds included, which it records but does not publish), or one as new was already executed: a
  scale-in delivered late never overrides the hold decided after it;
- ``expired``: the executor's clock is past the decision's ``valid_until`` (one decision interval and
  two minutes after it was made), although events may wait 600 s at the rule and in Lambda's queue,
  and a dead-letter redrive has no age limit.

A decision the decider records while this one is being carried out is the next one to run: the window
is the seconds a capacity change takes.

Modes:

- ``direct``: the service's desired capacity is set to the decision (the resource's minimum is lowered
  first when it is above the decision, the resource's maximum is never raised);
- ``floor``: the resource's minimum is raised or lowered to the decision (ASG ``MinSize``, the ECS
  scalable target's ``MinCapacity``), which moves desired up when it is below; whatever scaling policy
  the resource has keeps working above that floor.

A group or service without the consent tag ``forescale:enabled=true`` is never changed: the executor's IAM
permission is conditioned on the tag, and the executor checks it first when it describes the resource
(``ScalingFailed`` with code ``NoConsent``, nothing changed).

Every call is retried on its own while the error is transient (throttling, concurrent updates) with
exponential backoff and full jitter (injected sleep); then the change is verified by describing the
resource again (a change that did not take is a failure). When the attempts run out or the error is
permanent, the resource is restored to what it was before (bounds, then desired), ``ScalingFailed``
says whether that worked, and the outcome is recorded. On success, ``ScalingExecuted``. Capacity is
never set outside the target's configured bounds (and the adapters refuse it a second time).

Duplicate deliveries of one decision are absorbed before this service runs: the handler wraps
:meth:`ExecutorService.execute` in Powertools idempotency keyed by the whole decision (an altered copy
under a real ``decision_id`` gets its own refusal and does not take the real decision's place).

Two executors never act on one target at once: each takes the target's lease (a conditional write in
the state table, expiring after ``lease_seconds`` should its holder die) before it reads the target's
state, and gives it back when done. Without it, two decisions delivered side by side could both pass
the sequence check and finish in either order, leaving the older decision's capacity behind the newer
one's sequence. A lease still held after a few waits (backoff with jitter) raises
:class:`TargetBusyError`, so Lambda retries the invocation later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from events.contracts import ScalingDecided, ScalingExecuted, ScalingFailed
from functions.domain.clock import Clock
from functions.domain.target import ScalingTarget
from functions.ports.archive import Archive
from functions.ports.bus import EventPublisher
from functions.ports.capacity import CONSENT_TAG_KEY, CONSENT_TAG_VALUE, CapacityApi, CapacityError, CapacitySnapshot
from functions.ports.errors import ConflictError
from functions.ports.state import StateStore
from functions.services.common import SCALING_FAILURES, Backoff, MetricSink, NullSink, Retrier, field_values
from functions.services.targets import TargetCatalog

Status = Literal["executed", "failed", "skipped"]
#: Why a decision was refused (status ``skipped``), see the module docstring.
Refusal = Literal["unrecorded", "superseded", "expired"]
T = TypeVar("T")
MAX_CONFLICT_RETRIES = 5
#: Longer than the executor function's timeout (120 s): a lease outlives no invocation that died holding it.
LEASE_SECONDS = 150
#: Waits for a busy target: about 15 s at most in all, well inside the function's timeout.
LEASE_BACKOFF = Backoff(attempts=8, base_seconds=0.25, max_seconds=4.0)


class TargetBusyError(Exception):
    """Another executor holds the target's lease; the invocation fails so that Lambda retries it later."""


class ChangeNotVerifiedError(Exception):
    """The call succeeded but describing the resource shows the change did not take."""

    code = "NotVerified"
    retryable = True


#: How far past now the executor looks for a newer decision to name (the decider's clock may run ahead).
LOOKAHEAD = timedelta(hours=1)


def _part(decision_id: str) -> str:
    """``decision_id`` as a part of an audit object's name, one name per id: ``:`` (allowed in an id, not
    in a name) becomes ``=3A`` (``=`` is never in an id); a long result keeps its start and a digest."""
    part = decision_id.replace(":", "=3A")
    if len(part) <= 150:
        return part
    return f"{part[:100]}={hashlib.sha256(decision_id.encode()).hexdigest()[:32]}"


def _retryable(error: Exception) -> bool:
    return bool(getattr(error, "retryable", False))


@dataclass
class ExecutionOutcome:
    decision_id: str
    target_id: str
    status: Status
    reason: str
    previous: int | None = None
    new: int | None = None
    attempts: int = 0
    rolled_back: bool | None = None
    refused: Refusal | None = None

    def summary(self) -> dict[str, Any]:
        return field_values(self)


@dataclass
class ExecutorService:
    catalog: TargetCatalog
    store: StateStore
    archive: Archive
    publisher: EventPublisher
    capacity: CapacityApi
    clock: Clock
    retrier: Retrier = field(default_factory=Retrier)
    sink: MetricSink = field(default_factory=NullSink)
    lease_seconds: int = LEASE_SECONDS

    def execute(self, decision: ScalingDecided) -> dict[str, Any]:
        """Carry out ``decision``; returns the outcome as plain data (what idempotency stores)."""
        return self.run(decision).summary()

    def run(self, decision: ScalingDecided) -> ExecutionOutcome:
        tid = decision.target_id

        def skip(reason: str) -> ExecutionOutcome:
            return ExecutionOutcome(decision.decision_id, tid, "skipped", reason)

        if decision.mode == "forecast_only":
            return skip("forecast_only: the decision is recorded, never executed")
        target = self.catalog.find(tid)
        if target is None:
            return skip("not a configured or discovered target")
        if target.mode == "forecast_only":
            return skip("the target is forecast_only now")
        unrecorded = self._unrecorded(decision)
        if unrecorded is not None:
            return self._refuse(target, decision, "unrecorded", unrecorded)
        self._lease(tid, decision.decision_id)
        try:
            return self._run_leased(target, decision)
        finally:
            self.store.release_lease(tid, decision.decision_id)

    def _lease(self, target_id: str, owner: str) -> None:
        def take() -> None:
            if not self.store.acquire_lease(target_id, owner, now=self.clock.now(), seconds=self.lease_seconds):
                raise TargetBusyError(f"target {target_id}: another executor holds its lease")

        waits = Retrier(backoff=LEASE_BACKOFF, sleep=self.retrier.sleep, rng=self.retrier.rng)
        waits.run(take, errors=(TargetBusyError,))

    def _run_leased(self, target: ScalingTarget, decision: ScalingDecided) -> ExecutionOutcome:
        tid = target.target_id

        def skip(reason: str) -> ExecutionOutcome:
            return ExecutionOutcome(decision.decision_id, tid, "skipped", reason)

        switch = self.store.kill_switch(tid)
        if switch is not None:
            return skip(f"kill switch on ({switch.reason}, by {switch.changed_by})")
        state = self.store.get_target_state(tid)
        if decision.sequence < state.sequence:
            return self._refuse(target, decision, "superseded", self._newer(decision, state.sequence))
        if decision.sequence <= state.executed_sequence:
            why = f"sequence {decision.sequence} is not newer than {state.executed_sequence}, already carried out"
            return self._refuse(target, decision, "superseded", why)
        if self.clock.now() >= decision.valid_until:
            why = f"valid until {decision.valid_until:%H:%M:%S}, now {self.clock.now():%H:%M:%S} UTC"
            return self._refuse(target, decision, "expired", why)
        desired = target.clamp(max(decision.min_capacity, min(decision.max_capacity, decision.desired_capacity)))
        now = self.clock.now()
        try:
            before, _ = self.retrier.run(
                lambda: self.capacity.describe(target), errors=(CapacityError,), retryable=_retryable
            )
        except CapacityError as error:
            return self._failed(target, decision, now, error, None)
        if not before.consented:
            refused = CapacityError(
                "NoConsent",
                f"{target.resource_id} does not carry the tag {CONSENT_TAG_KEY}={CONSENT_TAG_VALUE}: forescale "
                "changes only groups and services tagged so",
                retryable=False,
            )
            return self._failed(target, decision, now, refused, before)
        goal = min(desired, before.max_capacity)
        if goal < target.min_capacity:
            refused = CapacityError(
                "OutOfBounds",
                f"the resource's maximum {before.max_capacity} is below the target's minimum {target.min_capacity}",
                retryable=False,
            )
            return self._failed(target, decision, now, refused, before)
        try:
            after, attempts = self._change(target, goal, before)
        except (CapacityError, ChangeNotVerifiedError) as error:
            return self._failed(target, decision, now, error, before)
        return self._succeeded(target, decision=decision, now=now, before=before, after=after, attempts=attempts)

    # ----------------------------------------------------------------- refusals

    def _unrecorded(self, decision: ScalingDecided) -> str | None:
        """Why ``decision`` is not the one the decider recorded under its key, or None when it is."""
        recorded = self.store.recorded_decision(decision.target_id, decision.decided_at, decision.decision_id)
        if recorded is None:
            at = f"{decision.decided_at:%Y-%m-%d %H:%M:%S} UTC"
            return f"no decision {decision.decision_id} of {decision.target_id} decided at {at}"
        if recorded == decision:
            return None
        theirs, ours = decision.model_dump(mode="json"), recorded.model_dump(mode="json")
        fields = [f"{name} {theirs[name]!r} (recorded {ours[name]!r})" for name in ours if theirs[name] != ours[name]]
        return "differs from the recorded decision in " + ", ".join(fields)

    def _newer(self, decision: ScalingDecided, latest: int) -> str:
        """The reason naming the newest recorded decision, when the audit table has it."""
        newer = [
            d
            for d in self.store.decisions(
                decision.target_id, decision.decided_at, max(self.clock.now(), decision.decided_at) + LOOKAHEAD
            )
            if d.sequence > decision.sequence
        ]
        if not newer:
            return f"sequence {decision.sequence}: the decider has since numbered decision {latest}"
        last = max(newer, key=lambda d: d.sequence)
        return (
            f"sequence {decision.sequence}: newer decision {last.decision_id} (sequence {last.sequence}, "
            f"{last.action} {last.desired_capacity}, decided {last.decided_at:%H:%M:%S} UTC)"
        )

    def _refuse(self, target: ScalingTarget, decision: ScalingDecided, refusal: Refusal, why: str) -> ExecutionOutcome:
        """Refuse ``decision`` and keep the refusal in the S3 audit trail (each delivery its own record)."""
        now = self.clock.now()
        reason = f"{refusal}: {why}"[:1000]
        if refusal == "unrecorded":
            reason = f"not recorded by the decider: {why}"[:1000]
        row = {**decision.model_dump(mode="json"), "record": "refusal", "refused": refusal, "reason": reason}
        # two deliveries refused at the same instant for different reasons are two records, the same one is one
        digest = hashlib.sha256(f"{refusal}\0{reason}".encode()).hexdigest()[:12]
        record_id = f"refusal-{_part(decision.decision_id)}-{now:%Y%m%dT%H%M%S%fZ}-{digest}"
        self.archive.write_audit(target.target_id, record_id, now, [row])
        return ExecutionOutcome(decision.decision_id, target.target_id, "skipped", reason, refused=refusal)

    # ----------------------------------------------------------------- changing capacity

    def _retried(self, call: Callable[[], T]) -> tuple[T, int]:
        return self.retrier.run(call, errors=(CapacityError,), retryable=_retryable)

    def _change(self, target: ScalingTarget, goal: int, before: CapacitySnapshot) -> tuple[CapacitySnapshot, int]:
        """Apply ``goal`` (each call retried on its own), then verify; ``(after, most attempts of a call)``."""
        attempts = 1

        def bounds(low: int) -> None:
            nonlocal attempts
            _, used = self._retried(
                lambda: self.capacity.set_bounds(target, min_capacity=low, max_capacity=before.max_capacity)
            )
            attempts = max(attempts, used)

        if target.mode == "floor":
            bounds(goal)
        else:
            if goal < before.min_capacity:
                bounds(goal)
            _, used = self._retried(lambda: self.capacity.set_desired(target, goal))
            attempts = max(attempts, used)
        after, _ = self._retried(lambda: self.capacity.describe(target))
        took = after.min_capacity == goal and after.desired >= goal if target.mode == "floor" else after.desired == goal
        if not took:
            error = ChangeNotVerifiedError(
                f"asked for {'minimum' if target.mode == 'floor' else 'desired'} {goal}; the resource reports "
                f"desired {after.desired}, bounds [{after.min_capacity}, {after.max_capacity}]"
            )
            error.attempts = attempts  # type: ignore[attr-defined]
            raise error
        return after, attempts

    def _restore(self, target: ScalingTarget, before: CapacitySnapshot) -> bool:
        """Put bounds and desired back as they were; True when describing confirms it."""
        try:
            now, _ = self._retried(lambda: self.capacity.describe(target))
            if (now.min_capacity, now.max_capacity) != (before.min_capacity, before.max_capacity):
                self._retried(
                    lambda: self.capacity.set_bounds(
                        target, min_capacity=before.min_capacity, max_capacity=before.max_capacity
                    )
                )
                now, _ = self._retried(lambda: self.capacity.describe(target))
            if now.desired != before.desired:
                self._retried(lambda: self.capacity.set_desired(target, before.desired))
                now, _ = self._retried(lambda: self.capacity.describe(target))
        except CapacityError:
            return False
        return (now.desired, now.min_capacity, now.max_capacity) == (
            before.desired,
            before.min_capacity,
            before.max_capacity,
        )

    # ----------------------------------------------------------------- outcomes

    def _save_state(self, target: ScalingTarget, decision: ScalingDecided, now: datetime, **changes: Any) -> None:
        for _ in range(MAX_CONFLICT_RETRIES):
            state = self.store.get_target_state(target.target_id)
            if state.executed_sequence >= decision.sequence:
                return
            try:
                self.store.put_target_state(
                    replace(
                        state,
                        executed_sequence=decision.sequence,
                        last_decision_id=decision.decision_id,
                        updated_at=now,
                        **changes,
                    )
                )
                return
            except ConflictError:
                continue
        raise ConflictError("target state", target.target_id, f"still changing after {MAX_CONFLICT_RETRIES} attempts")

    def _record(
        self, target: ScalingTarget, action: ScalingExecuted | ScalingFailed, at: datetime, goal: int | None
    ) -> None:
        self.store.record_action(action)
        row = {**action.model_dump(mode="json"), "record": "action", "mode": target.mode, "requested": goal}
        self.archive.write_audit(target.target_id, f"action-{_part(action.decision_id)}", at, [row])
        self.publisher.publish([action])

    def _succeeded(
        self,
        target: ScalingTarget,
        *,
        decision: ScalingDecided,
        now: datetime,
        before: CapacitySnapshot,
        after: CapacitySnapshot,
        attempts: int,
    ) -> ExecutionOutcome:
        goal = after.min_capacity if target.mode == "floor" else after.desired
        self._save_state(target, decision, now, last_desired=goal, last_safe_capacity=after.desired)
        event = ScalingExecuted(
            decision_id=decision.decision_id,
            target_id=target.target_id,
            executed_at=now,
            previous_capacity=before.desired,
            new_capacity=after.desired,
            attempts=attempts,
            verified=True,
        )
        self._record(target, event, now, goal)
        what = (
            f"minimum {before.min_capacity} → {goal}"
            if target.mode == "floor"
            else f"desired {before.desired} → {goal}"
        )
        return ExecutionOutcome(
            decision.decision_id,
            target.target_id,
            "executed",
            f"{target.mode}: {what}",
            before.desired,
            after.desired,
            attempts,
        )

    def _failed(
        self,
        target: ScalingTarget,
        decision: ScalingDecided,
        now: datetime,
        error: CapacityError | ChangeNotVerifiedError,
        before: CapacitySnapshot | None,
    ) -> ExecutionOutcome:
        attempts = int(getattr(error, "attempts", 1))
        rolled_back = self._restore(target, before) if before is not None else False
        restored = before.desired if before is not None and rolled_back else None
        changes: dict[str, Any] = {"last_safe_capacity": restored} if restored is not None else {}
        self._save_state(target, decision, now, **changes)
        event = ScalingFailed(
            decision_id=decision.decision_id,
            target_id=target.target_id,
            failed_at=now,
            error_code=str(getattr(error, "code", type(error).__name__))[:200],
            error_message=str(error)[:1000],
            attempts=attempts,
            rolled_back=rolled_back,
            restored_capacity=restored,
        )
        self._record(target, event, now, decision.desired_capacity)
        self.sink.emit(SCALING_FAILURES, 1, unit="Count")
        state = "restored to " + str(restored) if rolled_back else "NOT restored"
        return ExecutionOutcome(
            decision.decision_id,
            target.target_id,
            "failed",
            f"{event.error_code} after {attempts} attempt(s): {error}; {state}",
            None if before is None else before.desired,
            restored,
            attempts,
            rolled_back,
        )
