"""Asset hashes change exactly when what an asset is made from changes, so a deploy never ships stale code
and never rebuilds what did not change.

The code asset is made from the shipped files of ``events/``, ``models/`` and ``functions/`` and its recipe
(``layers/code.py``); each layer from ``uv.lock``, pyproject's dependency tables and ``layers/build.py``.
The project is a temporary copy; CDK bundles nothing here (``aws:cdk:bundling-stacks`` is empty) except in
the last test, which bundles the code asset only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from infra_cdk import staging
from layers.build import LAYER_ORDER

REPO = Path(__file__).resolve().parents[2]
COPIED = ("events", "models", "functions", "uv.lock", "pyproject.toml", "layers/build.py", "layers/code.py")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for name in COPIED:
        source, target = REPO / name, root / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (root / "functions" / "tests").mkdir(exist_ok=True)
    (root / "functions" / "tests" / "test_x.py").write_text("def test(): pass\n")
    return root


def _app(outdir: Path, bundle: bool) -> cdk.App:
    context = {} if bundle else {"aws:cdk:bundling-stacks": []}
    return cdk.App(context=context, outdir=str(outdir))


def asset_hashes(project: Path, outdir: Path) -> dict[str, str]:
    """The S3 key (named by the asset hash) of the code asset and of every layer, as synthesized."""
    app = _app(outdir, bundle=False)
    stack = cdk.Stack(app, "S")
    lambda_.Function(
        stack, "Fn", runtime=lambda_.Runtime.PYTHON_3_12, handler="x.handler", code=staging.code_asset(project)
    )
    for name in LAYER_ORDER:
        lambda_.LayerVersion(stack, f"Layer{name}", code=staging.layer_asset(name, "arm64", project))
    resources = app.synth().get_stack_by_name("S").template["Resources"]
    hashes = {}
    for logical, resource in resources.items():
        if resource["Type"] == "AWS::Lambda::Function":
            hashes["code"] = resource["Properties"]["Code"]["S3Key"]
        elif resource["Type"] == "AWS::Lambda::LayerVersion":
            hashes[logical.removeprefix("Layer")[: -len("XXXXXXXX")]] = resource["Properties"]["Content"]["S3Key"]
    assert set(hashes) == {"code", *LAYER_ORDER}
    return hashes


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {name for name in before if before[name] != after[name]}


def test_a_source_edit_changes_the_code_asset_and_nothing_else(project: Path, tmp_path: Path) -> None:
    # GIVEN the assets as synthesized from the project
    before = asset_hashes(project, tmp_path / "a")
    # WHEN nothing changed THEN the hashes are the same (no redeploy)
    assert asset_hashes(project, tmp_path / "b") == before
    # WHEN the forecaster's service is edited THEN the code asset (which contains it) changes, no layer does
    service = project / "functions" / "services" / "forecaster.py"
    service.write_text(service.read_text() + "\n# edited\n")
    after = asset_hashes(project, tmp_path / "c")
    assert changed(before, after) == {"code"}
    # AND a file that is not shipped (a test) changes nothing
    (project / "functions" / "tests" / "test_x.py").write_text("def test(): assert 1\n")
    assert asset_hashes(project, tmp_path / "d") == after


def test_the_lock_and_the_layer_recipe_change_every_layer_and_not_the_code(project: Path, tmp_path: Path) -> None:
    before = asset_hashes(project, tmp_path / "a")
    # WHEN the lock changes THEN every layer's hash changes and the code's does not
    lock = project / "uv.lock"
    lock.write_text(lock.read_text() + "\n")
    after_lock = asset_hashes(project, tmp_path / "b")
    assert changed(before, after_lock) == set(LAYER_ORDER)
    # WHEN the layer build recipe changes THEN again every layer
    recipe = project / "layers" / "build.py"
    recipe.write_text(recipe.read_text() + "\n# edited\n")
    after_recipe = asset_hashes(project, tmp_path / "c")
    assert changed(after_lock, after_recipe) == set(LAYER_ORDER)
    # WHEN the code's recipe changes THEN only the code
    code_recipe = project / "layers" / "code.py"
    code_recipe.write_text(code_recipe.read_text() + "\n# edited\n")
    assert changed(after_recipe, asset_hashes(project, tmp_path / "d")) == {"code"}


def test_pyproject_changes_the_layers_only_through_its_dependency_tables(project: Path, tmp_path: Path) -> None:
    before = asset_hashes(project, tmp_path / "a")
    pyproject = project / "pyproject.toml"
    # WHEN a tool's setting changes THEN no asset changes
    pyproject.write_text(pyproject.read_text().replace("line-length = 120", "line-length = 119"))
    assert asset_hashes(project, tmp_path / "b") == before
    # WHEN a dependency group changes THEN every layer changes
    pyproject.write_text(pyproject.read_text().replace('"holidays>=0.60",', '"holidays>=0.61",'))
    assert changed(before, asset_hashes(project, tmp_path / "c")) == set(LAYER_ORDER)


def test_the_bundled_code_asset_holds_the_edit_and_its_bytecode(project: Path, tmp_path: Path) -> None:
    # GIVEN an edited module WHEN the code asset is bundled (as cdk deploy does)
    module = project / "functions" / "catalog.py"
    module.write_text(module.read_text() + "\nEDITED = True\n")
    app = _app(tmp_path / "out", bundle=True)
    stack = cdk.Stack(app, "S")
    lambda_.Function(
        stack, "Fn", runtime=lambda_.Runtime.PYTHON_3_12, handler="x.handler", code=staging.code_asset(project)
    )
    resources = app.synth().get_stack_by_name("S").template["Resources"]
    (function,) = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    asset = tmp_path / "out" / f"asset.{function['Properties']['Code']['S3Key'].removesuffix('.zip')}"
    # THEN the asset has the edit, the bytecode compiled for python3.12, and no tests
    assert (asset / "functions" / "catalog.py").read_text().endswith("EDITED = True\n")
    assert (asset / "functions" / "__pycache__" / "catalog.cpython-312.pyc").is_file()
    assert sorted(p.name for p in asset.iterdir()) == ["events", "functions", "models"]
    assert not (asset / "functions" / "tests").exists()
