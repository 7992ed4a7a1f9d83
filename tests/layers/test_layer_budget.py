"""Size budget over the built artifacts, for both architectures: every function within Lambda's limit with a
10 MiB margin, every layer within the per-layer limits, no distribution shipped twice. The figures are
printed (``pytest -s`` shows them)."""

from __future__ import annotations

import zipfile

import pytest

from functions.catalog import FUNCTIONS
from layers.budget import BUDGET_BYTES, MAX_LAYERS, code_bytes, format_budget, function_budgets
from layers.build import DEFAULT_OUT, LAYER_ORDER, LIB_DIR, UNZIPPED_LIMIT_BYTES, arch_dir, build, is_elf

pytestmark = pytest.mark.layers

ARCHES = ["x86_64", "arm64"]


@pytest.fixture(scope="module", params=ARCHES)
def manifest(request: pytest.FixtureRequest) -> dict:
    """The layers built for each architecture (arm64 from aarch64 wheels; reused while the lock is unchanged)."""
    return build(request.param, DEFAULT_OUT)


def test_every_function_fits_lambdas_limit_with_a_10_mib_margin(manifest: dict) -> None:
    # GIVEN the built layers and the function code as it is deployed
    budgets = function_budgets(manifest, code_bytes())
    print("\n" + format_budget(manifest, budgets))
    # THEN every function, the forecaster and the trainer included, is a zip within 240 MiB with its layers
    assert BUDGET_BYTES == UNZIPPED_LIMIT_BYTES - 10 * (1 << 20)
    over = [b.name for b in budgets if not b.fits]
    assert over == [], format_budget(manifest, budgets)
    assert {b.name for b in budgets} == {spec.name for spec in FUNCTIONS}
    assert all(len(b.layers) <= MAX_LAYERS for b in budgets)


def test_the_forecasting_functions_ship_statsforecast_and_lightgbm_without_pyarrow(manifest: dict) -> None:
    for name in ("forecaster", "trainer"):
        (spec,) = [s for s in FUNCTIONS if s.name == name]
        packages = {p for layer in spec.layers for p in manifest["layers"][layer]["packages"]}
        assert {"statsforecast", "lightgbm", "fastparquet", "holidays"} <= packages, name
        assert not {"pyarrow", "fugue", "triad", "scikit-learn"} & packages, name


def test_each_layer_is_within_lambdas_layer_limit(manifest: dict) -> None:
    for name in LAYER_ORDER:
        layer = manifest["layers"][name]
        assert layer["final_bytes"] < UNZIPPED_LIMIT_BYTES, name
        # trimming and stripping never grow a layer
        assert layer["raw_bytes"] >= layer["trimmed_bytes"] >= layer["stripped_bytes"] - (1 << 20), name
        assert layer["zip_bytes"] < layer["final_bytes"], name


def test_no_distribution_is_shipped_twice(manifest: dict) -> None:
    seen: dict[str, str] = {}
    for name in LAYER_ORDER:
        for package in manifest["layers"][name]["packages"]:
            assert package not in seen, f"{package}: in {seen[package]} and {name}"
            seen[package] = name
    assert {seen[p] for p in ("numpy", "pandas", "pydantic")} == {"common"}
    assert seen["pyarrow"] == "arrow"
    assert seen["scipy"] == "statsforecast"
    assert {seen[p] for p in ("lightgbm", "holidays")} == {"lightgbm"}
    assert {seen[p] for p in ("fastparquet", "cramjam")} == {"fastparquet"}
    assert not {"boto3", "botocore", "scikit-learn", "fugue"} & set(seen)


def test_layer_zips_hold_python_and_lib_at_their_root(manifest: dict) -> None:
    root = arch_dir(DEFAULT_OUT, manifest["arch"])
    with zipfile.ZipFile(root / "zip" / "lightgbm.zip") as archive:
        names = archive.namelist()
    assert names == sorted(names)
    assert "lib/libgomp.so.1" in names
    assert {n.split("/", 1)[0] for n in names} == {"python", LIB_DIR}
    assert is_elf(root / "lightgbm" / LIB_DIR / "libgomp.so.1")


def test_layers_ship_bytecode_only(manifest: dict) -> None:
    # the sources are removed (room for the forecasting functions); each module is its .pyc
    root = arch_dir(DEFAULT_OUT, manifest["arch"])
    for name in LAYER_ORDER:
        python = root / name / "python"
        assert not list(python.rglob("*.py")), name
    assert (root / "statsforecast" / "python" / "statsforecast" / "models.pyc").is_file()
