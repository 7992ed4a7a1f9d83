"""Smoke tests of the built x86_64 layers in a clean interpreter that sees only them (as on Lambda).

Every trimming rule in layers/build.py is justified by these passing: the forecaster's stack imports from
nothing but the layers, forecasts with every model it uses, and runs from the bytecode the build compiled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forescale_tools.memory import InMemoryObjects
from functions.adapters.s3 import S3Store
from functions.catalog import FORECASTING as FORECASTING_LAYERS
from functions.catalog import FUNCTIONS, LIGHT, FunctionSpec
from layers.build import DEFAULT_OUT, LIB_DIR, PROJECT_ROOT, arch_dir
from layers.sandbox import PROBE, run_probe
from models.config import ForecastConfig

ARCH = "x86_64"  # what CI and this machine run; production builds arm64 the same way

pytestmark = pytest.mark.layers

FORECASTING = list(FORECASTING_LAYERS)


def test_forecaster_stack_forecasts_with_every_model_from_the_layers_alone(
    layer_manifest: dict, function_code: Path
) -> None:
    # GIVEN only the function code and the forecasting layers on the path
    # WHEN the forecasting service is fitted and forecasts two targets
    result = run_probe("smoke", code_dir=function_code, layers=FORECASTING, arch=ARCH)
    # THEN every configured model produced finite forecasts, and so did the ensemble
    expected = {*ForecastConfig().models, "Ensemble"}
    assert expected <= set(result["models"]), result["models"]
    assert all(result["finite"].values()), result["finite"]
    assert {uid: (f["model"], f["steps"]) for uid, f in result["forecasts"].items()} == {
        "target-0": ("Ensemble", 288),
        "target-1": ("Ensemble", 288),
    }
    # AND the trainer's holiday calendar and capacity learning (scipy's Huber regression) work, without
    # scikit-learn
    assert result["holiday_calendar"] is True
    assert result["capacity_per_instance"] == pytest.approx(120.0, rel=0.01)
    assert result["sklearn_loaded"] is False
    # AND OpenMP came from the lightgbm layer's lib/ (Lambda's image has none)
    assert result["openmp"] == [str(arch_dir(DEFAULT_OUT, ARCH) / "lightgbm" / LIB_DIR / "libgomp.so.1")]
    # AND nothing was imported from outside the layers, code, runtime stand-in and standard library
    assert result["origins"]["foreign"] == []
    # AND every module ran from the bytecode compiled at build time (unchecked-hash, CPython 3.12)
    assert result["origins"]["missing_pyc"] == []
    assert result["origins"]["modules_checked"] > 1000


def test_the_layers_forecast_exactly_as_the_development_install(layer_manifest: dict, function_code: Path) -> None:
    # GIVEN four series, fitted and forecast by the layers alone (statsforecast without its fugue backend,
    # bytecode only) in a clean interpreter
    layered = run_probe("forecasts", code_dir=function_code, layers=FORECASTING, arch=ARCH, extra=["--targets", "4"])
    # WHEN the development install (full statsforecast, with sources) does the same
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TZ": "UTC", "OMP_WAIT_POLICY": "PASSIVE"}
    cmd = [sys.executable, str(PROBE), "forecasts", "--path", str(PROJECT_ROOT), "--targets", "4"]
    full = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
    # THEN every model's forecast and interval of every series, and the served paths, are bit-identical
    assert {c.split("-")[0] for c in layered["columns"]} >= {*ForecastConfig().models, "Ensemble"}
    assert len(set(layered["unique_id"])) == 4
    assert layered == full


def test_the_forecasting_functions_read_the_history_the_collector_wrote(
    layer_manifest: dict, function_code: Path, tmp_path: Path
) -> None:
    # GIVEN two targets' history written by the development install (pyarrow), as the collector writes it:
    # two rounds of parts over two days, the first day compacted
    store = S3Store(InMemoryObjects())
    ds = pd.date_range("2026-03-01 22:00", periods=240, freq="1min")
    for target, scale in (("web", 1.0), ("api", 2.0)):
        frame = pd.DataFrame({"ds": ds, "y": scale * np.arange(240, dtype=float)})
        store.write_history(target, frame.iloc[:120], part_id="20260301T2200-a")
        store.write_history(target, frame.iloc[120:], part_id="20260302T0000-b")
    store.compact_days(["web", "api"], date(2026, 3, 1), final=True)
    objects = tmp_path / "objects"
    for key in store.objects.list_keys(""):
        (objects / key).parent.mkdir(parents=True, exist_ok=True)
        (objects / key).write_bytes(store.objects.get(key))
    start, end = datetime(2026, 3, 1, 21, tzinfo=UTC), datetime(2026, 3, 2, 3, tzinfo=UTC)
    expected = store.read_history("api", start, end)
    # WHEN the forecaster's layers (no pyarrow) read one target's history through the same store
    extra = ["--objects", str(objects), "--target", "api", "--start", "2026-03-01T21:00", "--end", "2026-03-02T03:00"]
    result = run_probe("history", code_dir=function_code, layers=FORECASTING, arch=ARCH, extra=extra)
    # THEN they read what the development install reads, without pyarrow, from the layers alone
    assert result["pyarrow_loaded"] is False
    assert result["y"] == expected["y"].tolist() and len(result["y"]) == 240
    assert result["ds"] == expected["ds"].astype(str).tolist()
    assert result["origins"]["foreign"] == []


def test_trained_artifacts_load_and_forecast_in_a_fresh_interpreter(
    layer_manifest: dict, function_code: Path, tmp_path: Path
) -> None:
    # GIVEN artifacts saved by one clean interpreter (the trainer)
    artifact = str(tmp_path / "artifact")
    fitted = run_probe("fit", code_dir=function_code, layers=FORECASTING, arch=ARCH, extra=["--artifact", artifact])
    assert fitted["skipped"] == {}
    # WHEN another one (the forecaster's cold start) loads them and forecasts
    served = run_probe("serve", code_dir=function_code, layers=FORECASTING, arch=ARCH, extra=["--artifact", artifact])
    # THEN it serves the ensemble's 24 h path
    assert (served["model"], served["steps"]) == ("Ensemble", 288)


def test_light_functions_work_with_their_layers_only(layer_manifest: dict, function_code: Path) -> None:
    result = run_probe("light", code_dir=function_code, layers=list(LIGHT), arch=ARCH)
    assert result["parquet_round_trip"] is True
    assert result["contracts"] > 0
    assert result["heavy_modules_loaded"] == []
    assert result["origins"]["foreign"] == []
    assert result["origins"]["missing_pyc"] == []


WRITTEN_HANDLERS = [
    spec for spec in FUNCTIONS if (PROJECT_ROOT / "functions" / "handlers" / f"{spec.name}.py").exists()
]


@pytest.mark.parametrize("spec", WRITTEN_HANDLERS, ids=[spec.name for spec in WRITTEN_HANDLERS])
def test_each_handler_imports_with_exactly_its_layers(
    layer_manifest: dict, function_code: Path, spec: FunctionSpec
) -> None:
    # GIVEN a handler that exists and the layers the catalogue gives its function
    layers: list[str] = list(spec.layers)
    module = spec.handler.rsplit(".", 1)[0]
    # WHEN its module is imported as Lambda's cold start does
    result = run_probe("import", code_dir=function_code, layers=layers, arch=ARCH, extra=["--module", module])
    # THEN everything came from those layers, from bytecode
    assert result["origins"]["foreign"] == []
    assert result["origins"]["missing_pyc"] == []
    if layers == list(LIGHT):
        assert result["heavy_modules_loaded"] == []
