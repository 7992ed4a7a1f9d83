"""Build context of the forecaster/trainer container image, made of the built layers (see ``layers/Dockerfile``).

The forecasting stack does not fit Lambda's 250 MB zip limit (``layers/README.md``), so the two functions that
need it ship as one image holding exactly the files of the ``common``, ``statsforecast`` and ``lightgbm``
layers that the smoke tests exercise, plus the function code.

    python -m layers.image --arch arm64 [--out layers/build]   # -> layers/build/arm64/image
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from layers.budget import copy_code
from layers.build import (
    DEFAULT_OUT,
    LAYER_ORDER,
    LIB_DIR,
    PROJECT_ROOT,
    PYTHON_DIR,
    BuildError,
    arch_dir,
    build,
    layer_dirs,
    tree_bytes,
    walk_files,
)


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def merge_layers(sources: list[Path], dest: Path) -> int:
    """Merge layer directories into ``dest``; the layers are disjoint by construction, a clash is a bug."""
    count = 0
    for source in sources:
        for path in walk_files(source):
            target = dest / path.relative_to(source)
            if target.exists():
                raise BuildError(f"{target.relative_to(dest)}: in more than one layer")
            _link_or_copy(path, target)
            count += 1
    return count


def assemble(arch: str, out: Path = DEFAULT_OUT, project: Path = PROJECT_ROOT) -> Path:
    """(Re)build the layers if needed, then lay out ``<out>/<arch>/image`` for ``docker build``."""
    build(arch, out, project=project)
    image = arch_dir(out, arch) / "image"
    if image.exists():
        shutil.rmtree(image)
    dirs = layer_dirs(out, arch)
    merge_layers([dirs[layer] / PYTHON_DIR for layer in LAYER_ORDER], image / PYTHON_DIR)
    merge_layers([dirs[layer] / LIB_DIR for layer in LAYER_ORDER if (dirs[layer] / LIB_DIR).exists()], image / LIB_DIR)
    copy_code(project, image / "code")
    shutil.copy2(project / "layers" / "Dockerfile", image / "Dockerfile")
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m layers.image", description="Assemble the image build context.")
    parser.add_argument("--arch", choices=["x86_64", "arm64"], default="arm64")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    try:
        image = assemble(args.arch, args.out)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size = tree_bytes(image)
    print(f"image context {image}: {size:,} bytes ({size / (1 << 20):.1f} MiB) of files")
    print(
        f"docker build --platform linux/{'arm64' if args.arch == 'arm64' else 'amd64'} -t forescale-forecasting {image}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
