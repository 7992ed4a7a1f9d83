"""Learning capacity_per_instance from load against utilisation (functions/domain/capacity_model.py)."""

from __future__ import annotations

import numpy as np
import pytest
from decision_helpers import make_target

from functions.domain.capacity_model import (
    MAX_NEED,
    CapacityEstimate,
    instances_for,
    instances_for_array,
    learn_capacity_per_instance,
    resolve_capacity,
)


def _history(n: int = 2000, *, cap: float = 250.0, outliers: float = 0.0, seed: int = 3):
    rng = np.random.default_rng(seed)
    instances = rng.integers(2, 12, n).astype(float)
    utilisation = rng.uniform(0.15, 0.85, n)
    load = cap * utilisation * instances * rng.normal(1.0, 0.03, n)
    bad = rng.random(n) < outliers
    # incidents: CPU pinned with little traffic
    utilisation[bad] = 0.99
    load[bad] *= 0.2
    return load, utilisation, instances


def test_learns_the_slope_through_the_origin():
    load, utilisation, instances = _history()
    estimate = learn_capacity_per_instance(load, utilisation, instances)
    assert estimate.capacity_per_instance == pytest.approx(250, rel=0.01)
    assert estimate.r2 > 0.95 and estimate.samples == 2000


def test_incidents_do_not_drag_the_slope():
    load, utilisation, instances = _history(outliers=0.08)
    estimate = learn_capacity_per_instance(load, utilisation, instances)
    assert estimate.capacity_per_instance == pytest.approx(250, rel=0.03)
    assert estimate.outliers > 0
    # an ordinary least-squares fit through the origin would be dragged well below
    x = utilisation * instances
    ols = float((x * load).sum() / (x * x).sum())
    assert ols < 235


def test_utilisation_in_percent_and_units_of_any_size():
    load, utilisation, instances = _history(cap=3.2e9)
    estimate = learn_capacity_per_instance(load, utilisation * 100, instances, utilization_unit="percent")
    assert estimate.capacity_per_instance == pytest.approx(3.2e9, rel=0.01)


def test_gaps_are_skipped_and_too_little_history_is_refused():
    load, utilisation, instances = _history(n=40)
    load[:15] = np.nan
    with pytest.raises(ValueError, match="25 usable points"):
        learn_capacity_per_instance(load, utilisation, instances)
    with pytest.raises(ValueError, match="utilization_unit"):
        learn_capacity_per_instance(load, utilisation, instances, utilization_unit="ratio")
    with pytest.raises(ValueError, match="differ"):
        learn_capacity_per_instance(load[:10], utilisation, instances)


def test_a_learn_target_is_resolved_with_the_estimate():
    target = make_target(capacity_per_instance="learn")
    with pytest.raises(ValueError, match="nothing is learned yet"):
        resolve_capacity(target)
    resolved = resolve_capacity(target, CapacityEstimate(capacity_per_instance=321.0, samples=100, r2=0.9, outliers=0))
    assert resolved.capacity_per_instance == 321.0
    configured = make_target(capacity_per_instance=100.0)
    assert resolve_capacity(configured) is configured


def test_instances_for_rounds_up_but_not_on_float_noise():
    assert instances_for(0, 10) == 0
    assert instances_for(10.0000000001, 10) == 1
    assert instances_for(10.01, 10) == 2
    assert instances_for(float("nan"), 10) == 0


def test_needs_saturate_instead_of_overflowing():
    # GIVEN needs beyond int64 (1e30 / 100), beyond a float (1e305 / 1e-6) and infinite
    loads = np.array([1e30, 1e305, np.inf, 3e18, 250.0, np.nan, -5.0])
    # THEN each saturates at MAX_NEED (never a wrapped-around or negative count); unknown stays -1
    assert instances_for_array(loads, 100.0).tolist() == [MAX_NEED, MAX_NEED, MAX_NEED, MAX_NEED, 3, -1, 0]
    assert instances_for(1e305, 1e-6) == instances_for(float("inf"), 1.0) == MAX_NEED
    assert instances_for_array(np.array([1e15]), 1e-6)[0] == MAX_NEED
    with pytest.raises(ValueError, match="load_per_instance"):
        instances_for(10.0, 0.0)


def test_a_learned_capacity_outside_the_configurable_bounds_is_refused():
    # GIVEN a load in a unit so large that one instance serves a billionth of it
    load, utilisation, instances = _history(cap=1e-9)
    # THEN nothing is learned: the same value would be refused in a configuration
    with pytest.raises(ValueError, match=r"capacity_per_instance: learned .*e-(09|10), .*at least 1e-06"):
        learn_capacity_per_instance(load, utilisation, instances)
