"""Fixtures of the layer tests: the x86_64 layers built once (reused while uv.lock, pyproject and
layers/build.py are unchanged) and the function code asset as Lambda would get it."""

from __future__ import annotations

from pathlib import Path

import pytest

from layers.budget import copy_code
from layers.build import DEFAULT_OUT, PROJECT_ROOT, build

#: CI and this machine are x86_64; production is arm64 (same build, ``--arch arm64``).
ARCH = "x86_64"  # tests/layers/*.py repeat it: test modules here are not a package


@pytest.fixture(scope="session")
def layer_manifest() -> dict:
    return build(ARCH, DEFAULT_OUT)


@pytest.fixture(scope="session")
def function_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_code(PROJECT_ROOT, tmp_path_factory.mktemp("function") / "code")
