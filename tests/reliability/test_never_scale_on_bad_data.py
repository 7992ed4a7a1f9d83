"""Never scale on bad data, and the kill switch stops every action within one cadence — through the handlers.

An oversized group (desired 10 for a load that needs 4) is the hard case: with good data forescale
scales it in at once (the control target shows it), so any bad input that still lets a scale-in through
is caught. Each target gets one kind of bad data in the same ``ForecastReady`` batch, so one target's
bad data must also not stop the others' decisions.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from events.contracts import ForecastReady
from functions.adapters.dynamodb import target_pk
from functions.ports.records import KillSwitch
from tests.support.figures import scenario_checks
from tests.support.world import NOON, STEP, World, alarm_envelope, flat_forecast, report, summary

pytestmark = pytest.mark.integration
DAY = (NOON - timedelta(days=1), NOON + timedelta(days=1))


def execute_published(world: World, since: Any = NOON) -> list[Any]:
    """Deliver every published decision (scale-out / scale-in) to the executor, as the bus would."""
    executor = world.function("executor")
    for target_id in sorted(world.desired_by_id):
        for decided in world.store.decisions(target_id, *DAY):
            if decided.action != "hold" and decided.decided_at >= since:
                executor.invoke(world.envelope(decided), key=decided.decision_id)
    return executor.invocations


def test_stale_missing_corrupt_forecasts_and_missing_or_late_metrics_never_scale_in(world: World, figures):
    # GIVEN seven groups at 10 whose load (300) needs about 4
    targets = world.add_asg_targets(7, desired=10)
    world.desired_by_id = {t.target_id: t for t in targets}
    store = world.store
    good = {t.target_id: flat_forecast(t.target_id, 300.0) for t in targets}
    stale = {tid: flat_forecast(tid, 300.0, issued=NOON - timedelta(minutes=40)) for tid in ("t1", "t6")}
    for forecast in {**good, **stale}.values():  # t1 and t6: only the stale one
        assert store.put_forecast(forecast)
    # t2's forecast is missing (deleted), t3's is corrupt (a quantile blob cut short)
    dynamodb, table = world.aws.client("dynamodb"), world.aws.table_names().state
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": target_pk("t2")}, "sk": {"S": "FORECAST#LATEST"}})
    dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": target_pk("t3")}, "sk": {"S": "FORECAST#LATEST"}},
        UpdateExpression="SET p50 = :b",
        ExpressionAttributeValues={":b": {"B": b"\x00\x01\x02"}},
    )
    ready = ForecastReady(
        round_id="round-bad-data",
        forecasts=[
            summary(good["t0"], recent=300.0),  # control: good data
            summary(stale["t1"], recent=300.0, history_end=NOON - timedelta(seconds=STEP)),  # forecast 40 min old
            summary(good["t2"], recent=300.0),  # stored forecast missing
            summary(good["t3"], recent=300.0),  # stored forecast corrupt
            summary(good["t4"], recent=None, history_end=NOON - timedelta(hours=1)),  # metric missing
            summary(good["t5"], recent=300.0, history_end=NOON - timedelta(minutes=25)),  # metric late
            # stale forecast, load ten times higher: the reactive rule scales out
            summary(stale["t6"], recent=3000.0, history_end=NOON - timedelta(seconds=STEP)),
        ],
    )
    # WHEN the decider handles the batch and the executor every published decision
    decider = world.function("decider")
    decider.invoke(world.envelope(ready), key="ready")
    execute_published(world)

    # THEN the control scaled in, every bad-data target kept its 10, and t6 followed the reactive rule out
    decided = {t.target_id: store.decisions(t.target_id, *DAY) for t in targets}
    desired = {t.target_id: world.desired(t)[0] for t in targets}
    reasons = {tid: d[-1].reason if d else "" for tid, d in decided.items()}
    ledger = decider.ledger(lambda i: all(len(d) == 1 for d in decided.values()))
    bad = ("t1", "t2", "t3", "t4", "t5")
    checks = {
        "control scaled in": desired["t0"] < 10,
        "bad data held at 10": all(desired[t] == 10 for t in bad),
        "no scale-in decided on bad data": all(d.action != "scale_in" for t in bad for d in decided[t]),
        "stale forecast named": "forecast stale" in reasons["t1"],
        "missing forecast named": "missing" in reasons["t2"],
        "corrupt forecast named": "unreadable" in reasons["t3"],
        "missing metric named": "no new load" in reasons["t4"],
        "late metric named": "no new load" in reasons["t5"],
        "reactive scale-out on stale forecast": desired["t6"] > 10 and decided["t6"][-1].reactive,
        "one decision each, one invocation": len(decider.invocations[0].attempts) == 1,
    }
    scenario_checks(figures, "never scale on bad data (handlers on moto)", checks)
    report(figures, "decider", world, ledger, checks)


def test_the_kill_switch_stops_every_action_within_one_cadence(world: World, figures):
    # GIVEN four groups at 10: two whose load needs 4 (scale in), two whose load needs far more (scale out)
    targets = world.add_asg_targets(4, desired=10)
    world.desired_by_id = {t.target_id: t for t in targets}
    store = world.store
    loads = {"t0": 300.0, "t1": 300.0, "t2": 3000.0, "t3": 3000.0}
    forecasts = {tid: flat_forecast(tid, load) for tid, load in loads.items()}
    for forecast in forecasts.values():
        store.put_forecast(forecast)
    ready = ForecastReady(
        round_id="round-1", forecasts=[summary(forecasts[tid], recent=load) for tid, load in loads.items()]
    )
    # ... round 1 is decided: four scaling decisions are on their way to the executor
    world.function("decider").invoke(world.envelope(ready), key="round-1")
    in_flight = [d for t in targets for d in store.decisions(t.target_id, *DAY) if d.action != "hold"]
    # WHEN the operator engages the global kill switch before they are delivered
    store.set_kill_switch(KillSwitch(None, True, "incident 42", "oncall", NOON))
    executor = world.function("executor")
    for decided in in_flight:
        executor.invoke(world.envelope(decided), key=decided.decision_id)
    # ... the next round's decisions, and an SLO alarm, arrive within the same cadence
    world.clock.advance(timedelta(seconds=STEP))
    later = {tid: flat_forecast(tid, load, issued=NOON + timedelta(seconds=STEP)) for tid, load in loads.items()}
    for forecast in later.values():
        store.put_forecast(forecast)
    round_2 = ForecastReady(round_id="round-2", forecasts=[summary(later[t], recent=loads[t]) for t in loads])
    world.function("decider").invoke(world.envelope(round_2), key="round-2")
    for decided in store.decisions("t0", *DAY) + store.decisions("t2", *DAY):
        if decided.sequence == 2 and decided.action != "hold":
            executor.invoke(world.envelope(decided), key=decided.decision_id)
    responder = world.function("alarm_responder")
    responder.invoke(alarm_envelope("t3"), key="alarm-t3")

    # THEN nothing changed anywhere: in-flight decisions were refused, round 2 and the alarm held
    statuses = [i.result["status"] for i in executor.invocations]
    round_2_actions = [d.action for t in targets for d in store.decisions(t.target_id, *DAY) if d.sequence == 2]
    alarm = responder.invocations[0].result
    checks = {
        "four scaling decisions were in flight": len(in_flight) == 4,
        "every in-flight decision refused": statuses[:4] == ["skipped"] * 4,
        "refusals name the switch": all("kill switch" in i.result["reason"] for i in executor.invocations),
        "round 2 holds everywhere": round_2_actions == ["hold"] * 4,
        "alarm holds": alarm["status"] == "decided" and alarm["desired"] == alarm["previous"] == 10,
        "every group still at 10": all(world.desired(t)[0] == 10 for t in targets),
    }
    # ... and once the switch is released the next round acts again (the control)
    store.set_kill_switch(KillSwitch(None, False, "resolved", "oncall", NOON + timedelta(minutes=6)))
    world.clock.advance(timedelta(seconds=STEP))
    last = {tid: flat_forecast(tid, load, issued=NOON + timedelta(seconds=2 * STEP)) for tid, load in loads.items()}
    for forecast in last.values():
        store.put_forecast(forecast)
    world.function("decider").invoke(
        world.envelope(ForecastReady(round_id="round-3", forecasts=[summary(last[t], recent=loads[t]) for t in loads])),
        key="round-3",
    )
    execute_published(world, since=world.clock.now())
    checks["released: acts again"] = world.desired(targets[0])[0] < 10 and world.desired(targets[2])[0] > 10
    ledger = executor.ledger(lambda i: i.result is not None)
    scenario_checks(figures, "kill switch stops every action within one cadence (handlers on moto)", checks)
    report(figures, "executor", world, ledger, checks)
