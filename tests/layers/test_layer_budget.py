"""Size budget over the built x86_64 artifacts: every function within its Lambda limit, every layer within
the per-layer limits, no distribution shipped twice. The figures are printed (``pytest -s`` shows them)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from layers.budget import (
    IMAGE_FUNCTIONS,
    MAX_LAYERS,
    code_bytes,
    format_budget,
    function_budgets,
)
from layers.build import DEFAULT_OUT, LAYER_ORDER, LIB_DIR, UNZIPPED_LIMIT_BYTES, arch_dir, is_elf
from layers.image import assemble

ARCH = "x86_64"

pytestmark = pytest.mark.layers


def test_every_function_fits_its_lambda_limit(layer_manifest: dict) -> None:
    # GIVEN the built layers and the function code as it is deployed
    budgets = function_budgets(layer_manifest, code_bytes())
    print("\n" + format_budget(layer_manifest, budgets))
    # THEN zip functions stay within 262,144,000 bytes with their layers, images within 10 GB
    over = [b.name for b in budgets if not b.fits]
    assert over == [], format_budget(layer_manifest, budgets)
    assert all(len(b.layers) <= MAX_LAYERS for b in budgets)
    assert {b.name for b in budgets if b.packaging == "zip" and b.layers == ("common",)} >= {"collector", "decider"}


def test_the_forecasting_functions_ship_as_an_image_because_their_layers_cannot_fit(layer_manifest: dict) -> None:
    # If this fails, the forecasting stack now fits 250 MB: ship forecaster and trainer as layers again.
    budgets = {b.name: b for b in function_budgets(layer_manifest, code_bytes())}
    for name in IMAGE_FUNCTIONS:
        assert budgets[name].total_bytes > UNZIPPED_LIMIT_BYTES, f"{name}: fits as zip + layers now"


def test_each_layer_is_within_lambdas_layer_limit(layer_manifest: dict) -> None:
    for name in LAYER_ORDER:
        layer = layer_manifest["layers"][name]
        assert layer["final_bytes"] < UNZIPPED_LIMIT_BYTES, name
        # trimming and stripping never grow a layer; bytecode does, and is accounted for
        assert layer["raw_bytes"] >= layer["trimmed_bytes"] >= layer["stripped_bytes"] - (1 << 20), name
        assert layer["zip_bytes"] < layer["final_bytes"], name


def test_no_distribution_is_shipped_twice(layer_manifest: dict) -> None:
    seen: dict[str, str] = {}
    for name in LAYER_ORDER:
        for package in layer_manifest["layers"][name]["packages"]:
            assert package not in seen, f"{package}: in {seen[package]} and {name}"
            seen[package] = name
    assert {seen[p] for p in ("numpy", "pandas", "pyarrow")} == {"common"}
    assert seen["scipy"] == "statsforecast"
    assert {seen[p] for p in ("lightgbm", "scikit-learn")} == {"lightgbm"}
    assert not {"boto3", "botocore"} & set(seen), "the Lambda runtime provides boto3"


def test_layer_zips_hold_python_and_lib_at_their_root(layer_manifest: dict) -> None:
    root = arch_dir(DEFAULT_OUT, ARCH)
    with zipfile.ZipFile(root / "zip" / "lightgbm.zip") as archive:
        names = archive.namelist()
    assert names == sorted(names)
    assert "lib/libgomp.so.1" in names
    assert {n.split("/", 1)[0] for n in names} == {"python", LIB_DIR}
    assert is_elf(root / "lightgbm" / LIB_DIR / "libgomp.so.1")


def test_image_context_holds_exactly_the_layers_and_the_code(layer_manifest: dict) -> None:
    image = assemble(ARCH, DEFAULT_OUT)
    root = arch_dir(DEFAULT_OUT, ARCH)
    layer_files = sum(
        sum(1 for p in (root / name / sub).rglob("*") if p.is_file())
        for name in LAYER_ORDER
        for sub in ("python", LIB_DIR)
        if (root / name / sub).is_dir()
    )
    image_files = sum(1 for sub in ("python", LIB_DIR) for p in (image / sub).rglob("*") if p.is_file())
    assert image_files == layer_files
    assert (image / "Dockerfile").read_text().startswith("# The forecaster and the trainer")
    assert (image / "code" / "models" / "service.py").is_file()
    assert Path(image / "code" / "functions" / "catalog.py").is_file()
