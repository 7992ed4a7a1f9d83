"""forescale inside the replay: production cadence, injected clock, and no look-ahead."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from replay_helpers import daily_trace
from standin import SeasonalPersistence

from functions.domain.decision import DecisionPolicy
from functions.domain.replay import Scenario, run_replay
from functions.domain.trace import Trace

SCENARIO = Scenario(warmup_days=2, forecast_lead_days=0.5, decision_interval_seconds=600)


def test_forecasts_every_decision_interval_and_refits_daily(trace):
    # GIVEN 3 days at 5 minutes, scoring after 2 days, forescale on half a day earlier
    service = SeasonalPersistence(trace.step_seconds)
    result = run_replay(trace, SCENARIO, forecaster=service, decision_policy=DecisionPolicy(surprise_decisions=False))
    start = 2 * 288 - 144
    # THEN a forecast every 2 steps from the start, at the start of the step (the injected clock)
    expected = [trace.ds[t].to_pydatetime() for t in range(start, len(trace), 2)]
    assert service.forecast_calls == expected
    assert [t for t, _ in result.decisions] == list(range(start, len(trace), 2))
    # and a refit at switch-on and at each UTC midnight after it
    assert service.fit_calls == [expected[0], datetime(2024, 3, 6)]
    assert result.fits == 2
    # between decisions the capacity holds
    desired = result.runs["predictive"].desired
    assert all(desired[t + 1] == desired[t] for t in range(start, len(trace) - 1, 2))


def test_decisions_never_look_ahead():
    # GIVEN the same trace twice, the second one changed from step t on
    base = daily_trace(days=3.0)
    t = 2 * 288 + 37
    changed_y = base.y.copy()
    changed_y[t:] = changed_y[t:] * 3 + 500
    changed = Trace(ds=base.ds, y=changed_y, step_seconds=base.step_seconds, name=base.name)
    # WHEN both are replayed (the capacity default depends on the whole trace's p99: fix it)
    scenario = Scenario(warmup_days=2, forecast_lead_days=0.5, capacity_per_instance=8.0)
    policies = ("predictive", "reactive")
    first = run_replay(base, scenario, forecaster=SeasonalPersistence(300), policies=policies)
    second = run_replay(changed, scenario, forecaster=SeasonalPersistence(300), policies=policies)
    # THEN every decision up to and including step t is identical, and they differ afterwards
    for name in policies:
        assert np.array_equal(first.runs[name].desired[: t + 1], second.runs[name].desired[: t + 1]), name
        assert np.array_equal(first.runs[name].in_service[: t + 1], second.runs[name].in_service[: t + 1]), name
        assert not np.array_equal(first.runs[name].desired, second.runs[name].desired), name
    reasons = [d.reason for step, d in first.decisions if step <= t]
    assert reasons == [d.reason for step, d in second.decisions if step <= t]


def test_a_replay_writes_a_decision_reason_and_a_forecast_band(trace):
    result = run_replay(trace, SCENARIO, forecaster=SeasonalPersistence(trace.step_seconds))
    assert all(0 < len(d.reason) <= 500 for _, d in result.decisions)
    scored = slice(result.scored_from, len(trace))
    assert np.isfinite(result.band_p50[scored]).mean() > 0.9
    assert np.all(
        result.band_p99[scored][np.isfinite(result.band_p99[scored])]
        >= result.band_p50[scored][np.isfinite(result.band_p50[scored])]
    )
    assert set(result.runs) == {"predictive", "reactive", "oracle"}
    assert result.runs["oracle"].scores.cost_ratio == 1.0


def test_bad_scenarios_name_the_field(trace):
    with pytest.raises(ValueError, match="warmup_days"):
        run_replay(trace, Scenario(warmup_days=10), policies=("reactive",))
    with pytest.raises(ValueError, match="forecaster"):
        run_replay(trace, Scenario(warmup_days=1))
    with pytest.raises(ValueError, match="policies"):
        run_replay(trace, Scenario(warmup_days=1), policies=("psychic",))
    with pytest.raises(ValueError, match="min_instances"):
        Scenario(min_instances=5, max_instances=2)
    with pytest.raises(ValueError, match="decision_interval_seconds"):
        Scenario(decision_interval_seconds=450).resolve(trace)


def test_a_surprise_is_decided_on_at_the_next_step_not_the_next_interval():
    # GIVEN a daily trace with a jump to three times the load at step t, between two regular decisions
    base = daily_trace(days=3.0)
    t = 2 * 288 + 37  # decisions every 2 steps (600 s) from 2 * 288 - 144: step t is not a decision step
    y = base.y.copy()
    y[t:] = y[t:] * 3 + 500
    jump = Trace(ds=base.ds, y=y, step_seconds=base.step_seconds, name=base.name)
    scenario = Scenario(warmup_days=2, forecast_lead_days=0.5, capacity_per_instance=8.0, decision_interval_seconds=900)
    # WHEN it is replayed with and without surprise decisions
    plain = run_replay(
        jump,
        scenario,
        forecaster=SeasonalPersistence(300),
        policies=("predictive",),
        decision_policy=DecisionPolicy(surprise_decisions=False),
    )
    eager = run_replay(
        jump,
        scenario,
        forecaster=SeasonalPersistence(300),
        policies=("predictive",),
        decision_policy=DecisionPolicy(surprise_decisions=True),
    )
    steps = [step for step, _ in eager.decisions]
    regular = [step for step, _ in plain.decisions]
    # THEN the jump (seen at step t + 1) brings a decision at t + 1, which regular ones (every 3 steps) do not
    assert (t + 1) % 3 != regular[0] % 3 and t + 1 not in regular
    assert t + 1 in steps
    assert eager.runs["predictive"].desired[t + 1] > plain.runs["predictive"].desired[t + 1]
    # AND nothing before the jump changed
    assert np.array_equal(eager.runs["predictive"].desired[: t + 1], plain.runs["predictive"].desired[: t + 1])
