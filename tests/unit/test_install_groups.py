"""The forescale command runs without the dev tools: nothing it imports comes only from the ``dev`` group."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
#: import name -> distribution name, where they differ
DISTRIBUTIONS = {"sklearn": "scikit-learn", "aws_lambda_powertools": "aws-lambda-powertools", "yaml": "pyyaml"}
#: product code the forescale command (replay, backtest, history, local) can reach
PRODUCT = ("functions", "models", "events", "forescale_tools")


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~ ;]", item, maxsplit=1)[0].lower() for item in requirements}


def _imported_distributions() -> dict[str, str]:
    """Top-level third-party imports of the product code, as distribution names, with a file importing each."""
    local = {p.name for p in ROOT.iterdir() if p.is_dir()} | {"functions", "models", "events", "infra_cdk"}
    found: dict[str, str] = {}
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in local or top in sys.stdlib_module_names:
                        continue
                    found.setdefault(DISTRIBUTIONS.get(top, top).lower(), str(path.relative_to(ROOT)))
    return found


def test_no_product_module_imports_a_dev_only_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    groups = project["dependency-groups"]
    runtime = _names(project["project"]["dependencies"])
    for name, requirements in groups.items():
        if name != "dev":
            runtime |= _names(requirements)
    dev_only = _names(groups["dev"]) - runtime
    imported = _imported_distributions()
    # THEN the product code imports no distribution that only the dev group installs (uv sync --no-dev)
    offending = {name: where for name, where in imported.items() if name in dev_only}
    assert not offending, f"imported by product code but only in the dev group: {offending}"
    # AND the check sees the product's real imports
    assert {"numpy", "pandas", "pydantic", "matplotlib"} <= set(imported)
