"""ForecastEnsemble: shapes, names, quantile order, fallbacks, no look-ahead, artifacts."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.api import LEVELS, ForecastPath, NoForecast
from models.prep import HistoryError
from models.service import ForecastEnsemble
from tests.models.conftest import FAST, NOW, STEP, make_panel

REPO = Path(__file__).resolve().parents[2]


def _assert_valid(path: ForecastPath, horizon: int) -> None:
    assert len(path.ds) == horizon
    for q in (path.p50, path.p90, path.p99):
        assert np.all(np.isfinite(q)) and np.all(q >= 0)
    assert np.all(path.p50 <= path.p90) and np.all(path.p90 <= path.p99)
    assert 0 <= path.confidence <= 1


def test_forecast_gives_one_path_per_target_starting_at_now(fitted, panel):
    # WHEN the fitted service forecasts 24 h
    out = fitted.forecast(panel, now=NOW, horizon_steps=288, events=[])
    # THEN every target has a valid ensemble path on the grid from now on
    assert sorted(out) == ["s0", "s1", "s2", "s3"]
    for path in out.values():
        assert isinstance(path, ForecastPath)
        _assert_valid(path, 288)
        assert path.ds[0] == pd.Timestamp(NOW)
        assert (path.ds[1] - path.ds[0]) == pd.Timedelta(seconds=STEP)
        assert path.model == "Ensemble"
        assert path.issued_at == NOW


def test_forecast_tracks_the_daily_cycle(fitted, panel):
    # GIVEN series with a strong daily cycle and 5 % noise
    out = fitted.forecast(panel, now=NOW, horizon_steps=288, events=[])
    truth = make_panel(4, 6.0, now=NOW + timedelta(days=1))
    for uid, path in out.items():
        actual = truth[truth.unique_id == uid].set_index("ds")["y"].reindex(path.ds).to_numpy()
        # THEN the 24 h error is well under the cycle's amplitude (half the level)
        wape = np.nanmean(np.abs(actual - path.p50)) / np.nanmean(actual)
        assert wape < 0.15, (uid, wape)


def test_predict_frame_has_nixtla_columns_and_ordered_intervals(fitted, panel):
    frame = fitted.predict(panel, now=NOW, h=24, level=[80, 98])
    assert list(frame.columns[:2]) == ["unique_id", "ds"]
    assert len(frame) == 4 * 24
    models = [c for c in frame.columns if c not in ("unique_id", "ds") and "-lo-" not in c and "-hi-" not in c]
    assert "Ensemble" in models and "SeasonalNaive" in models and "LightGBM" in models and "MSTL" in models
    for model in models:
        for level in LEVELS:
            lo, hi = frame[f"{model}-lo-{level}"], frame[f"{model}-hi-{level}"]
            assert (lo <= frame[model] + 1e-9).all() and (frame[model] <= hi + 1e-9).all()
        assert (frame[f"{model}-hi-80"] <= frame[f"{model}-hi-98"] + 1e-9).all()
        assert frame[model].notna().all() and (frame[model] >= 0).all()


def test_scores_and_anomalies_are_reported(fitted):
    assert set(fitted.scores_) == {"s0", "s1", "s2", "s3"}
    assert "1h" in fitted.scores_["s0"]["Ensemble"]
    assert isinstance(fitted.anomalies_, dict)


def test_under_one_day_is_no_forecast_and_under_two_days_seasonal_naive():
    # GIVEN one target with 0.5 day and one with 1.5 days of history
    short = make_panel(1, 0.5)
    medium = make_panel(1, 1.5).assign(unique_id="m")
    history = pd.concat([short, medium])
    service = ForecastEnsemble(STEP, FAST).fit(history, now=NOW, events=[])
    out = service.forecast(history, now=NOW, horizon_steps=24, events=[])
    # THEN the first has no forecast (with a reason), the second a SeasonalNaive-like path
    assert isinstance(out["s0"], NoForecast) and "day" in out["s0"].reason
    assert isinstance(out["m"], ForecastPath) and out["m"].model == "SeasonalNaive"
    _assert_valid(out["m"], 24)


def test_forecast_works_without_fit(panel):
    out = ForecastEnsemble(STEP).forecast(panel, now=NOW, horizon_steps=12, events=[])
    assert all(isinstance(p, ForecastPath) and p.model == "SeasonalNaive" for p in out.values())
    for path in out.values():
        _assert_valid(path, 12)


def test_tz_aware_now_is_accepted(fitted, panel):
    out = fitted.forecast(panel, now=NOW.replace(tzinfo=UTC), horizon_steps=12, events=[])
    assert out["s0"].ds[0] == pd.Timestamp(NOW)


def test_no_look_ahead_rows_at_or_after_now_change_nothing(panel):
    # GIVEN the same history, once with wild values appended at and after now
    future = make_panel(4, 1.0, now=NOW + timedelta(days=1)).assign(y=1e9)
    polluted = pd.concat([panel, future])
    clean_service = ForecastEnsemble(STEP, FAST).fit(panel, now=NOW, events=[])
    polluted_service = ForecastEnsemble(STEP, FAST).fit(polluted, now=NOW, events=[])
    # WHEN both forecast
    a = clean_service.forecast(panel, now=NOW, horizon_steps=48, events=[])
    b = polluted_service.forecast(polluted, now=NOW, horizon_steps=48, events=[])
    # THEN the forecasts are identical
    for uid in a:
        np.testing.assert_array_equal(a[uid].p50, b[uid].p50)
        np.testing.assert_array_equal(a[uid].p99, b[uid].p99)


def test_a_series_forecasts_the_same_whatever_its_name(panel):
    # GIVEN one series, once under its own name and once renamed (the same trace replayed as another target)
    one = panel[panel.unique_id == "s1"]
    renamed = one.assign(unique_id="checkout-api-eu-west-1")
    # WHEN each is fitted and forecast alone
    a = ForecastEnsemble(STEP, FAST).fit(one, now=NOW, events=[]).forecast(one, now=NOW, horizon_steps=48, events=[])
    b = ForecastEnsemble(STEP, FAST).fit(renamed, now=NOW, events=[])
    b_paths = b.forecast(renamed, now=NOW, horizon_steps=48, events=[])
    # THEN the forecasts are identical, LightGBM included (its training rows do not depend on the name)
    assert b.scores_["checkout-api-eu-west-1"]["LightGBM"]
    np.testing.assert_array_equal(a["s1"].p50, b_paths["checkout-api-eu-west-1"].p50)
    np.testing.assert_array_equal(a["s1"].p99, b_paths["checkout-api-eu-west-1"].p99)


def test_save_and_load_in_a_fresh_process_gives_identical_forecasts(fitted, panel, tmp_path):
    # GIVEN a saved service and the history it forecasts from
    fitted.save(tmp_path / "model")
    panel.to_parquet(tmp_path / "history.parquet")
    expected = fitted.forecast(panel, now=NOW, horizon_steps=288, events=[])
    meta = json.loads((tmp_path / "model" / "metadata.json").read_text())
    assert meta["libraries"]["lightgbm"] and meta["training_window"]["end"] and "s0" in meta["scores"]
    # WHEN another Python process loads it and forecasts
    script = (
        "import sys, json, pandas as pd; from datetime import datetime;"
        "from models.service import ForecastEnsemble;"
        f"s = ForecastEnsemble.load(sys.argv[1]); h = pd.read_parquet(sys.argv[2]);"
        f"out = s.forecast(h, now=datetime.fromisoformat('{NOW.isoformat()}'), horizon_steps=288, events=[]);"
        "paths = {k: [v.p50.tolist(), v.p90.tolist(), v.p99.tolist(), v.confidence] for k, v in out.items()};"
        "print(json.dumps({'paths': paths, 'holidays_imported': 'holidays' in sys.modules}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "model"), str(tmp_path / "history.parquet")],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PATH": "", "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(REPO)},
        check=True,
        timeout=120,
    )
    answer = json.loads(done.stdout)
    loaded = answer["paths"]
    # THEN every number is identical, and the holiday calendar came with the artifact (the ``holidays``
    # package, ~0.4 s of a cold start, was not imported although LightGBM's baseline skips holidays)
    assert answer["holidays_imported"] is False
    for uid, path in expected.items():
        assert loaded[uid][0] == path.p50.tolist()
        assert loaded[uid][1] == path.p90.tolist()
        assert loaded[uid][2] == path.p99.tolist()
        assert loaded[uid][3] == path.confidence


def test_save_before_fit_is_refused(tmp_path):
    with pytest.raises(ValueError, match="fit before save"):
        ForecastEnsemble(STEP).save(tmp_path)


@pytest.mark.parametrize("step", [0, -5, 7 * 60 + 1])
def test_bad_step_is_rejected(step):
    with pytest.raises(ValueError, match="step_seconds"):
        ForecastEnsemble(step)


def test_bad_horizon_is_rejected(panel):
    with pytest.raises(ValueError, match="horizon_steps"):
        ForecastEnsemble(STEP).forecast(panel, now=NOW, horizon_steps=0, events=[])


def test_missing_column_is_named():
    with pytest.raises(HistoryError, match=r"^y: missing column"):
        ForecastEnsemble(STEP).forecast(pd.DataFrame({"unique_id": [], "ds": []}), now=NOW, horizon_steps=1, events=[])


def test_non_numeric_load_is_named(panel):
    bad = panel.head(400).astype({"y": object})
    bad.loc[bad.index[3], "y"] = "lots"
    with pytest.raises(HistoryError, match=r"^y: 1 values are not numbers"):
        ForecastEnsemble(STEP).forecast(bad, now=NOW, horizon_steps=1, events=[])


def test_duplicates_unsorted_and_irregular_rows_give_the_same_forecast(panel):
    # GIVEN the panel shuffled, with duplicated rows and timestamps jittered by a few seconds
    messy = pd.concat([panel, panel.sample(200, random_state=1)]).sample(frac=1.0, random_state=2)
    messy = messy.assign(
        ds=messy["ds"] + pd.to_timedelta(np.random.default_rng(3).integers(-20, 20, len(messy)), unit="s")
    )
    service = ForecastEnsemble(STEP)
    a = service.forecast(panel, now=NOW, horizon_steps=24, events=[])
    b = service.forecast(messy, now=NOW, horizon_steps=24, events=[])
    # THEN the repaired history forecasts exactly like the clean one
    for uid in a:
        np.testing.assert_allclose(a[uid].p50, b[uid].p50)


def test_negative_and_nan_values_are_gaps_and_reported(panel):
    bad = panel.copy()
    bad.loc[bad.index[10:20], "y"] = -5.0
    bad.loc[bad.index[30:40], "y"] = np.nan
    service = ForecastEnsemble(STEP, FAST).fit(bad, now=NOW, events=[])
    assert service.report_.invalid_values == {"s0": 10}
    out = service.forecast(bad, now=NOW, horizon_steps=24, events=[])
    _assert_valid(out["s0"], 24)


def test_constant_and_zero_series_forecast_their_value(panel):
    ds = panel[panel.unique_id == "s0"]["ds"]
    history = pd.concat(
        [pd.DataFrame({"unique_id": "c", "ds": ds, "y": 7.0}), pd.DataFrame({"unique_id": "z", "ds": ds, "y": 0.0})]
    )
    service = ForecastEnsemble(STEP, FAST).fit(history, now=NOW, events=[])
    out = service.forecast(history, now=NOW, horizon_steps=48, events=[])
    np.testing.assert_allclose(out["c"].p50, 7.0, rtol=1e-6)
    np.testing.assert_allclose(out["z"].p99, 0.0, atol=1e-9)


def test_stale_history_is_no_forecast(panel):
    out = ForecastEnsemble(STEP).forecast(panel, now=NOW + timedelta(days=2), horizon_steps=12, events=[])
    assert all(isinstance(p, NoForecast) and "old" in p.reason for p in out.values())


def test_gap_before_now_is_bridged(panel):
    # GIVEN the last 30 minutes missing
    cut = panel[panel.ds < pd.Timestamp(NOW) - pd.Timedelta(minutes=30)]
    out = ForecastEnsemble(STEP).forecast(cut, now=NOW, horizon_steps=12, events=[])
    assert out["s0"].ds[0] == pd.Timestamp(NOW)
    _assert_valid(out["s0"], 12)


def test_anomalous_spike_is_flagged_and_kept_out(panel):
    spiked = panel.copy()
    idx = spiked.index[(spiked.unique_id == "s1")][800]
    spiked.loc[idx, "y"] = spiked.loc[idx, "y"] * 50
    service = ForecastEnsemble(STEP, FAST).fit(spiked, now=NOW, events=[])
    flagged = service.anomalies_.get("s1", [])
    assert any(ts == spiked.loc[idx, "ds"] for ts, _value, _score in flagged)


def test_one_minute_data_gives_a_15_minute_forecast():
    # GIVEN 3 days of 1-minute load for two targets
    history = make_panel(2, 3.0, step=60)
    service = ForecastEnsemble(60, FAST).fit(history, now=NOW, events=[])
    # WHEN the short horizon (15 steps) is forecast
    out = service.forecast(history, now=NOW, horizon_steps=15, events=[])
    # THEN both get an ensemble path at 1-minute steps from now
    for path in out.values():
        _assert_valid(path, 15)
        assert path.model == "Ensemble"
        assert path.ds[1] - path.ds[0] == pd.Timedelta(minutes=1)
        assert path.ds[0] == pd.Timestamp(NOW)
