"""Executor invariants by property tests over the in-memory twins (hypothesis).

- capacity always within the target's bounds, whatever the decision and the resource's own bounds;
- a decision is executed only when it is the newest the decider recorded for its target (holds
  included, which are never sent), newer than any executed, and not past its ``valid_until`` by the
  executor's clock; decisions arrive out of order, twice, late, with clocks that go backwards, and
  forged ones never recorded (any sequence) in between: those are refused and change nothing;
- two executors racing on one target, in any interleaving of their store and capacity calls, leave
  one consistent result: the newest decision's capacity, recorded as executed, the older one skipped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.contracts import MAX_SEQUENCE, ScalingDecided, ScalingExecuted
from forescale_tools.local_router import memory_world
from functions.domain.clock import FixedClock
from functions.domain.target import LoadMetric, ScalingTarget
from functions.services.common import Retrier
from functions.services.executor import ExecutorService
from tests.support.decisions import record
from tests.support.figures import property_run
from tests.support.interleave import Gated, Interleaver

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def target(mode: str = "direct", **overrides: Any) -> ScalingTarget:
    config: dict[str, Any] = {
        "target_id": "web",
        "kind": "asg",
        "asg_name": "web-asg",
        "metric": LoadMetric(namespace="T", name="Requests", period_seconds=300),
        "capacity_per_instance": 100.0,
        "min_capacity": 2,
        "max_capacity": 30,
        "mode": mode,
    }
    config.update(overrides)
    return ScalingTarget.model_validate(config)


def decision(
    t: ScalingTarget, *, sequence: int, desired: int, low: int = 0, high: int = 100, at: datetime = NOON
) -> ScalingDecided:
    low, high = min(low, desired), max(high, desired)
    return ScalingDecided(
        decision_id=f"decision-{sequence}",
        target_id=t.target_id,
        kind=t.kind,
        mode=t.mode,
        decided_at=at,
        valid_until=at + timedelta(minutes=7),
        sequence=sequence,
        previous_desired=0,
        desired_capacity=desired,
        min_capacity=low,
        max_capacity=high,
        action="scale_out",
        confidence=0.5,
        reason="property test",
    )


class EffectiveCalls:
    """Capacity calls that took effect (returned without error), as ``(call, value)``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.changes: list[tuple[str, int]] = []

    def describe(self, target: ScalingTarget) -> Any:
        return self.inner.describe(target)

    def set_desired(self, target: ScalingTarget, desired: int) -> None:
        self.inner.set_desired(target, desired)
        self.changes.append(("set_desired", desired))

    def set_bounds(self, target: ScalingTarget, *, min_capacity: int, max_capacity: int) -> None:
        self.inner.set_bounds(target, min_capacity=min_capacity, max_capacity=max_capacity)
        self.changes.append(("set_bounds", min_capacity))


def make_executor(world: Any, *, store: Any = None, capacity: Any = None) -> ExecutorService:
    return ExecutorService(
        catalog=world.components.catalog,
        store=store or world.store,
        archive=world.archive,
        publisher=world.components.publisher,
        capacity=capacity or world.capacity,
        clock=world.components.clock,
        retrier=Retrier(sleep=lambda _s: None),
    )


# --------------------------------------------------------------------------- bounds


@PROPERTY
@given(
    mode=st.sampled_from(["direct", "floor"]),
    low=st.integers(1, 10),
    span=st.integers(0, 30),
    resource_low=st.integers(0, 20),
    resource_span=st.integers(0, 60),
    start=st.integers(0, 80),
    desired=st.integers(0, 200),
)
def test_capacity_stays_within_the_targets_bounds(
    figures, mode, low, span, resource_low, resource_span, start, desired
):
    with property_run(figures, "executor: capacity within bounds"):
        # GIVEN a target with bounds [low, low+span], a group with its own bounds, and any decision
        t = target(mode, min_capacity=low, max_capacity=low + span)
        world = memory_world([t], clock=FixedClock(NOON))
        r_low, r_high = resource_low, resource_low + resource_span
        world.capacity.add_asg(
            "web-asg", desired=max(r_low, min(r_high, start)), min_capacity=r_low, max_capacity=r_high
        )
        group = world.capacity.resources["web-asg"]
        before = (group.desired, group.min_capacity, group.max_capacity)
        effective = EffectiveCalls(world.capacity)
        # WHEN the executor carries it out
        decided = decision(t, sequence=1, desired=desired)
        record(world.store, decided)
        outcome = make_executor(world, capacity=effective).run(decided)
        after = (group.desired, group.min_capacity, group.max_capacity)
        # THEN every change that took effect is within the target's bounds and the result too, or the
        # group is exactly as before; the group's maximum is never raised
        if outcome.status == "executed":
            assert all(low <= n <= low + span for _, n in effective.changes), (effective.changes, outcome)
            kept = after[1] if mode == "floor" else after[0]
            assert low <= kept <= low + span, (after, outcome)
        else:
            assert outcome.status == "failed" and outcome.rolled_back and after == before, (outcome, after)
        assert after[2] == r_high


# --------------------------------------------------------------------------- late decisions


#: A decision is valid this long after it was made (the targets' 300 s decision interval and 120 s).
VALIDITY = timedelta(minutes=7)


