"""Build forescale's Lambda layers from ``uv.lock``, reproducibly, for the python3.12 runtime.

Five layers; a distribution goes to the first layer (in this order) that needs it and never into another,
so a function holds numpy, pandas and scipy once. ``functions.catalog`` says which function gets which:

* ``common``: what every function needs: the project's runtime dependencies (Powertools with Tracer and
  Parser, pydantic), numpy and pandas (``models.api``).
* ``arrow``: pyarrow, for the functions that write and read the Parquet history and audit trail.
* ``statsforecast``: statsforecast and what it pulls in beyond ``common`` (scipy, statsmodels, coreforecast),
  without its optional distributed backend (fugue, which pulls in pyarrow): see :data:`NOT_SHIPPED` and
  :func:`patch_statsforecast`.
* ``lightgbm``: the rest of the ``ml`` dependency group (lightgbm, holidays) and the OpenMP runtime LightGBM
  links against (``lib/libgomp.so.1``; the python3.12 runtime has none, ``/opt/lib`` is on its
  ``LD_LIBRARY_PATH``).
* ``fastparquet``: the forecasting functions' Parquet reader (pyarrow does not fit beside statsforecast).

boto3, botocore, s3transfer and urllib3 come with the Lambda runtime and are left out; the build keeps them
in ``<out>/<arch>/runtime/python`` as a stand-in for ``/var/runtime`` so that tests can import like Lambda.

Each layer is installed from the pinned, hashed requirements that ``uv export`` writes from the lock,
trimmed (tests, caches, stubs, sources and headers, optional pyarrow components, example data sets),
stripped (shared objects outside ``*.libs``), compiled to bytecode for CPython 3.12 with the Python sources
removed (bytecode-only: the forecasting functions need the room), zipped deterministically
and measured at every stage into ``manifest.json``. A build whose inputs (lock, pyproject, this package)
did not change is reused.

    python -m layers.build --arch x86_64|arm64 [--out layers/build] [--force] [--no-zip]
"""

from __future__ import annotations

import argparse
import csv
import email.parser
import fcntl
import fnmatch
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = PROJECT_ROOT / "layers" / "build"
#: Bumped whenever the build's output changes in a way the hashed inputs do not show.
BUILD_FORMAT = 3

PYTHON_VERSION = "3.12"
#: The python3.12 runtime runs on Amazon Linux 2023 (glibc 2.34): wheels up to manylinux_2_34 load there.
ARCHES: dict[str, tuple[str, str]] = {
    "x86_64": ("x86_64-manylinux_2_34", "x86_64"),
    "arm64": ("aarch64-manylinux_2_34", "aarch64"),
}
#: ELF ``e_machine`` of each architecture: every shared object shipped must match it.
ELF_MACHINE = {"x86_64": 62, "arm64": 183}
LAYER_ORDER: tuple[str, ...] = ("common", "arrow", "statsforecast", "lightgbm", "fastparquet")
#: In every Lambda Python runtime already; shipping them would only add size (and shadow the runtime's copy).
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "urllib3"})
#: Added to the project's own runtime dependencies in ``common``: every function's code handles frames.
COMMON_DATA_STACK = ("numpy", "pandas")
#: The roots of the layers after ``common``; ``lightgbm`` takes the rest of the ``ml`` group.
NAMED_ROOTS: dict[str, tuple[str, ...]] = {
    "arrow": ("pyarrow",),
    "statsforecast": ("statsforecast",),
    "fastparquet": ("fastparquet",),
}
#: Locked (the development install uses them) but shipped in no layer, with the reason. What only they need
#: is left out too; the build fails if a layer still needs one of them.
NOT_SHIPPED: dict[str, str] = {
    "fugue": "statsforecast's optional distributed backend (StatsForecast on Spark/Dask/Ray): forescale calls "
    "statsforecast's models directly, and fugue brings triad, adagio and pyarrow (78 MiB)",
    "scikit-learn": "no Lambda function uses it (capacity learning fits its Huber regression with scipy; the "
    "IsolationForest anomaly option is for the forescale tools); its wheel is only the source of libgomp",
}
#: Lambda's quota: a function's code and all its layers, unzipped.
UNZIPPED_LIMIT_BYTES = 262_144_000
#: Directory names Lambda puts on ``sys.path`` and ``LD_LIBRARY_PATH`` from a layer (``/opt/python``, ``/opt/lib``).
PYTHON_DIR = "python"
LIB_DIR = "lib"

