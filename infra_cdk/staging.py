"""Directories the CDK app turns into assets, assembled at synth without Docker or network.

CDK hashes and copies an asset directory on every synth; pointing it at the repository root would
walk ``.venv`` and ``node_modules``. Instead the runtime packages are copied into a small
content-addressed directory under the system temp dir, so an unchanged tree gives the same asset
hash (and no redeploy) and synth stays fast.

Layers are built by ``layers/`` into ``layers/build/<arch>/<layer>/python``, and the forecasting
image's build context into ``layers/build/<arch>/image`` (the forecaster and trainer are container
images: their dependencies exceed the 250 MB zip limit). Synth never builds anything: an image asset
is only staged, Docker runs at deploy. When a layer or the image context has not been built, synth
still works with a placeholder and a warning, unless the caller asked for built artifacts (context
``forescale:requireLayers``), in which case synth fails and names the missing directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

#: The repository root: the directory holding ``events/``, ``models/`` and ``functions/``.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The packages every function's code asset contains (handlers pick theirs by handler string); the tools
#: (``forescale_tools``: the forescale command, local router, report, in-memory twins) are never staged.
RUNTIME_PACKAGES: tuple[str, ...] = ("events", "models", "functions")

#: Files never shipped: caches and compiled files (Lambda compiles on first import).
_SKIPPED_PARTS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
_SKIPPED_SUFFIXES = frozenset({".pyc", ".pyo"})

#: Default location of the built layers (and of the forecasting image's build context, in ``image/``).
DEFAULT_LAYERS_DIR = PROJECT_ROOT / "layers" / "build" / "arm64"
IMAGE_DIR = "image"


def _runtime_files(root: Path, packages: Iterable[str]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for package in packages:
        base = root / package
        if not (base / "__init__.py").is_file():
            raise ValueError(f"code: package {package!r} not found under {root}")
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(root)
            if path.is_dir() or _SKIPPED_PARTS.intersection(relative.parts) or path.suffix in _SKIPPED_SUFFIXES:
                continue
            files[relative.as_posix()] = path.read_bytes()
    return files


def staged_directory(kind: str, files: Mapping[str, bytes]) -> Path:
    """A directory holding exactly ``files`` (relative path -> content), named by their hash.

    Written once into a sibling and renamed, so concurrent synths never see a half-written tree.
    """
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(files[name]).digest())
    target = Path(tempfile.gettempdir()) / f"forescale-{kind}-{digest.hexdigest()[:20]}"
    if target.is_dir():
        return target
    scratch = Path(tempfile.mkdtemp(prefix=f"forescale-{kind}-", dir=target.parent))
    for name, content in files.items():
        path = scratch / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    try:
        os.rename(scratch, target)
    except OSError:  # another synth won the race with identical content
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def code_directory(root: Path = PROJECT_ROOT, packages: Iterable[str] = RUNTIME_PACKAGES) -> Path:
    """The functions' code asset: the runtime packages and nothing else."""
    return staged_directory("code", _runtime_files(root, packages))


def placeholder_layer_directory(layer: str) -> Path:
    """Stand-in for a layer that was not built: synth works, the function would lack its dependencies."""
    note = (
        f"Placeholder for the '{layer}' layer, which was not built when this app was synthesized.\n"
        "Build the layers (see layers/) and synthesize again before deploying.\n"
    )
    return staged_directory(f"placeholder-{layer}", {f"python/forescale_placeholder_{layer}.txt": note.encode()})


def placeholder_image_directory() -> Path:
    """Stand-in build context for the forecasting image: synth works, ``docker build`` stops with the reason."""
    dockerfile = (
        "# Placeholder: the forecasting image context was not built when this app was synthesized.\n"
        "FROM public.ecr.aws/lambda/python:3.12\n"
        'RUN echo "forescale: build the image context first: python -m layers.image --arch arm64" && exit 1\n'
    )
    return staged_directory("placeholder-image", {"Dockerfile": dockerfile.encode()})


def _source_files(base: Path, packages: Iterable[str]) -> dict[str, bytes]:
    """The packages' files under ``base`` as the image ships them: no tests, caches or compiled files."""
    files: dict[str, bytes] = {}
    for package in packages:
        for path in sorted((base / package).rglob("*")):
            relative = path.relative_to(base)
            parts = set(relative.parts)
            if path.is_dir() or parts & _SKIPPED_PARTS or "tests" in parts or path.suffix in _SKIPPED_SUFFIXES:
                continue
            files[relative.as_posix()] = path.read_bytes()
    return files


def refresh_image_code(image_dir: Path, root: Path = PROJECT_ROOT, packages: Iterable[str] = RUNTIME_PACKAGES) -> bool:
    """Make the image context's ``code/`` the current code; True when it was stale and is now replaced.

    ``python -m layers.image`` copies the code into the context once; an edit after that would otherwise
    deploy the old code under an unchanged image asset hash. Replacing ``code/`` changes the directory CDK
    hashes, so the image is rebuilt exactly when the code changed.
    """
    from layers.budget import copy_code

    packages = tuple(packages)
    code = image_dir / "code"
    if code.is_dir() and _source_files(code, packages) == _source_files(root, packages):
        return False
    shutil.rmtree(code, ignore_errors=True)
    copy_code(root, code)
    return True


def built_image_directory(layers_dir: Path) -> Path | None:
    """``layers_dir/image`` when ``python -m layers.image`` has assembled it (it holds a Dockerfile)."""
    candidate = layers_dir / IMAGE_DIR
    return candidate if (candidate / "Dockerfile").is_file() else None


def built_layer_directory(layers_dir: Path, layer: str) -> Path | None:
    """``layers_dir/<layer>`` when it holds a built ``python/`` folder, else ``None``."""
    candidate = layers_dir / layer
    return candidate if (candidate / "python").is_dir() else None
