"""The functions' code and layer assets, built by ``cdk synth`` / ``cdk deploy`` on this machine (no Docker).

Each asset is a CDK asset with *local bundling*: CDK calls :class:`LocalBuild` with an empty output directory
and the asset is what it writes there.

- the code asset (:func:`code_asset`): ``events/``, ``models/`` and ``functions/`` with their bytecode
  (:mod:`layers.code`);
- one asset per layer (:func:`layer_asset`): ``python -m layers.build`` for the functions' architecture,
  from ``uv.lock`` (reused from ``layers/build/<arch>`` while its inputs are unchanged), then that layer's
  directory.

Every asset is named by a hash of exactly what it is made from (``AssetHashType.CUSTOM``): the shipped
files and :mod:`layers.code` for the code; the lock, pyproject's dependency tables and ``layers/build.py``
for a layer (:func:`layers.build.input_key`). So an edit changes the hash of every asset that contains the
file and of no other, CDK bundles an asset only when its hash is new to ``cdk.out``, and CloudFormation
updates only what changed. CDK skips bundling for stacks it is not deploying.

For tests only, ``forescale:layersDir`` points at directories that stand in for built layers
(:func:`prebuilt_layer_asset`): synth then builds no layer.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from layers.build import DEFAULT_OUT, LAYER_ORDER, BuildError, build, input_key, layer_dirs, walk_files
from layers.code import CODE_PACKAGES, code_hash, write_code

#: The repository root: the directory holding ``events/``, ``models/``, ``functions/`` and ``uv.lock``.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The packages every function's code asset contains (handlers pick theirs by handler string); the tools
#: (``forescale_tools``: the forescale command, local router, report, in-memory twins) are never shipped.
RUNTIME_PACKAGES: tuple[str, ...] = CODE_PACKAGES

#: ``layers.build``'s name of each Lambda architecture.
BUILD_ARCH = {"arm64": "arm64", "x86_64": "x86_64"}

#: Never pulled: local bundling always succeeds or fails synth; CDK's API only wants an image to name.
_NO_DOCKER = DockerImage.from_registry("forescale-builds-locally-without-docker")


@jsii.implements(ILocalBundling)
class LocalBuild:
    """Local bundling: ``produce(output_dir)`` writes the asset; an error stops synth with its message."""

    def __init__(self, produce: Callable[[Path], object]) -> None:
        self._produce = produce

    def try_bundle(self, output_dir: str, options: Any) -> bool:
        self._produce(Path(output_dir))
        return True


def asset_source() -> Path:
    """The (empty) directory CDK is given as the bundled assets' source: CDK hashes nothing in it (the hash
    is ours) and never copies it; an empty one keeps CDK from walking the repository."""
    path = Path(tempfile.gettempdir()) / "forescale-bundled-asset-source"
    path.mkdir(exist_ok=True)
    return path


def bundled_asset(asset_hash: str, produce: Callable[[Path], object]) -> lambda_.Code:
    """A Lambda code or layer asset that ``produce`` writes, named by ``asset_hash``."""
    return lambda_.Code.from_asset(
        str(asset_source()),
        asset_hash=asset_hash,
        asset_hash_type=AssetHashType.CUSTOM,
        bundling=BundlingOptions(image=_NO_DOCKER, local=cast(ILocalBundling, LocalBuild(produce))),
    )


def code_asset(project: Path = PROJECT_ROOT) -> lambda_.Code:
    """Every function's code: the runtime packages and their bytecode (:mod:`layers.code`)."""
    return bundled_asset(code_hash(project), lambda out: write_code(project, out))


def layer_hash(layer: str, arch: str, project: Path = PROJECT_ROOT) -> str:
    """The layer asset's name: what the layers are built from, and which layer of them."""
    return hashlib.sha256(f"{input_key(project, BUILD_ARCH[arch])}:{layer}".encode()).hexdigest()


def layer_asset(layer: str, arch: str, project: Path = PROJECT_ROOT, out: Path = DEFAULT_OUT) -> lambda_.Code:
    """One layer, built from ``uv.lock`` for ``arch`` (reused while unchanged) and copied into the asset."""
    if layer not in LAYER_ORDER:
        raise ValueError(f"layer: {layer!r} is not one of {', '.join(LAYER_ORDER)}")
    return bundled_asset(layer_hash(layer, arch, project), lambda dest: _copy_layer(layer, arch, project, out, dest))


def _copy_layer(layer: str, arch: str, project: Path, out: Path, dest: Path) -> None:
    try:
        build(BUILD_ARCH[arch], out, project=project, zipped=False)
    except BuildError as exc:
        raise RuntimeError(f"layer {layer} ({arch}): {exc}") from exc
    copy_tree(layer_dirs(out, BUILD_ARCH[arch])[layer], dest)


def copy_tree(source: Path, dest: Path) -> None:
    """Hard-link (or copy, across file systems) every file of ``source`` into ``dest``."""
    for path in walk_files(source):
        target = dest / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)


def prebuilt_layer_asset(layers_dir: Path, layer: str) -> lambda_.Code:
    """``layers_dir/<layer>`` as it is (tests: stand-ins for built layers, so that synth builds none)."""
    candidate = layers_dir / layer
    if not (candidate / "python").is_dir():
        raise ValueError(f"forescale:layersDir: {candidate / 'python'} does not exist (layer {layer!r})")
    return lambda_.Code.from_asset(str(candidate))
