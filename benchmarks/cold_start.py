"""Cold start of the forecaster: a fresh CPython 3.12 that sees only the function code and its layers.

Each run is a new interpreter (``python -I -S -B``, nothing from the virtualenv) that imports the
forecaster's entry point (``functions.handlers.forecaster``), loads the trainer's artifacts for one target
and serves its first forecast (24 h at 5 minutes) from 14 days of 5-minute history, with exactly the
forecaster's layers (``functions.catalog``: bytecode-only, as deployed). Printed: import time, first-forecast
time (artifact load + forecast), peak memory (``ru_maxrss``), the median of the runs, the layer sizes, and
how many bytes of the layers the run loaded. Wall times swell when other work shares the 2 cores; the
process's CPU time is printed beside them.

    python benchmarks/cold_start.py [--arch x86_64] [--runs 5] [--no-bytecode] [--handlers]

``--no-bytecode`` points CPython at an empty ``pycache_prefix``, so the code asset's bytecode is ignored (the
layers hold bytecode only). Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from functions.catalog import by_name
from layers.budget import copy_code
from layers.build import DEFAULT_OUT, PROJECT_ROOT, UNZIPPED_LIMIT_BYTES, build
from layers.sandbox import run_probe

MIB = 1 << 20
TARGET_SECONDS = 2.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="x86_64", help="must be this machine's architecture")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-bytecode", action="store_true", help="ignore the shipped bytecode")
    parser.add_argument("--handlers", action="store_true", help="also time every handler's cold import")
    args = parser.parse_args(argv)

    manifest = build(args.arch, args.out)
    layers = list(by_name("forecaster").layers)
    print(f"the forecaster's layers ({args.arch}, python{manifest['python']}), MiB unzipped [zip]:")
    for name in layers:
        layer = manifest["layers"][name]
        zipped = f" [{layer['zip_bytes'] / MIB:.1f}]" if layer.get("zip_bytes") else ""
        print(f"  {name:14} {layer['final_bytes'] / MIB:7.1f}{zipped}")
    total = sum(manifest["layers"][name]["final_bytes"] for name in layers)
    print(f"  {'together':14} {total / MIB:7.1f}")

    with tempfile.TemporaryDirectory() as tmp:
        code = copy_code(PROJECT_ROOT, Path(tmp) / "code")
        artifact = str(Path(tmp) / "artifact")
        common = {"code_dir": code, "layers": layers, "arch": args.arch, "out": args.out}
        fitted = run_probe("fit", **common, extra=["--artifact", artifact])
        print(f"trainer (one target, 14 days at 5 min): fit {fitted['fit_seconds']:.2f} s")
        flags = ["-X", f"pycache_prefix={Path(tmp) / 'no-pycache'}"] if args.no_bytecode else []
        runs = []
        for i in range(args.runs):
            result = run_probe("serve", **common, extra=["--artifact", artifact], interpreter_flags=flags)
            runs.append(result)
            print(
                f"run {i + 1}: import {result['import_seconds']:.3f} s ({result['entry_point']}), "
                f"first forecast {result['first_forecast_seconds']:.3f} s "
                f"(load {result['load_seconds']:.3f} + forecast {result['forecast_seconds']:.3f}), "
                f"import + first forecast {result['total_seconds']:.3f} s (CPU {result['cpu_seconds']:.3f} s), "
                f"peak RSS {result['peak_rss_mib']:.0f} MiB"
            )

    def median(key: str) -> float:
        return statistics.median(float(r[key]) for r in runs)

    label = "without bytecode" if args.no_bytecode else "with build-time bytecode"
    print(
        f"median of {args.runs} ({label}): import {median('import_seconds'):.3f} s, "
        f"first forecast {median('first_forecast_seconds'):.3f} s, "
        f"import + first forecast {median('total_seconds'):.3f} s (target <= {TARGET_SECONDS} s; "
        f"CPU time {median('cpu_seconds'):.3f} s), "
        f"peak RSS {median('peak_rss_mib'):.0f} MiB"
    )
    loaded = runs[-1]["loaded_bytes"]
    floor = loaded["bytecode"] + loaded["native"]
    print(
        f"files the run loaded from code + layers: sources {loaded['source'] / MIB:.1f} MiB, "
        f"bytecode {loaded['bytecode'] / MIB:.1f} MiB, shared objects {loaded['native'] / MIB:.1f} MiB; "
        f"bytecode + shared objects alone {floor / MIB:.1f} MiB vs the 250 MB zip limit "
        f"({UNZIPPED_LIMIT_BYTES / MIB:.1f} MiB)"
    )
    if args.handlers:
        print_handler_imports(args)
    return 0


def print_handler_imports(args: argparse.Namespace) -> None:
    """Cold import of every written handler with exactly its layers (median of 3): the init phase."""
    from functions.catalog import FUNCTIONS

    with tempfile.TemporaryDirectory() as tmp:
        code = copy_code(PROJECT_ROOT, Path(tmp) / "code")
        print("handler cold import with its layers (median of 3):")
        for spec in FUNCTIONS:
            module = spec.handler.rsplit(".", 1)[0]
            if not (PROJECT_ROOT / (module.replace(".", "/") + ".py")).exists():
                continue
            times = [
                run_probe(
                    "import",
                    code_dir=code,
                    layers=list(spec.layers),
                    arch=args.arch,
                    out=args.out,
                    extra=["--module", module],
                )["import_seconds"]
                for _ in range(3)
            ]
            print(f"  {spec.name:16} {'+'.join(spec.layers):32} {statistics.median(times):.3f} s")


if __name__ == "__main__":
    raise SystemExit(main())
