"""``forescale backtest``: JSON with MASE and sMAPE per model and for the ensemble."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.backtest import mase_scale, parse_horizons, smape
from models.backtest_cli import main


def _write_trace(path, days=4, step=300, start="2024-01-01"):
    n = days * 86_400 // step
    ds = pd.date_range(start, periods=n, freq=f"{step}s")
    t = np.arange(n)
    y = 100 + 40 * np.sin(2 * np.pi * t / (86_400 // step)) + np.random.default_rng(0).normal(0, 3, n)
    pd.DataFrame({"timestamp": ds.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": y}).to_csv(path, index=False)


def test_backtest_prints_mase_and_smape_per_model(tmp_path, capsys):
    trace = tmp_path / "trace.csv"
    _write_trace(trace)
    code = main([str(trace), "--horizons", "1h,6h", "--last-days", "1", "--every-hours", "12"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["origins"] >= 1 and out["horizons"] == ["1h", "6h"]
    for horizon in ("1h", "6h"):
        mase = out["mase"][horizon]
        assert {"Ensemble", "SeasonalNaive", "MSTL", "LightGBM"} <= set(mase)
        assert all(np.isfinite(v) and v >= 0 for v in mase.values())
        # a clean sine: the ensemble beats seasonal naive's noise-doubling error
        assert mase["Ensemble"] < mase["SeasonalNaive"]
        assert set(out["smape"][horizon]) == set(mase)


def test_a_trace_off_the_whole_minute_is_scored_too(tmp_path, capsys):
    # GIVEN a trace stamped at :42:53, :47:53, ... (the NAB tweet traces): the engine's grid keeps the
    # phase to the whole minute, so its forecasts fall 7 s from the trace's timestamps
    trace = tmp_path / "trace.csv"
    _write_trace(trace, start="2024-01-01 00:02:53")
    assert main([str(trace), "--horizons", "1h", "--last-days", "1", "--every-hours", "12"]) == 0
    # THEN each forecast is scored against the trace step it stands for (before: every score was empty)
    out = json.loads(capsys.readouterr().out)
    assert out["origins"] >= 1
    assert {"Ensemble", "SeasonalNaive"} <= set(out["mase"]["1h"])
    assert out["mase"]["1h"]["Ensemble"] < out["mase"]["1h"]["SeasonalNaive"]


def test_backtest_rejects_bad_horizons_and_short_traces(tmp_path, capsys):
    trace = tmp_path / "trace.csv"
    _write_trace(trace, days=2)
    assert main([str(trace), "--horizons", "soon"]) == 2
    assert "horizons" in capsys.readouterr().err
    assert main([str(trace)]) == 2
    assert "needs at least" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.csv")]) == 2


def test_metric_definitions():
    assert parse_horizons("15min,1h,24h") == {"15min": 900, "1h": 3600, "24h": 86_400}
    with pytest.raises(ValueError, match="horizons"):
        parse_horizons(",")
    assert mase_scale(np.array([1.0, 2.0, 3.0, 5.0]), 2) == pytest.approx(2.5)
    assert smape(np.array([100.0, 0.0]), np.array([50.0, 0.0])) == pytest.approx(200 * 50 / 150)