# --------------------------------------------------------------------------------------------------
# Trimming rules. Each rule says why the files are not needed at run time; tests/layers prove the built
# layers still import and forecast without them.
# --------------------------------------------------------------------------------------------------

#: Directories removed wherever they appear.
TRIM_DIR_NAMES: dict[str, str] = {
    "tests": "test suites",
    "__pycache__": "bytecode caches (rebuilt below for CPython 3.12)",
}
#: Files removed by suffix.
TRIM_SUFFIXES: dict[str, str] = {
    ".pyi": "type stubs",
    ".pyx": "Cython sources",
    ".pxd": "Cython declarations",
    ".pxi": "Cython includes",
    ".h": "C headers",
    ".hpp": "C++ headers",
    ".c": "C sources",
    ".cpp": "C++ sources",
    ".a": "static libraries (for building extensions)",
}
TRIM_FILE_NAMES: dict[str, str] = {"conftest.py": "pytest configuration"}
#: Directories whose data files (everything but Python modules) are removed; the modules still import.
TRIM_DATA_DIRS: dict[str, str] = {"statsmodels/datasets": "statsmodels example data sets"}
#: Paths (globs relative to ``python/``) removed with their reason.
TRIM_GLOBS: tuple[tuple[str, str], ...] = (
    ("*-stubs", "type stub packages"),
    ("bin", "console scripts (a Lambda function never runs them)"),
    ("numpy/_core/include", "headers for building extensions"),
    ("numpy/_core/lib", "static npymath and pkg-config files for building extensions"),
    ("pyarrow/include", "Arrow C++ headers"),
    ("pyarrow/src", "Arrow C++ sources"),
    ("pyarrow/includes", "Cython declarations"),
    # Optional pyarrow components: nothing in the layers imports them (pyarrow.fs guards each import).
    ("pyarrow/*flight*", "Arrow Flight RPC (unused)"),
    ("pyarrow/libarrow_s3.so*", "pyarrow's own S3 filesystem (boto3 reads S3 here)"),
    ("pyarrow/_s3fs.*", "pyarrow's own S3 filesystem (boto3 reads S3 here)"),
    ("pyarrow/_gcsfs.*", "Google Cloud Storage filesystem (unused)"),
    ("pyarrow/_azurefs.*", "Azure filesystem (unused)"),
    ("pyarrow/_hdfs.*", "HDFS filesystem (unused)"),
    ("pyarrow/_orc.*", "ORC format (unused)"),
    ("pyarrow/_dataset_orc.*", "ORC format (unused)"),
    ("pyarrow/orc.py", "ORC format (unused)"),
    ("pyarrow/_pyarrow_cpp_tests.*", "pyarrow's C++ test hooks"),
    # Example data sets: read only by load_*() helpers that the functions never call.
    ("sklearn/datasets/data", "scikit-learn example data sets"),
    ("sklearn/datasets/images", "scikit-learn example images"),
    ("sklearn/datasets/descr", "scikit-learn example data set descriptions"),
)


# --------------------------------------------------------------------------------------------------
# Distributions and the split into layers
# --------------------------------------------------------------------------------------------------


@dataclass
class Distribution:
    """One installed wheel: its name, version, requirements and the files its RECORD lists."""

    name: str
    version: str
    requires: list[Requirement]
    files: list[str]

    @classmethod
    def read(cls, dist_info: Path) -> Distribution:
        meta = email.parser.Parser().parsestr((dist_info / "METADATA").read_text(encoding="utf-8"))
        with (dist_info / "RECORD").open(newline="", encoding="utf-8") as handle:
            files = [row[0] for row in csv.reader(handle) if row and not row[0].startswith("..")]
        return cls(
            name=canonicalize_name(meta["Name"]),
            version=meta["Version"],
            requires=[Requirement(r) for r in meta.get_all("Requires-Dist") or []],
            files=files,
        )


def read_distributions(site: Path) -> dict[str, Distribution]:
    dists = [Distribution.read(p) for p in sorted(site.glob("*.dist-info"))]
    return {d.name: d for d in dists}


def marker_environment(machine: str) -> dict[str, str]:
    """PEP 508 marker values of the Lambda python3.12 runtime on ``machine``."""
    return {
        "implementation_name": "cpython",
        "implementation_version": "3.12.0",
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": "3.12.0",
        "python_version": PYTHON_VERSION,
        "sys_platform": "linux",
    }


