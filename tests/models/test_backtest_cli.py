"""``forescale backtest``: JSON with MASE and sMAPE per model and for the ensemble."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forescale_tools.backtest_cli import main
from models.backtest import mase_scale, parse_horizons, smape


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


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--every-hours", "0"], "--every-hours"),  # before: looped forever, growing to 14 GiB
        (["--every-hours", "-6"], "--every-hours"),
        (["--every-hours", "nan"], "--every-hours"),
        (["--last-days", "-1"], "--last-days"),  # before: exit 0 with zero origins
        (["--last-days", "0"], "--last-days"),
        (["--last-days", "inf"], "--last-days"),
    ],
)
def test_an_option_that_gives_no_forecast_origin_is_refused_naming_it(tmp_path, capsys, flags, named):
    # GIVEN a good trace
    trace = tmp_path / "trace.csv"
    _write_trace(trace)
    # WHEN the origins' spacing or span is zero, negative or not a number
    code = main([str(trace), "--horizons", "1h", "--last-days", "1", *flags])  # the last --last-days wins
    # THEN one line names the option and the reason, exit 2, before any model is fitted
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {named}: "), err


def test_a_trace_with_no_known_value_is_refused(tmp_path, capsys):
    # GIVEN a trace whose every value is a gap (before: exit 0 with zero origins)
    trace = tmp_path / "nan.csv"
    ds = pd.date_range("2024-01-01", periods=4 * 288, freq="300s")
    pd.DataFrame({"timestamp": ds.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": ["nan"] * len(ds)}).to_csv(
        trace, index=False
    )
    # WHEN it is backtested THEN it is refused with the reason
    assert main([str(trace), "--horizons", "1h", "--last-days", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "trace: no known value" in err, err


def test_a_step_the_engine_does_not_forecast_is_refused_naming_the_supported_range(tmp_path, capsys):
    # GIVEN a daily trace (before: ModuleNotFoundError: supersmoother, from MSTL with one step per day)
    trace = tmp_path / "daily.csv"
    _write_trace(trace, days=60, step=86_400)
    # WHEN it is backtested THEN one line names the step and the supported range
    assert main([str(trace), "--horizons", "24h"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "step 86400 s" in err and "60 s to 3600 s" in err, err
