"""The forecasting image never ships stale code: synth refreshes the image context's code/ when the code changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_

from infra_cdk import staging


def _project(root: Path) -> Path:
    for package in ("events", "models", "functions"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text(f'"""{package}"""\n')
    (root / "functions" / "forecaster.py").write_text("VERSION = 1\n")
    (root / "functions" / "tests").mkdir()
    (root / "functions" / "tests" / "test_x.py").write_text("def test(): pass\n")
    return root


def _image_asset_hash(context: Path) -> str:
    app = cdk.App()
    stack = cdk.Stack(app, "S")
    code = lambda_.DockerImageCode.from_image_asset(str(context))
    lambda_.DockerImageFunction(stack, "F", code=code)
    template = app.synth().get_stack_by_name("S").template
    function = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    return json.dumps(function["Properties"]["Code"]["ImageUri"])  # ends in the asset's hash


def test_an_edit_after_the_image_context_was_built_reaches_the_image(tmp_path):
    # GIVEN an image context assembled from the project (Dockerfile, code/ with the compiled code)
    project = _project(tmp_path / "project")
    context = tmp_path / "image"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nCOPY code/ /code/\n")
    assert staging.refresh_image_code(context, root=project) is True  # no code/ yet: copied
    assert (context / "code" / "functions" / "forecaster.py").read_text() == "VERSION = 1\n"
    assert not (context / "code" / "functions" / "tests").exists()
    before = _image_asset_hash(context)
    # WHEN nothing changed, synth leaves it (same asset hash, no rebuild)
    assert staging.refresh_image_code(context, root=project) is False
    assert _image_asset_hash(context) == before
    # WHEN the forecaster is edited after the context was built
    (project / "functions" / "forecaster.py").write_text("VERSION = 2\n")
    # THEN synth replaces the context's code and the image asset's hash changes
    assert staging.refresh_image_code(context, root=project) is True
    assert (context / "code" / "functions" / "forecaster.py").read_text() == "VERSION = 2\n"
    assert _image_asset_hash(context) != before
    # AND a test file edited changes nothing that ships
    (project / "functions" / "tests" / "test_x.py").write_text("def test(): assert 1\n")
    assert staging.refresh_image_code(context, root=project) is False
    shutil.rmtree(project)