@st.composite
def decision_histories(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    """What the decider recorded, and the order things happened in: each decision recorded in sequence
    order; those that change something (not holds) delivered once or twice, any time after they were
    recorded, out of order, the executor's clock anywhere from 10 minutes before to 40 after noon (it goes
    backwards as often as not); the decider's clock goes backwards too; forged decisions in between."""
    n = draw(st.integers(2, 7))
    decisions = [
        {
            "sequence": k,
            "decided": draw(st.integers(-10, 30)),  # minutes after noon: not monotonic in the sequence
            "published": draw(st.booleans()),
            "desired": draw(st.integers(2, 30)),
        }
        for k in range(1, n + 1)
    ]
    ops: list[tuple[Any, ...]] = [("record", k) for k in range(1, n + 1)]
    for d in decisions:
        if not d["published"]:
            continue  # a hold: recorded, never sent
        for _ in range(draw(st.integers(1, 2))):
            after = ops.index(("record", d["sequence"])) + 1
            ops.insert(draw(st.integers(after, len(ops))), ("deliver", d["sequence"], draw(st.integers(-10, 40))))
    for forged in range(draw(st.integers(0, 2))):
        sequence = draw(st.sampled_from([n, n + 1, 2**40, MAX_SEQUENCE]))
        ops.insert(draw(st.integers(0, len(ops))), ("forge", forged, sequence, draw(st.integers(-10, 40))))
    return decisions, ops


@PROPERTY
@given(decision_histories())
def test_only_the_newest_recorded_decision_is_executed_and_only_while_valid(figures, history):
    with property_run(figures, "executor: only the newest valid recorded decision executed"):
        decisions, ops = history
        t = target()
        clock = FixedClock(NOON)
        world = memory_world([t], clock=clock)
        world.capacity.add_asg("web-asg", desired=2, min_capacity=2, max_capacity=30)
        executor = make_executor(world)
        made = {
            d["sequence"]: decision(
                t,
                sequence=d["sequence"],
                desired=d["desired"],
                at=NOON + timedelta(minutes=d["decided"]),
            )
            for d in decisions
        }
        latest = executed = 0
        for op in ops:
            if op[0] == "record":
                record(world.store, made[op[1]])
                latest = op[1]
                continue
            before = world.capacity.resources["web-asg"].desired
            clock.current = NOON + timedelta(minutes=op[-1])
            if op[0] == "forge":
                # GIVEN an event the decider never recorded, whatever its sequence
                forged = decision(t, sequence=op[2], desired=30).model_copy(update={"decision_id": f"forged-{op[1]}"})
                outcome = executor.run(forged)
                # THEN it is refused and changes nothing
                assert (outcome.status, outcome.refused) == ("skipped", "unrecorded"), outcome
                assert world.capacity.resources["web-asg"].desired == before
                continue
            # WHEN a recorded decision is delivered
            sent = made[op[1]]
            outcome = executor.run(sent)
            after = world.capacity.resources["web-asg"].desired
            # THEN it is executed exactly when it is the newest recorded, newer than any executed, and
            # still valid by the executor's clock; otherwise refused with the reason, the group unchanged
            if sent.sequence < latest or sent.sequence <= executed:
                assert (outcome.status, outcome.refused) == ("skipped", "superseded"), (op, latest, outcome)
                assert after == before
            elif clock.now() >= sent.valid_until:
                assert (outcome.status, outcome.refused) == ("skipped", "expired"), (op, outcome)
                assert after == before
            else:
                assert outcome.status == "executed" and after == sent.desired_capacity, (op, outcome)
                executed = sent.sequence
        assert world.store.get_target_state("web").executed_sequence == executed


# --------------------------------------------------------------------------- racing executors


@PROPERTY
@given(st.data(), st.integers(2, 30), st.integers(2, 30), st.sampled_from(["direct", "floor"]))
def test_two_executors_racing_on_one_target_leave_one_consistent_result(figures, data, old, new, mode):
    with property_run(figures, "executor: racing executors consistent"):
        # GIVEN two executors (two Lambda instances) with decisions 1 and 2 for one group at 2
        t = target(mode)
        world = memory_world([t], clock=FixedClock(NOON))
        world.capacity.add_asg("web-asg", desired=2, min_capacity=2, max_capacity=30)
        interleaver = Interleaver(lambda n: data.draw(st.integers(0, n - 1)) if n > 1 else 0)
        store_calls = {"get_target_state", "put_target_state", "acquire_lease", "release_lease"}
        capacity_calls = {"describe", "set_desired", "set_bounds"}

        def executor() -> ExecutorService:
            return make_executor(
                world,
                store=Gated(world.store, interleaver, store_calls),
                capacity=Gated(world.capacity, interleaver, capacity_calls),
            )

        record(world.store, decision(t, sequence=1, desired=old), decision(t, sequence=2, desired=new))
        first, second = executor(), executor()
        # WHEN they run side by side in an interleaving hypothesis chooses (a refused one is retried by Lambda)
        results = interleaver.run(
            {
                "old": lambda: first.run(decision(t, sequence=1, desired=old)),
                "new": lambda: second.run(decision(t, sequence=2, desired=new)),
            }
        )
        for name, sequence, desired in (("old", 1, old), ("new", 2, new)):
            if isinstance(results[name], Exception):
                results[name] = executor().run(decision(t, sequence=sequence, desired=desired))
        # THEN the newest decision is what the group runs and what the state says was executed
        assert results["new"].status == "executed", (results, interleaver.trace)
        assert results["old"].status in {"executed", "skipped"}, (results, interleaver.trace)
        group = world.capacity.resources["web-asg"]
        assert (group.min_capacity if mode == "floor" else group.desired) == new, (results, interleaver.trace)
        state = world.store.get_target_state("web")
        assert state.executed_sequence == 2 and state.last_decision_id == "decision-2"
        executed = [a for a in world.store.actions("web", NOON - timedelta(days=1), NOON + timedelta(days=1))]
        assert all(isinstance(a, ScalingExecuted) for a in executed)
        assert [a.decision_id for a in executed][-1] == "decision-2"
