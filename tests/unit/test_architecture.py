"""The pure domain core never touches AWS, Powertools or the process environment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOMAIN_FILES = sorted((ROOT / "functions" / "domain").rglob("*.py"))
FORBIDDEN_MODULES = ("boto3", "botocore", "aws_lambda_powertools", "functions.adapters", "functions.handlers")


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_domain_exists():
    assert len(DOMAIN_FILES) >= 3


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_module_imports_no_aws_or_powertools(path):
    tree = ast.parse(path.read_text())
    bad = [name for name in _imports(tree) if name.startswith(FORBIDDEN_MODULES)]
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_module_reads_no_environment(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}:
            pytest.fail(f"{path.name}:{node.lineno} reads the process environment")


def test_the_check_catches_a_violation(tmp_path):
    # GIVEN a module that imports boto3 and reads os.environ
    tree = ast.parse("import os\nfrom boto3 import client\nx = os.environ['A']\n")
    # THEN both detectors see it
    assert any(n.startswith(FORBIDDEN_MODULES) for n in _imports(tree))
    assert any(isinstance(n, ast.Attribute) and n.attr == "environ" for n in ast.walk(tree))