def _applies(req: Requirement, env: dict[str, str], extras: Iterable[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({**env, "extra": extra}) for extra in ("", *extras))


def closure(
    roots: Iterable[Requirement],
    dists: dict[str, Distribution],
    env: dict[str, str],
    taken: set[str],
    skipped: Iterable[str] = NOT_SHIPPED,
) -> set[str]:
    """Distributions that ``roots`` need, minus those already ``taken`` by earlier layers or the runtime and
    the ``skipped`` ones (not followed either)."""
    skipped = frozenset(skipped)
    found: set[str] = set()
    todo: list[tuple[Requirement, tuple[str, ...]]] = [(r, ()) for r in roots]
    while todo:
        req, parent_extras = todo.pop()
        if not _applies(req, env, parent_extras):
            continue
        name = canonicalize_name(req.name)
        if name in RUNTIME_PROVIDED or name in taken or name in skipped:
            continue
        dist = dists.get(name)
        if dist is None:
            raise BuildError(f"{req}: required but not in the lock export (is uv.lock up to date?)")
        if req.specifier and not req.specifier.contains(Version(dist.version), prereleases=True):
            raise BuildError(f"{req}: the lock pins {name}=={dist.version}")
        extras = tuple(sorted(req.extras))
        key = f"{name}[{','.join(extras)}]"
        if key in found:
            continue
        found.add(key)
        todo.extend((sub, extras) for sub in dist.requires)
    return {k.split("[", 1)[0] for k in found}


def layer_roots(pyproject: dict) -> dict[str, list[Requirement]]:
    """The roots of each layer, read from pyproject so that a new ``ml`` dependency lands in a layer by itself."""
    common = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    common += [Requirement(name) for name in COMMON_DATA_STACK]
    named = {canonicalize_name(n) for names in NAMED_ROOTS.values() for n in names}
    ml_group = [Requirement(r) for r in pyproject["dependency-groups"]["ml"]]
    rest = [r for r in ml_group if canonicalize_name(r.name) not in named | set(COMMON_DATA_STACK) | set(NOT_SHIPPED)]
    roots = {"common": common, "lightgbm": rest}
    roots.update({layer: [Requirement(n) for n in names] for layer, names in NAMED_ROOTS.items()})
    return {layer: roots[layer] for layer in LAYER_ORDER}


def split_into_layers(dists: dict[str, Distribution], pyproject: dict, machine: str) -> dict[str, list[str]]:
    """Assign every locked distribution to the first layer that needs it (or to the runtime), and check that
    every function's layers hold everything its layers' roots need."""
    env = marker_environment(machine)
    roots = layer_roots(pyproject)
    taken: set[str] = set()
    layers: dict[str, list[str]] = {}
    for layer in LAYER_ORDER:
        names = closure(roots[layer], dists, env, taken)
        layers[layer] = sorted(names)
        taken |= names
    left_out = closure([Requirement(n) for n in NOT_SHIPPED], dists, env, taken, skipped=())
    stray = sorted(set(dists) - taken - left_out - RUNTIME_PROVIDED)
    if stray:
        raise BuildError(f"locked but needed by no layer: {', '.join(stray)} (add it to a layer's roots)")
    check_function_layers(layers, roots, dists, env)
    return layers


def check_function_layers(
    layers: dict[str, list[str]], roots: dict[str, list[Requirement]], dists: dict[str, Distribution], env: dict
) -> None:
    """Each function of ``functions.catalog`` gets, from its own layers, every distribution they need (a
    distribution lands in the first layer that needs it, which a function might not have)."""
    from functions.catalog import FUNCTIONS

    for spec in FUNCTIONS:
        needed = closure([r for layer in spec.layers for r in roots[layer]], dists, env, set())
        present = {name for layer in spec.layers for name in layers[layer]}
        missing = sorted(needed - present)
        if missing:
            raise BuildError(f"function {spec.name}: its layers {'+'.join(spec.layers)} lack {', '.join(missing)}")


# --------------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------------


class BuildError(RuntimeError):
    """The layers cannot be built as asked; the message says which input is wrong."""


def run(
    cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, text=True, capture_output=True, check=False, cwd=cwd, env=env)
    if result.returncode != 0:
        raise BuildError(f"{' '.join(cmd[:4])} ... failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def uv_command() -> list[str]:
    """``uv`` on PATH, else ``python -m uv`` of a Python that has it (what scripts/bootstrap.sh installs)."""
    found = shutil.which("uv")
    # a pyenv shim is on PATH even when the active version has no uv: ask it before trusting it
    if found is not None and subprocess.run([found, "--version"], capture_output=True, check=False).returncode == 0:
        return [found]
    for python in ("python3.12", "python3"):
        interpreter = shutil.which(python)
        if interpreter is None:
            continue
        probe = subprocess.run([interpreter, "-m", "uv", "--version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [interpreter, "-m", "uv"]
    raise BuildError("uv: not found on PATH nor as a module (the build installs from uv.lock with uv)")


def export_requirements(project: Path) -> str:
    """Pinned, hashed requirements of the runtime dependencies and the ``ml`` group, straight from the lock."""
    cmd = [*uv_command(), "export", "--frozen", "--no-emit-project", "--no-default-groups", "--group", "ml"]
    cmd += ["--no-header", "--no-annotate", "--format", "requirements-txt"]
    return run(cmd, cwd=project, env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"}).stdout


def install(requirements: Path, target: Path, arch: str) -> None:
    """Install the exact wheels for the target platform (no resolution: ``--no-deps``, hashes required)."""
    platform_tag = ARCHES[arch][0]
    cmd = [*uv_command(), "pip", "install", "--target", str(target), "--no-deps", "--require-hashes"]
    cmd += ["--python-platform", platform_tag, "--python-version", PYTHON_VERSION, "--only-binary", ":all:"]
    # Copies, never hard links into uv's cache: stripping below rewrites files in place.
    cmd += ["--link-mode", "copy", "--no-compile", "-r", str(requirements)]
    run(cmd, env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"})


def move_distribution(dist: Distribution, site: Path, dest: Path) -> None:
    for rel in dist.files:
        src = site / rel
        if not src.exists():
            continue
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, out)


def tree_bytes(root: Path) -> int:
    """What Lambda counts: the sum of the regular files' sizes."""
    return sum(p.stat().st_size for p in walk_files(root))


def walk_files(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            if path.is_file() and not path.is_symlink():
                yield path


@dataclass
class Removal:
    reason: str
    files: int = 0
    bytes: int = 0


def _remove(path: Path, reason: str, removed: dict[str, Removal]) -> None:
    entry = removed.setdefault(reason, Removal(reason))
    if path.is_dir():
        for f in walk_files(path):
            entry.files += 1
            entry.bytes += f.stat().st_size
        shutil.rmtree(path)
    elif path.exists():
        entry.files += 1
        entry.bytes += path.stat().st_size
        path.unlink()


def trim(python_dir: Path) -> dict[str, Removal]:
    """Remove what is not needed at run time (see the TRIM_* rules above)."""
    removed: dict[str, Removal] = {}
    for pattern, reason in TRIM_GLOBS:
        for path in sorted(python_dir.glob(pattern)):
            _remove(path, reason, removed)
    for data_dir, reason in TRIM_DATA_DIRS.items():
        for path in sorted(walk_files(python_dir / data_dir)):
            if path.suffix != ".py":
                _remove(path, reason, removed)
    for dirpath, dirs, files in os.walk(python_dir, topdown=True):
        for name in list(dirs):
            if name in TRIM_DIR_NAMES:
                _remove(Path(dirpath, name), TRIM_DIR_NAMES[name], removed)
                dirs.remove(name)
        for name in files:
            suffix = Path(name).suffix
            if name in TRIM_FILE_NAMES:
                _remove(Path(dirpath, name), TRIM_FILE_NAMES[name], removed)
            elif suffix in TRIM_SUFFIXES:
                _remove(Path(dirpath, name), TRIM_SUFFIXES[suffix], removed)
    _remove_duplicate_libraries(python_dir, removed)
    return removed


def _remove_duplicate_libraries(python_dir: Path, removed: dict[str, Removal]) -> None:
    """Wheels cannot hold symlinks, so ``libX.so``, ``libX.so.N`` and ``libX.so.N.M.P`` arrive as three copies.

    The dynamic linker looks a library up by its soname (``libX.so.N``); the other copies only serve
    builds of extensions. Keep the ``libX.so.N`` copy.
    """
    by_stem: dict[tuple[Path, str], list[Path]] = {}
    for path in walk_files(python_dir):
        name = path.name
        if ".so" in name and not name.endswith(".py"):
            stem = name.split(".so", 1)[0]
            by_stem.setdefault((path.parent, stem), []).append(path)
    for (_parent, _stem), paths in by_stem.items():
        if len(paths) < 2:
            continue
        sonames = [p for p in paths if fnmatch.fnmatch(p.name, "*.so.[0-9]*") and p.name.count(".") == 2]
        if len(sonames) != 1:
            continue
        keep = sonames[0]
        digest = _sha256(keep)
        for other in paths:
            if other != keep and other.stat().st_size == keep.stat().st_size and _sha256(other) == digest:
                _remove(other, "duplicate copies of a shared library (kept the soname)", removed)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def is_elf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"\x7fELF"


def check_elf_architecture(layer_dir: Path, arch: str) -> int:
    """Every shared object in the layer is built for ``arch`` (a wrong wheel would only fail on Lambda)."""
    count = 0
    for path in walk_files(layer_dir):
        if ".so" not in path.name or not is_elf(path):
            continue
        with path.open("rb") as handle:
            header = handle.read(20)
        machine = int.from_bytes(header[18:20], "little")
        if machine != ELF_MACHINE[arch]:
            raise BuildError(f"{path.relative_to(layer_dir)}: ELF machine {machine}, not {arch}")
        count += 1
    return count


#: binutils' strip for each target architecture when the host is another (``binutils-<triple>`` packages).
CROSS_STRIP = {"x86_64": "x86_64-linux-gnu-strip", "arm64": "aarch64-linux-gnu-strip"}


def strip_tool(arch: str) -> str:
    """A strip that handles ``arch``'s ELF files: the host's own on Linux, else llvm-strip (any architecture,
    also versioned as ``llvm-strip-N``), else binutils for the target. Without one the build stops: the
    forecasting functions need their shared objects stripped to stay under 240 MiB (15 MiB on arm64)."""
    host = platform.machine()
    native = platform.system() == "Linux" and (
        (host == "x86_64" and arch == "x86_64") or (host in {"aarch64", "arm64"} and arch == "arm64")
    )
    versioned = sorted(
        {p.name for d in os.environ.get("PATH", "").split(os.pathsep) if d for p in Path(d).glob("llvm-strip-*")},
        reverse=True,
    )
    for candidate in (*(["strip"] if native else []), "llvm-strip", *versioned, CROSS_STRIP[arch]):
        found = shutil.which(candidate)
        if found is not None:
            return found
    raise BuildError(
        f"strip: nothing here strips {arch} shared objects; install llvm (llvm-strip) or binutils for "
        f"{ARCHES[arch][1]} (Debian/Ubuntu: apt-get install binutils-{ARCHES[arch][1].replace('_', '-')}-linux-gnu)"
    )


def strip_shared_objects(python_dir: Path, arch: str) -> tuple[int, int]:
    """``strip --strip-unneeded`` every shared object except those in ``*.libs`` (auditwheel's patched copies,
    which stripping breaks: "ELF load command address/offset not page-aligned"). Returns (files, bytes saved)."""
    tool = strip_tool(arch)
    targets = [
        p
        for p in walk_files(python_dir)
        if ".so" in p.name and not any(part.endswith(".libs") for part in p.parts) and is_elf(p)
    ]
    before = sum(p.stat().st_size for p in targets)
    for start in range(0, len(targets), 200):
        run([tool, "--strip-unneeded", *map(str, targets[start : start + 200])])
    after = sum(p.stat().st_size for p in targets)
    return len(targets), before - after


def add_openmp_runtime(staging: Path, layer_dir: Path) -> Path:
    """Put ``libgomp.so.1`` in the layer's ``lib/`` (``/opt/lib``): lib_lightgbm.so needs it and Lambda's
    python3.12 image has none. scikit-learn's wheel for the same platform vendors exactly this library."""
    vendored = sorted((staging / "scikit_learn.libs").glob("libgomp*.so*"))
    if not vendored:
        raise BuildError("libgomp: scikit-learn's wheel no longer vendors it; find another source for /opt/lib")
    target = layer_dir / LIB_DIR / "libgomp.so.1"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(vendored[0], target)
    return target


def python312() -> str:
    """A CPython 3.12 to compile bytecode with (its magic number must match the runtime's)."""
    if sys.version_info[:2] == (3, 12):
        return sys.executable
    for candidate in ("python3.12", str(PROJECT_ROOT / ".venv" / "bin" / "python")):
        found = shutil.which(candidate)
        if found:
            version = run([found, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"]).stdout.strip()
            if version == "True":
                return found
    raise BuildError("python3.12: needed to compile bytecode for the python3.12 runtime, none found")


def compile_bytecode(python_dir: Path, *, legacy: bool = False) -> None:
    """Compile every module to ``__pycache__/*.cpython-312.pyc`` with unchecked hashes.

    Lambda's ``/opt`` is read-only, so a layer without bytecode recompiles every module at each cold start.
    Unchecked-hash pycs are used as they are, without comparing the source's mtime (zip extraction does not
    keep it reliably), and their bytes do not depend on when they were built. Code objects name the files as
    Lambda sees them (``/opt/python/...``).
    """
    # One process and a fixed hash seed: marshal's output depends on what the compiling process did before
    # (reference flags) and on set ordering, so parallel workers or a random seed make unequal bytecode.
    cmd = [python312(), "-m", "compileall", "-q", "-j", "1", "--invalidation-mode", "unchecked-hash"]
    cmd += ["-b"] if legacy else []
    cmd += ["-s", str(python_dir), "-p", f"/opt/{PYTHON_DIR}", str(python_dir)]
    run(cmd, env={**os.environ, "PYTHONHASHSEED": "0"})


def bytecode_only(python_dir: Path) -> tuple[int, int]:
    """Compile every module to ``module.pyc`` beside its source, then remove the sources.

    Python imports a ``.pyc`` that stands where the ``.py`` would (sourceless import) and never looks at a
    source again, so the layer carries each module once. Tracebacks keep file names and line numbers but
    not the source lines. Returns (sources removed, their bytes).
    """
    compile_bytecode(python_dir, legacy=True)
    removed = count = 0
    for path in walk_files(python_dir):
        if path.suffix == ".py":
            if not path.with_suffix(".pyc").is_file():
                raise BuildError(f"{path.relative_to(python_dir)}: not compiled (a syntax error for Python 3.12?)")
            removed += path.stat().st_size
            count += 1
            path.unlink()
    return count, removed


#: ``statsforecast/__init__.py`` as the wheel ships it: the last line imports the fugue backend (and with it
#: pyarrow) on every ``import statsforecast.models``. A different file stops the build, to be re-checked.
STATSFORECAST_INIT = (
    "from importlib.metadata import version\n\n"
    '__version__ = version("statsforecast")\n'
    '__all__ = ["StatsForecast"]\n'
    "from .core import StatsForecast\n"
    "from .distributed import fugue  # noqa\n"
)
#: What the layer's ``statsforecast/__init__.py`` keeps: its version. ``statsforecast.models`` and
#: ``statsforecast.mstl`` (what forescale uses) import without the rest; ``StatsForecast`` (``core.py``) needs fugue.
STATSFORECAST_INIT_PATCHED = 'from importlib.metadata import version\n\n__version__ = version("statsforecast")\n'


#: ``import statsmodels.api`` (every statsmodels model, about 0.25 s of CPU at each cold start) replaced by
#: what the module uses: ``mstl.py`` only STL; ``arima.py`` (AutoARIMA, which forescale does not fit) gets
#: ``statsmodels.api`` on first use. (module, exact text, replacement); a text not found stops the build.
STATSMODELS_IMPORTS: tuple[tuple[str, str, str], ...] = (
    ("mstl.py", "import statsmodels.api as sm\n", "from statsmodels.tsa.seasonal import STL as _STL\n"),
    ("mstl.py", "sm.tsa.STL(", "_STL("),
    (
        "arima.py",
        "import statsmodels.api as sm\n",
        "class _StatsmodelsApi:  # forescale's layer build: imported on first use\n"
        "    def __getattr__(self, name):\n"
        "        import statsmodels.api\n\n"
        "        return getattr(statsmodels.api, name)\n\n\n"
        "sm = _StatsmodelsApi()\n",
    ),
)


def patch_statsforecast(python_dir: Path) -> list[str]:
    """Reduce ``statsforecast/__init__.py`` to its version, drop the modules that import fugue, and import
    from statsmodels only what is used (:data:`STATSMODELS_IMPORTS`); returns what changed
    (``tests/layers`` prove the models forecast as in the full install)."""
    package = python_dir / "statsforecast"
    init = package / "__init__.py"
    if init.read_text(encoding="utf-8") != STATSFORECAST_INIT:
        raise BuildError(f"{init}: not the __init__ this build knows how to reduce; re-check what it imports")
    init.write_text(STATSFORECAST_INIT_PATCHED, encoding="utf-8")
    shutil.rmtree(package / "distributed")  # the fugue and multiprocessing backends of StatsForecast
    (package / "core.py").unlink()  # StatsForecast itself: imports fugue, triad and tqdm
    for module, old, new in STATSMODELS_IMPORTS:
        path = package / module
        text = path.read_text(encoding="utf-8")
        if text.count(old) != 1:
            raise BuildError(f"{path}: expected {old.strip()!r} once; re-check how it uses statsmodels")
        path.write_text(text.replace(old, new), encoding="utf-8")
    if "statsmodels.api" in "".join(
        p.read_text(encoding="utf-8") for p in package.rglob("*.py") if p.name != "arima.py"
    ):
        raise BuildError(f"{package}: a module still imports statsmodels.api at import time")
    patched = sorted({f"statsforecast/{module}" for module, _, _ in STATSMODELS_IMPORTS})
    return ["statsforecast/__init__.py", "statsforecast/core.py", "statsforecast/distributed", *patched]


def zip_layer(layer_dir: Path, zip_path: Path) -> int:
    """A deterministic zip (sorted entries, fixed timestamps and modes) of the layer's directory."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = zip_path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(walk_files(layer_dir), key=lambda p: p.relative_to(layer_dir).as_posix()):
            info = zipfile.ZipInfo(path.relative_to(layer_dir).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as src, archive.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    tmp.replace(zip_path)
    return zip_path.stat().st_size


# --------------------------------------------------------------------------------------------------
# The build
# --------------------------------------------------------------------------------------------------


#: The recipe of the layers, relative to the project: the lock and this build script.
RECIPE_FILES = ("uv.lock", "layers/build.py")


def input_key(project: Path, arch: str) -> str:
    """Hash of everything the layers are made from: the lock, pyproject's dependency tables (the layers' roots),
    this build recipe and the target. A build is reused while it is unchanged, and the CDK assets of the
    layers are named by it (``infra_cdk.lambdas``), so they change exactly when a layer would."""
    digest = hashlib.sha256(f"{BUILD_FORMAT}:{arch}:{PYTHON_VERSION}".encode())
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    tables = {"dependencies": pyproject["project"]["dependencies"], "groups": pyproject.get("dependency-groups", {})}
    digest.update(json.dumps(tables, sort_keys=True).encode())
    for name in RECIPE_FILES:
        digest.update(name.encode())
        digest.update(hashlib.sha256((project / name).read_bytes()).digest())
    return digest.hexdigest()


@dataclass
class LayerReport:
    name: str
    packages: dict[str, str]
    raw_bytes: int = 0
    trimmed_bytes: int = 0
    stripped_bytes: int = 0
    final_bytes: int = 0
    files: int = 0
    shared_objects: int = 0
    zip_bytes: int | None = None
    sources_removed: int = 0
    patched: list[str] = field(default_factory=list)
    removed: list[dict[str, object]] = field(default_factory=list)


def arch_dir(out: Path, arch: str) -> Path:
    return out / arch


def load_manifest(out: Path, arch: str) -> dict | None:
    path = arch_dir(out, arch) / "manifest.json"
    if not path.exists():
        return None
    manifest: dict = json.loads(path.read_text())
    return manifest


def build(
    arch: str, out: Path = DEFAULT_OUT, *, project: Path = PROJECT_ROOT, force: bool = False, zipped: bool = True
) -> dict:
    """Build (or reuse) the layers for ``arch``; returns the manifest. Concurrent callers (test workers)
    wait for one another on a lock file, so the layers are built once."""
    if arch not in ARCHES:
        raise BuildError(f"arch: must be one of {', '.join(ARCHES)}, got {arch!r}")
    out.mkdir(parents=True, exist_ok=True)
    with (out / f".{arch}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_locked(arch, out, project=project, force=force, zipped=zipped)


def _build_locked(arch: str, out: Path, *, project: Path, force: bool, zipped: bool) -> dict:
    key = input_key(project, arch)
    existing = load_manifest(out, arch)
    if existing is not None and existing.get("key") == key and not force:
        print(f"layers/{arch}: up to date ({key[:12]}), reusing {arch_dir(out, arch)}", file=sys.stderr)
        return add_zips(out, arch, existing) if zipped else existing

    started = time.monotonic()
    root = arch_dir(out, arch)
    print(f"layers/{arch}: building from uv.lock into {root} (a minute or two)", file=sys.stderr)
    if root.exists():
        shutil.rmtree(root)
    staging = root / "staging"
    staging.mkdir(parents=True)
    requirements = root / "requirements.txt"
    requirements.write_text(export_requirements(project))
    install(requirements, staging, arch)

    dists = read_distributions(staging)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    split = split_into_layers(dists, pyproject, ARCHES[arch][1])

    reports: dict[str, LayerReport] = {}
    for layer, names in split.items():
        python_dir = root / layer / PYTHON_DIR
        python_dir.mkdir(parents=True)
        for name in names:
            move_distribution(dists[name], staging, python_dir)
        report = LayerReport(layer, {n: dists[n].version for n in names})
        report.raw_bytes = tree_bytes(root / layer)
        removed = trim(python_dir)
        report.removed = [
            {"reason": r.reason, "files": r.files, "bytes": r.bytes}
            for r in sorted(removed.values(), key=lambda r: -r.bytes)
        ]
        report.trimmed_bytes = tree_bytes(root / layer)
        if layer == "statsforecast":
            report.patched = patch_statsforecast(python_dir)
        strip_shared_objects(python_dir, arch)
        if layer == "lightgbm":
            add_openmp_runtime(staging, root / layer)
        report.stripped_bytes = tree_bytes(root / layer)
        report.shared_objects = check_elf_architecture(root / layer, arch)
        report.sources_removed = bytecode_only(python_dir)[1]
        report.final_bytes = tree_bytes(root / layer)
        report.files = sum(1 for _ in walk_files(root / layer))
        reports[layer] = report

    runtime_dir = root / "runtime" / PYTHON_DIR
    runtime_dir.mkdir(parents=True)
    for name in sorted(RUNTIME_PROVIDED & set(dists)):
        move_distribution(dists[name], staging, runtime_dir)
    compile_bytecode(runtime_dir)  # the runtime's own copy is compiled too: cold-start figures compare fairly
    shutil.rmtree(staging)

    manifest = {
        "key": key,
        "arch": arch,
        "python": PYTHON_VERSION,
        "platform": ARCHES[arch][0],
        "build_seconds": round(time.monotonic() - started, 1),
        "runtime_provided": {n: dists[n].version for n in sorted(RUNTIME_PROVIDED & set(dists))},
        "layer_order": list(LAYER_ORDER),
        "layers": {name: report.__dict__ for name, report in reports.items()},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"layers/{arch}: built in {manifest['build_seconds']} s ({key[:12]})", file=sys.stderr)
    return add_zips(out, arch, manifest) if zipped else manifest


def add_zips(out: Path, arch: str, manifest: dict) -> dict:
    """Zip the layers that have no zip yet (CDK zips its assets itself; these are for other tools and sizes)."""
    root = arch_dir(out, arch)
    changed = False
    for layer, report in manifest["layers"].items():
        path = root / "zip" / f"{layer}.zip"
        if report.get("zip_bytes") is None or not path.is_file():
            report["zip_bytes"] = zip_layer(root / layer, path)
            changed = True
    if changed:
        (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def layer_dirs(out: Path, arch: str) -> dict[str, Path]:
    """Each built layer's directory (its ``python/`` is what Lambda mounts at ``/opt/python``)."""
    return {layer: arch_dir(out, arch) / layer for layer in LAYER_ORDER}


def format_sizes(manifest: dict) -> str:
    mib = 1 << 20
    lines = [f"{'layer':14} {'raw':>9} {'trimmed':>9} {'stripped':>9} {'final':>9} {'zip':>9}  (MiB)"]
    for name in manifest["layer_order"]:
        layer = manifest["layers"][name]
        zipped = f"{layer['zip_bytes'] / mib:9.1f}" if layer.get("zip_bytes") else f"{'-':>9}"
        lines.append(
            f"{name:14} {layer['raw_bytes'] / mib:9.1f} {layer['trimmed_bytes'] / mib:9.1f} "
            f"{layer['stripped_bytes'] / mib:9.1f} {layer['final_bytes'] / mib:9.1f} {zipped}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m layers.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=sorted(ARCHES), default="arm64", help="Lambda architecture (default arm64)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default layers/build)")
    parser.add_argument("--force", action="store_true", help="rebuild even when the inputs did not change")
    parser.add_argument("--no-zip", action="store_true", help="skip the zip archives")
    args = parser.parse_args(argv)
    try:
        manifest = build(args.arch, args.out, force=args.force, zipped=not args.no_zip)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_sizes(manifest))
    print(f"built in {manifest['build_seconds']} s -> {arch_dir(args.out, args.arch)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
