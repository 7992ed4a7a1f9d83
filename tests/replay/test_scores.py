"""Each score of docs/replay-spec.md on a case computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from functions.domain.replay.scores import score


def _case(warmup_steps: int = 0, oracle_hours: float | None = 5.5):
    # cap 10, slo 1.0, min 1: demand = ceil(load / 10)
    load = np.array([10.0, 25.0, 5.0, np.nan, 40.0])
    need = np.array([1, 3, 1, -1, 4])
    return score(
        load=load,
        demand=need,
        desired=np.array([1, 2, 2, 3, 4]),
        in_service=np.array([1, 2, 2, 3, 4]),
        alive=np.array([2, 2, 3, 3, 4]),
        capacity_per_instance=10.0,
        step_seconds=3600,
        warmup_steps=warmup_steps,
        oracle_instance_hours=oracle_hours,
    )


def test_every_score_matches_the_hand_computation():
    scores = _case()
    # scored steps 0, 1, 2, 4 (step 3 has unknown load)
    assert scores.scored_steps == 4
    assert scores.under_time_pct == pytest.approx(25.0)  # step 1: 2 < 3
    assert scores.under_pct == pytest.approx(100 * (1 / 3) / 4)
    assert scores.over_pct == pytest.approx(25.0)  # step 2: (2 - 1) / 1
    assert scores.dropped_pct == pytest.approx(100 * 5 / 80)  # step 1: 25 - 2 * 10
    assert scores.instance_hours == pytest.approx(11.0)  # alive 2 + 2 + 3 + 4, booting included
    assert scores.cost_ratio == pytest.approx(2.0)
    assert scores.actions == 3  # desired changes at steps 1, 3, 4


def test_warm_up_steps_are_not_scored():
    scores = _case(warmup_steps=2)
    assert scores.scored_steps == 2  # steps 2 and 4
    assert scores.under_time_pct == 0.0
    assert scores.instance_hours == pytest.approx(7.0)
    assert scores.actions == 2  # steps 3 and 4


def test_cost_ratio_is_unknown_without_an_oracle():
    assert math.isnan(_case(oracle_hours=None).cost_ratio)
