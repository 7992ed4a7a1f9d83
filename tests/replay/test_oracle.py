"""The oracle is the physical limit: never under, and no policy that is never under costs less."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.domain.fleet import simulate
from functions.domain.replay import Scenario, run_replay
from functions.domain.replay.policies import OraclePolicy


def _oracle_desired(need: np.ndarray, boot: int) -> np.ndarray:
    oracle = OraclePolicy(need, boot, 0, 1000)
    out, previous = [], 0
    for step in range(len(need)):
        previous = oracle.desired_at(step, previous=previous)
        out.append(previous)
    return np.array(out)


def test_oracle_desires_the_peak_demand_of_the_coming_boot_window():
    need = np.array([1, 1, 5, 2, 2, 2, 7])
    assert _oracle_desired(need, 2).tolist() == [5, 5, 5, 2, 7, 7, 7]


def test_oracle_skips_unknown_steps_and_holds_when_it_knows_nothing():
    need = np.array([3, -1, -1, -1, 2])
    assert _oracle_desired(need, 1).tolist() == [3, 3, 3, 2, 2]


@settings(max_examples=100, deadline=None)
@given(
    need=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=60),
    boot=st.integers(min_value=0, max_value=4),
)
def test_oracle_is_never_under_once_its_first_launches_serve(need, boot):
    desired = _oracle_desired(np.array(need), boot)
    in_service, _ = simulate(desired, boot_steps=boot, initial_in_service=int(desired[0]))
    assert all(in_service[s] >= need[s] for s in range(len(need)))


def test_no_cheaper_sequence_avoids_under_provisioning_brute_force():
    # GIVEN every desired sequence of 5 steps over 0..3 instances, boot of 1 step
    need = np.array([1, 3, 0, 2, 1])
    boot = 1
    oracle = _oracle_desired(need, boot)
    oracle_cost = oracle.sum()
    cheapest = None
    for candidate in itertools.product(range(4), repeat=len(need)):
        desired = np.array(candidate)
        in_service, alive = simulate(desired, boot_steps=boot, initial_in_service=int(desired[0]))
        if np.all(in_service >= need):
            cost = alive.sum()
            cheapest = cost if cheapest is None else min(cheapest, cost)
            # THEN every feasible sequence lies at or above the oracle at every step
            assert np.all(desired >= oracle)
    assert cheapest == oracle_cost


def test_oracle_scores_zero_under_provisioning_on_a_trace(trace):
    result = run_replay(trace, Scenario(warmup_days=1), policies=("oracle", "reactive"))
    oracle = result.runs["oracle"].scores
    assert oracle.under_time_pct == 0.0 and oracle.dropped_pct == 0.0
    assert oracle.cost_ratio == 1.0
    assert result.runs["reactive"].scores.instance_hours > oracle.instance_hours
