"""Size budget of every Lambda function (``functions.catalog``): its code plus its layers, against Lambda's limits.

Limits (Lambda quotas; bytes as Lambda counts them):

* a function's code and all its layers, unzipped: 250 MB = 262,144,000 bytes; a single layer version must
  also unzip to less than that (``CreateLayerVersion`` refuses it otherwise);
* at most 5 layers per function;
* 50 MB zipped applies only to archives uploaded *directly* through the Lambda API (``CodeSizeZipped``);
  CDK uploads code and layer assets through S3, where only the unzipped limit holds, so the zip sizes are
  printed for information;
Every function is a zip function on layers, and must stay :data:`MARGIN_BYTES` (10 MiB) under the 250 MB,
so that a dependency update that grows a little does not fail the deploy.

    python -m layers.budget --arch x86_64|arm64 [--out layers/build]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from layers.build import DEFAULT_OUT, PROJECT_ROOT, UNZIPPED_LIMIT_BYTES, load_manifest, tree_bytes
from layers.code import CODE_PACKAGES, write_code

__all__ = ["CODE_PACKAGES", "copy_code", "function_budgets"]

DIRECT_UPLOAD_ZIP_LIMIT_BYTES = 52_428_800
MAX_LAYERS = 5
MIB = 1 << 20
#: Room kept free under Lambda's limit for every function, on both architectures.
MARGIN_BYTES = 10 * MIB
BUDGET_BYTES = UNZIPPED_LIMIT_BYTES - MARGIN_BYTES


def copy_code(project: Path, dest: Path) -> Path:
    """The function code asset as deployed (:mod:`layers.code`)."""
    return write_code(project, dest)


def code_bytes(project: Path = PROJECT_ROOT) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        return tree_bytes(copy_code(project, Path(tmp)))


@dataclass(frozen=True)
class FunctionBudget:
    name: str
    layers: tuple[str, ...]
    code_bytes: int
    layer_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.code_bytes + self.layer_bytes

    @property
    def fits(self) -> bool:
        """Within Lambda's limit with the margin kept free, and within the layer count."""
        return self.total_bytes <= BUDGET_BYTES and len(self.layers) <= MAX_LAYERS


def function_budgets(manifest: dict, code: int) -> list[FunctionBudget]:
    from functions.catalog import FUNCTIONS

    budgets = []
    for spec in FUNCTIONS:
        layer_bytes = sum(manifest["layers"][layer]["final_bytes"] for layer in spec.layers)
        budgets.append(FunctionBudget(spec.name, tuple(spec.layers), code, layer_bytes))
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
    lines.append(
        f"Functions: code + layers, unzipped, vs Lambda's {UNZIPPED_LIMIT_BYTES:,} bytes less a "
        f"{MARGIN_BYTES / MIB:.0f} MiB margin ({BUDGET_BYTES / MIB:.0f} MiB):"
    )
    for b in budgets:
        lines.append(
            f"  {b.name:16} {'+'.join(b.layers):44} code {b.code_bytes / MIB:5.1f} MiB"
            f"  total {b.total_bytes:>12,} ({b.total_bytes / MIB:6.1f} MiB)"
            f"  under the limit {(UNZIPPED_LIMIT_BYTES - b.total_bytes) / MIB:6.1f} MiB  {'OK' if b.fits else 'OVER'}"
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
