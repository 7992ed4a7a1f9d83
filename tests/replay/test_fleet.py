"""The fleet model of docs/replay-spec.md against hand-computed cases and its defining property."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.domain.fleet import Fleet, demand, simulate


def test_launched_instances_serve_after_the_boot_steps():
    # GIVEN an empty fleet, boot of 2 steps, desired 3 from the start
    in_service, alive = simulate(np.array([3, 3, 3, 3]), boot_steps=2)
    # THEN they are paid from step 0 and serve from step 2
    assert in_service.tolist() == [0, 0, 3, 3]
    assert alive.tolist() == [3, 3, 3, 3]


def test_scale_in_is_immediate_and_removes_booting_instances_first():
    # GIVEN 2 in service, then 3 launched at step 1 (ready at 3), then desired 3 at step 2
    in_service, alive = simulate(np.array([2, 5, 3, 3, 3]), boot_steps=2, initial_in_service=2)
    # THEN the 2 removed are booting ones: the 2 old ones keep serving, 1 new one serves from step 3
    assert alive.tolist() == [2, 5, 3, 3, 3]
    assert in_service.tolist() == [2, 2, 2, 3, 3]


def test_scale_in_below_the_serving_count_removes_serving_instances_after_booting_ones():
    in_service, alive = simulate(np.array([4, 6, 1, 1]), boot_steps=3, initial_in_service=4)
    assert alive.tolist() == [4, 6, 1, 1]
    assert in_service.tolist() == [4, 4, 1, 1]


def test_zero_boot_serves_at_once():
    in_service, _ = simulate(np.array([1, 4, 2]), boot_steps=0)
    assert in_service.tolist() == [1, 4, 2]


def test_demand_uses_slo_utilisation_min_instances_and_marks_unknown_load():
    load = np.array([0.0, 9.0, 9.01, 27.0, np.nan])
    # cap 10 at 0.9 SLO: 9 load units per instance
    assert demand(load, capacity_per_instance=10, slo_utilization=0.9, min_instances=1).tolist() == [1, 1, 2, 3, -1]


def test_demand_on_an_exact_boundary_does_not_round_up_by_float_noise():
    p99 = 123.456
    cap = p99 / (30 * 0.9)
    assert demand(np.array([p99]), capacity_per_instance=cap, slo_utilization=0.9, min_instances=1)[0] == 30


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="boot_steps"):
        Fleet(boot_steps=-1)
    with pytest.raises(ValueError, match="desired"):
        Fleet(boot_steps=1).set_desired(0, -1)


@settings(max_examples=200, deadline=None)
@given(
    desired=st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=40),
    boot=st.integers(min_value=0, max_value=5),
)
def test_in_service_is_the_least_desired_over_the_last_boot_steps(desired, boot):
    # The model's defining identity: an instance serves at s iff it was launched by s - boot and, since
    # scale-in removes the newest first, survived every desired value in between.
    in_service, alive = simulate(np.array(desired), boot_steps=boot)
    padded = [0] * boot + desired
    expected = [min(padded[s : s + boot + 1]) for s in range(len(desired))]
    assert in_service.tolist() == expected
    assert alive.tolist() == desired
