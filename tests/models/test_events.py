"""Business events: windows lift forecasts; uplifts are learnt per event type with explicit state."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from models.api import BusinessWindow
from models.events import EventEffectLearner
from models.service import ForecastEnsemble
from tests.models.conftest import FAST, NOW, STEP, make_panel


def _window(uid="s0", *, start=NOW + timedelta(hours=2), hours=3, event_type="sale", **effect) -> BusinessWindow:
    return BusinessWindow(uid, event_type, start, start + timedelta(hours=hours), **effect)


def test_multiplier_lifts_every_quantile_inside_the_window_only(fitted, panel):
    base = fitted.forecast(panel, now=NOW, horizon_steps=96, events=[])["s0"]
    lifted = fitted.forecast(panel, now=NOW, horizon_steps=96, events=[_window(multiplier=2.0)])["s0"]
    inside = (lifted.ds >= pd.Timestamp(NOW + timedelta(hours=2))) & (
        lifted.ds < pd.Timestamp(NOW + timedelta(hours=5))
    )
    np.testing.assert_allclose(lifted.p50[inside], 2 * base.p50[inside])
    np.testing.assert_allclose(lifted.p99[inside], 2 * base.p99[inside])
    np.testing.assert_array_equal(lifted.p50[~inside], base.p50[~inside])
    assert "sale" in lifted.model


def test_expected_load_raises_p50_to_at_least_that_load(fitted, panel):
    level = float(panel[panel.unique_id == "s0"]["y"].max()) * 3
    lifted = fitted.forecast(panel, now=NOW, horizon_steps=96, events=[_window(expected_load=level)])["s0"]
    inside = (lifted.ds >= pd.Timestamp(NOW + timedelta(hours=2))) & (
        lifted.ds < pd.Timestamp(NOW + timedelta(hours=5))
    )
    assert np.all(lifted.p50[inside] >= level - 1e-9)
    assert np.all(lifted.p90[inside] >= lifted.p50[inside]) and np.all(lifted.p99[inside] >= lifted.p90[inside])


def test_windows_of_other_targets_do_not_apply(fitted, panel):
    base = fitted.forecast(panel, now=NOW, horizon_steps=96, events=[])["s1"]
    other = fitted.forecast(panel, now=NOW, horizon_steps=96, events=[_window("s0", multiplier=3.0)])["s1"]
    np.testing.assert_array_equal(base.p50, other.p50)


def test_uplift_is_learnt_from_a_past_event_and_used_for_the_next_one():
    # GIVEN a history where a 'promo' doubled the load of s0 for 3 hours yesterday
    history = make_panel(2, 5.0)
    start = NOW - timedelta(hours=20)
    past = _window(start=start, hours=3, event_type="promo")
    mask = (history.unique_id == "s0") & (history.ds >= pd.Timestamp(start)) & (history.ds < pd.Timestamp(past.end))
    history.loc[mask, "y"] *= 2.0
    # WHEN the trainer fits with that window known
    service = ForecastEnsemble(STEP, FAST).fit(history, now=NOW, events=[past])
    # THEN the learnt uplift is about 2
    assert service.event_effects.uplift("promo") == pytest.approx(2.0, rel=0.1)
    # AND a coming promo without a number lifts the forecast by it
    coming = _window(start=NOW + timedelta(hours=1), hours=2, event_type="promo")
    base = service.forecast(history, now=NOW, horizon_steps=48, events=[])["s0"]
    lifted = service.forecast(history, now=NOW, horizon_steps=48, events=[coming])["s0"]
    inside = (lifted.ds >= pd.Timestamp(coming.start)) & (lifted.ds < pd.Timestamp(coming.end))
    ratio = lifted.p50[inside] / base.p50[inside]
    np.testing.assert_allclose(ratio, service.event_effects.uplift("promo"))
    # AND the past event did not teach the models a doubled level (its effect was divided out)
    plain = ForecastEnsemble(STEP, FAST).fit(history, now=NOW, events=[])
    assert np.mean(base.p50) <= np.mean(plain.forecast(history, now=NOW, horizon_steps=48, events=[])["s0"].p50) * 1.05


def test_learner_state_round_trips_through_json_and_counts_each_window_once():
    learner = EventEffectLearner()
    window = _window(event_type="launch")
    assert learner.observe(window, 1.5) is True
    assert learner.observe(window, 1.5) is False  # the trainer refits daily with the same past events
    learner.observe(_window(event_type="launch", start=NOW + timedelta(days=1)), 2.5)
    restored = EventEffectLearner(json.loads(json.dumps(learner.state)))
    assert restored.uplift("launch") == pytest.approx(0.5 * 1.5 + 0.5 * 2.5)
    assert restored.state["effects"]["launch"]["count"] == 2
    assert restored.uplift("unknown") is None


def test_learner_rejects_bad_observations_and_settings():
    learner = EventEffectLearner()
    assert learner.observe(_window(), float("nan")) is False
    assert learner.observe(_window(), -1.0) is False
    with pytest.raises(ValueError, match="smoothing"):
        EventEffectLearner(smoothing=0)
