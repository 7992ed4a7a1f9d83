"""Smoke tests of the built x86_64 layers in a clean interpreter that sees only them (as on Lambda).

Every trimming rule in layers/build.py is justified by these passing: the forecaster's stack imports from
nothing but the layers, forecasts with every model it uses, and runs from the bytecode the build compiled.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.catalog import FUNCTIONS, FunctionSpec
from layers.build import DEFAULT_OUT, LIB_DIR, PROJECT_ROOT, arch_dir
from layers.sandbox import run_probe
from models.config import ForecastConfig

ARCH = "x86_64"  # what CI and this machine run; production builds arm64 the same way

pytestmark = pytest.mark.layers

FORECASTING = ["common", "statsforecast", "lightgbm"]


def test_forecaster_stack_forecasts_with_every_model_from_the_layers_alone(
    layer_manifest: dict, function_code: Path
) -> None:
    # GIVEN only the function code and the three layers on the path
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
    # AND the optional parts work: IsolationForest cleaning, the holiday calendar, Parquet
    assert result["isolation_forest_fitted"] is True
    assert result["holiday_calendar"] is True
    assert result["parquet_round_trip"] is True
    # AND OpenMP came from the lightgbm layer's lib/ (Lambda's image has none)
    assert result["openmp"] == [str(arch_dir(DEFAULT_OUT, ARCH) / "lightgbm" / LIB_DIR / "libgomp.so.1")]
    # AND nothing was imported from outside the layers, code, runtime stand-in and standard library
    assert result["origins"]["foreign"] == []
    # AND every module ran from the bytecode compiled at build time (unchecked-hash, CPython 3.12)
    assert result["origins"]["missing_pyc"] == []
    assert result["origins"]["modules_checked"] > 1000


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


def test_light_functions_work_with_the_common_layer_only(layer_manifest: dict, function_code: Path) -> None:
    result = run_probe("light", code_dir=function_code, layers=["common"], arch=ARCH)
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
    if layers == ["common"]:
        assert result["heavy_modules_loaded"] == []
