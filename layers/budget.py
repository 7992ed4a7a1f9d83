"""Size budget of every Lambda function (``functions.catalog``): its code plus its layers, against Lambda's limits.

Limits (Lambda quotas; bytes as Lambda counts them):

* a function's code and all its layers, unzipped: 250 MB = 262,144,000 bytes; a single layer version must
  also unzip to less than that (``CreateLayerVersion`` refuses it otherwise);
* at most 5 layers per function;
* 50 MB zipped applies only to archives uploaded *directly* through the Lambda API (``CodeSizeZipped``);
  CDK uploads code and layer assets through S3, where only the unzipped limit holds, so the zip sizes are
  printed for information;
* a container-image function: 10 GB image.

The forecaster and the trainer cannot fit 250 MB with the forecasting stack (README: the files that their
work loads are already over it), so they ship as one container image made of the same built layers
(``layers/image.py``); the others are zip functions with the ``common`` layer.

    python -m layers.budget --arch x86_64 [--out layers/build]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from layers.build import DEFAULT_OUT, PROJECT_ROOT, UNZIPPED_LIMIT_BYTES, load_manifest, python312, tree_bytes

#: Packages of this project that make up every function's code asset (infra_cdk and forescale_tools are not deployed).
CODE_PACKAGES = ("events", "models", "functions")
DIRECT_UPLOAD_ZIP_LIMIT_BYTES = 52_428_800
MAX_LAYERS = 5
IMAGE_LIMIT_BYTES = 10 * 1024**3
#: Functions shipped as a container image built from the layers (layers/README.md says why).
IMAGE_FUNCTIONS = frozenset({"forecaster", "trainer"})
MIB = 1 << 20


def copy_code(project: Path, dest: Path) -> Path:
    """The function code asset: the project's packages without tests or caches, with 3.12 bytecode."""
    for package in CODE_PACKAGES:
        shutil.copytree(project / package, dest / package, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    cmd = [python312(), "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(dest)]
    subprocess.run(cmd, check=True, capture_output=True)
    return dest


def code_bytes(project: Path = PROJECT_ROOT) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        return tree_bytes(copy_code(project, Path(tmp)))


@dataclass(frozen=True)
class FunctionBudget:
    name: str
    layers: tuple[str, ...]
    packaging: str  # "zip" | "image"
    code_bytes: int
    layer_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.code_bytes + self.layer_bytes

    @property
    def limit_bytes(self) -> int:
        return UNZIPPED_LIMIT_BYTES if self.packaging == "zip" else IMAGE_LIMIT_BYTES

    @property
    def fits(self) -> bool:
        if self.packaging == "zip":
            return self.total_bytes <= self.limit_bytes and len(self.layers) <= MAX_LAYERS
        return self.total_bytes <= self.limit_bytes


def function_budgets(manifest: dict, code: int) -> list[FunctionBudget]:
    from functions.catalog import FUNCTIONS

    budgets = []
    for spec in FUNCTIONS:
        layer_bytes = sum(manifest["layers"][layer]["final_bytes"] for layer in spec.layers)
        packaging = "image" if spec.name in IMAGE_FUNCTIONS else "zip"
        budgets.append(FunctionBudget(spec.name, tuple(spec.layers), packaging, code, layer_bytes))
    return budgets


def format_budget(manifest: dict, budgets: list[FunctionBudget]) -> str:
    lines = [f"Lambda layers ({manifest['arch']}, python{manifest['python']}), bytes unzipped / zipped:"]
    for name in manifest["layer_order"]:
        layer = manifest["layers"][name]
        zipped = layer.get("zip_bytes")
        zip_note = "-" if zipped is None else f"{zipped:,} ({zipped / MIB:.1f} MiB)"
        direct = (
            ""
            if zipped is None
            else ("  direct-upload ok" if zipped <= DIRECT_UPLOAD_ZIP_LIMIT_BYTES else "  S3 upload only")
        )
        lines.append(
            f"  {name:14} {layer['final_bytes']:>12,} ({layer['final_bytes'] / MIB:6.1f} MiB)  zip {zip_note}{direct}"
        )
    lines.append(f"Functions: code + layers vs limit (zip: {UNZIPPED_LIMIT_BYTES:,} unzipped; image: 10 GB):")
    for b in budgets:
        as_layers = (
            "" if b.packaging == "zip" else f"  (as zip + layers: {b.total_bytes - UNZIPPED_LIMIT_BYTES:+,} over)"
        )
        lines.append(
            f"  {b.name:16} {b.packaging:5} {'+'.join(b.layers):32} code {b.code_bytes / MIB:5.1f} MiB"
            f"  total {b.total_bytes:>12,} ({b.total_bytes / MIB:6.1f} MiB)"
            f"  headroom {(b.limit_bytes - b.total_bytes) / MIB:8.1f} MiB  {'OK' if b.fits else 'OVER'}{as_layers}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m layers.budget", description="Print the size budget.")
    parser.add_argument("--arch", default="x86_64")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    manifest = load_manifest(args.out, args.arch)
    if manifest is None:
        print(f"error: no build for {args.arch} in {args.out} (run python -m layers.build first)", file=sys.stderr)
        return 2
    budgets = function_budgets(manifest, code_bytes())
    print(format_budget(manifest, budgets))
    return 0 if all(b.fits for b in budgets) else 1


if __name__ == "__main__":
    raise SystemExit(main())
