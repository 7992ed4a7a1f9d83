"""The functions' code asset: the runtime packages as Lambda gets them, and the hash that names the asset.

One asset for every function (each picks its handler): ``events/``, ``models/`` and ``functions/`` without
tests or caches, with CPython 3.12 bytecode beside the sources (``/var/task`` is read-only, so without it
every cold start compiles the code; unchecked-hash pycs are used without comparing mtimes, which zips do
not keep). :func:`code_hash` is computed from exactly what :func:`write_code` reads, plus this recipe, so
the asset changes exactly when a shipped file or the recipe does.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

#: Packages of this project that make up every function's code asset (``infra_cdk`` and ``forescale_tools``
#: are not deployed).
CODE_PACKAGES = ("events", "models", "functions")
#: Never shipped: test suites and caches.
SKIPPED_PARTS = frozenset({"tests", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
SKIPPED_SUFFIXES = frozenset({".pyc", ".pyo"})
#: Where Lambda puts the code: the names compiled into the bytecode (tracebacks).
TASK_ROOT = "/var/task"


def code_files(project: Path, packages: tuple[str, ...] = CODE_PACKAGES) -> list[Path]:
    """The files of the code asset, relative to ``project``, sorted."""
    files: list[Path] = []
    for package in packages:
        base = project / package
        if not (base / "__init__.py").is_file():
            raise ValueError(f"code: package {package!r} not found under {project}")
        for path in base.rglob("*"):
            relative = path.relative_to(project)
            if path.is_file() and not SKIPPED_PARTS & set(relative.parts) and path.suffix not in SKIPPED_SUFFIXES:
                files.append(relative)
    return sorted(files)


#: This recipe, relative to the project.
RECIPE_FILE = "layers/code.py"


def code_hash(project: Path, packages: tuple[str, ...] = CODE_PACKAGES) -> str:
    """SHA-256 of the shipped files (names and contents) and of this recipe."""
    digest = hashlib.sha256((project / RECIPE_FILE).read_bytes())
    for relative in code_files(project, packages):
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update(hashlib.sha256((project / relative).read_bytes()).digest())
    return digest.hexdigest()


def write_code(project: Path, dest: Path, packages: tuple[str, ...] = CODE_PACKAGES) -> Path:
    """Copy the code asset's files into ``dest`` and compile them for CPython 3.12."""
    from layers.build import python312

    for relative in code_files(project, packages):
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((project / relative).read_bytes())
    cmd = [python312(), "-m", "compileall", "-q", "-j", "1", "--invalidation-mode", "unchecked-hash"]
    cmd += ["-s", str(dest), "-p", TASK_ROOT, str(dest)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, env={**os.environ, "PYTHONHASHSEED": "0"})
    if result.returncode != 0:
        raise RuntimeError(f"code: compiling {dest} failed:\n{result.stdout}{result.stderr}")
    return dest
