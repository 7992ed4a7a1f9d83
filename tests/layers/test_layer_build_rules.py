"""The layer build's rules on small, made-up inputs (no install): the split, the trimming, the zip."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from layers.build import (
    STATSFORECAST_INIT,
    BuildError,
    Distribution,
    bytecode_only,
    check_elf_architecture,
    closure,
    marker_environment,
    patch_statsforecast,
    python312,
    split_into_layers,
    strip_tool,
    trim,
    zip_layer,
)


def dist(name: str, *requires: str, version: str = "1.0") -> Distribution:
    return Distribution(name=name, version=version, requires=[Requirement(r) for r in requires], files=[])


PYPROJECT = {
    "project": {"dependencies": ["powertools", "boto3"]},
    "dependency-groups": {
        "ml": ["numpy", "statsforecast", "lightgbm", "pyarrow", "pandas", "scikit-learn", "holidays", "fastparquet"]
    },
}


def locked(*extra: Distribution) -> dict[str, Distribution]:
    """A lock shaped like forescale's: statsforecast needs fugue (which needs pyarrow), scikit-learn joblib."""
    return {
        d.name: d
        for d in [
            dist("powertools", "botocore"),
            dist("boto3", "botocore"),
            dist("botocore"),
            dist("numpy"),
            dist("pandas", "numpy"),
            dist("pyarrow"),
            dist("scipy", "numpy"),
            dist("statsforecast", "scipy", "pandas", "fugue"),
            dist("fugue", "triad"),
            dist("triad", "pyarrow", "fsspec"),
            dist("lightgbm", "scipy", "numpy", 'winonly; sys_platform == "win32"'),
            dist("scikit-learn", "scipy", "joblib"),
            dist("joblib"),
            dist("holidays"),
            dist("fastparquet", "pandas", "cramjam", "fsspec"),
            dist("cramjam"),
            dist("fsspec"),
            *extra,
        ]
    }


def test_a_shared_dependency_lands_once_in_the_first_layer_that_needs_it() -> None:
    # GIVEN statsforecast and lightgbm both needing scipy and numpy, and powertools needing botocore
    # WHEN split for the x86_64 runtime
    layers = split_into_layers(locked(), PYPROJECT, "x86_64")
    # THEN each distribution is in exactly one layer, the runtime's boto3/botocore in none, and fugue's chain
    # (statsforecast's distributed backend) and scikit-learn in none either
    assert layers == {
        "common": ["numpy", "pandas", "powertools"],
        "arrow": ["pyarrow"],
        "statsforecast": ["scipy", "statsforecast"],
        "lightgbm": ["holidays", "lightgbm"],
        "fastparquet": ["cramjam", "fastparquet", "fsspec"],
    }


def test_a_locked_package_that_no_layer_needs_is_refused() -> None:
    with pytest.raises(BuildError, match="stray"):
        split_into_layers(locked(dist("stray")), PYPROJECT, "x86_64")


def test_a_function_whose_layers_lack_a_dependency_is_refused() -> None:
    # GIVEN pyarrow and statsforecast both needing "shared": it lands in the arrow layer, which the
    # forecaster does not get
    dists = locked(dist("shared"))
    dists["pyarrow"] = dist("pyarrow", "shared")
    dists["statsforecast"] = dist("statsforecast", "scipy", "pandas", "shared")
    # WHEN split THEN the build stops naming the function and what it lacks
    with pytest.raises(BuildError, match=r"function forecaster: its layers .* lack shared"):
        split_into_layers(dists, PYPROJECT, "x86_64")


def test_statsforecast_keeps_its_version_and_loses_the_fugue_backend(tmp_path: Path) -> None:
    # GIVEN statsforecast as its wheel installs it
    package = tmp_path / "statsforecast"
    write(package / "__init__.py", STATSFORECAST_INIT.encode())
    write(package / "core.py", b"import fugue\n")
    write(package / "distributed" / "fugue.py", b"import fugue\n")
    write(package / "models.py", b"MODELS = 1\n")
    write(package / "mstl.py", b"import statsmodels.api as sm\n\nfit = sm.tsa.STL(x)\n")
    write(package / "arima.py", b"import statsmodels.api as sm\n\nmodel = sm.OLS(y, x)\n")
    # WHEN patched
    patch_statsforecast(tmp_path)
    # THEN the package still says its version, and nothing left imports fugue
    assert (package / "__init__.py").read_text().strip().endswith('__version__ = version("statsforecast")')
    assert not (package / "core.py").exists() and not (package / "distributed").exists()
    assert (package / "models.py").is_file()
    # AND statsmodels.api is not imported with the package: MSTL imports STL, ARIMA statsmodels.api when used
    assert (package / "mstl.py").read_text() == "from statsmodels.tsa.seasonal import STL as _STL\n\nfit = _STL(x)\n"
    arima = (package / "arima.py").read_text()
    assert arima.startswith("class _StatsmodelsApi:") and arima.endswith("model = sm.OLS(y, x)\n")
    compile(arima, "arima.py", "exec")


def test_statsforecast_using_statsmodels_differently_stops_the_build(tmp_path: Path) -> None:
    package = tmp_path / "statsforecast"
    write(package / "__init__.py", STATSFORECAST_INIT.encode())
    write(package / "core.py", b"")
    write(package / "distributed" / "fugue.py", b"")
    write(package / "mstl.py", b"import statsmodels.api as sm\n\nfit = sm.tsa.MSTL(x)\n")
    write(package / "arima.py", b"import statsmodels.api as sm\n")
    with pytest.raises(BuildError, match=r"mstl\.py: expected 'sm\.tsa\.STL\('"):
        patch_statsforecast(tmp_path)


def test_an_unknown_statsforecast_init_stops_the_build(tmp_path: Path) -> None:
    write(tmp_path / "statsforecast" / "__init__.py", STATSFORECAST_INIT.encode() + b"from .new import thing\n")
    with pytest.raises(BuildError, match="not the __init__ this build knows"):
        patch_statsforecast(tmp_path)


def test_a_bytecode_only_layer_imports_without_its_sources(tmp_path: Path) -> None:
    # GIVEN a package in a layer
    write(tmp_path / "pkg" / "__init__.py", b"from pkg.mod import VALUE\n")
    write(tmp_path / "pkg" / "mod.py", b"VALUE = 42\n")
    # WHEN compiled bytecode-only
    count, _ = bytecode_only(tmp_path)
    # THEN the sources are gone, and a Python 3.12 that writes no bytecode imports it from the .pyc files
    assert count == 2
    assert sorted(p.name for p in (tmp_path / "pkg").iterdir()) == ["__init__.pyc", "mod.pyc"]
    probe = "import pkg, pkg.mod; print(pkg.VALUE, pkg.mod.__file__.endswith('mod.pyc'))"
    out = subprocess.run(
        [python312(), "-I", "-S", "-B", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); {probe}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["42", "True"]


def test_a_missing_dependency_is_named() -> None:
    with pytest.raises(BuildError, match="scipy"):
        closure([Requirement("statsforecast")], {"statsforecast": dist("statsforecast", "scipy")}, {}, set())


def test_a_pin_outside_the_requirement_is_refused() -> None:
    dists = {"statsforecast": dist("statsforecast", "numpy>=2"), "numpy": dist("numpy", version="1.26")}
    with pytest.raises(BuildError, match=r"numpy==1\.26"):
        closure([Requirement("statsforecast")], dists, marker_environment("x86_64"), set())


def test_markers_follow_the_target_architecture_and_requested_extras() -> None:
    dists = {
        "tool": dist("tool", 'x86only; platform_machine == "x86_64"', 'tracing; extra == "tracer"'),
        "x86only": dist("x86only"),
        "tracing": dist("tracing"),
    }
    assert closure([Requirement("tool")], dists, marker_environment("aarch64"), set()) == {"tool"}
    assert closure([Requirement("tool[tracer]")], dists, marker_environment("x86_64"), set()) == {
        "tool",
        "x86only",
        "tracing",
    }


def write(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_trim_removes_what_runs_never_and_keeps_what_imports_need(tmp_path: Path) -> None:
    # GIVEN a layer with tests, stubs, headers, duplicate library copies and the files imports need
    py = tmp_path / "python"
    removable = [
        write(py / "pandas/tests/test_frame.py"),
        write(py / "pkg/__pycache__/mod.cpython-311.pyc"),
        write(py / "pkg/mod.pyi"),
        write(py / "pkg/_ext.pyx"),
        write(py / "numpy/_core/include/numpy/ndarrayobject.h"),
        write(py / "wrapt-stubs/__init__.pyi"),
        write(py / "pyarrow/libarrow_flight.so.2600"),
        write(py / "pyarrow/libarrow_python.so", b"same"),
        write(py / "pyarrow/libarrow_python.so.2600.1.0", b"same"),
        write(py / "statsmodels/datasets/co2/co2.csv"),
    ]
    kept = [
        write(py / "numpy/testing/__init__.py"),
        write(py / "statsforecast-2.1.1.dist-info/METADATA"),
        write(py / "pyarrow/libarrow_python.so.2600", b"same"),
        write(py / "pyarrow/libparquet.so.2600", b"other"),
        write(py / "statsmodels/datasets/co2/data.py"),
        write(py / "scipy.libs/libscipy_openblas.so"),
    ]
    # WHEN trimmed
    removed = trim(py)
    # THEN
    assert [p for p in removable if p.exists()] == []
    assert all(p.exists() for p in kept)
    assert sum(r.files for r in removed.values()) == len(removable)


def test_layer_zips_are_byte_for_byte_reproducible(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    write(layer / "python/b.py", b"print('b')\n")
    write(layer / "python/a/__init__.py", b"")
    (layer / "python/b.py").touch()
    first = tmp_path / "first.zip"
    zip_layer(layer, first)
    (layer / "python/a/__init__.py").touch()  # a newer mtime must not change the archive
    second = tmp_path / "second.zip"
    zip_layer(layer, second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert archive.namelist() == ["python/a/__init__.py", "python/b.py"]
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def elf_header(machine: int) -> bytes:
    return b"\x7fELF\x02\x01\x01" + bytes(11) + machine.to_bytes(2, "little") + bytes(44)


def test_a_shared_object_for_another_architecture_stops_the_build(tmp_path: Path) -> None:
    write(tmp_path / "python/pkg/_ext.cpython-312-x86_64-linux-gnu.so", elf_header(62))
    write(tmp_path / "python/pkg/data.so.txt", b"not an ELF file")
    assert check_elf_architecture(tmp_path, "x86_64") == 1
    with pytest.raises(BuildError, match=r"_ext\.cpython-312-x86_64-linux-gnu\.so"):
        check_elf_architecture(tmp_path, "arm64")


def test_without_a_strip_for_the_target_the_build_stops_naming_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a PATH with no strip tool at all
    monkeypatch.setenv("PATH", str(tmp_path))
    # THEN the arm64 build stops (unstripped, the forecasting functions would not fit 240 MiB)
    with pytest.raises(BuildError, match=r"binutils-aarch64-linux-gnu"):
        strip_tool("arm64")
    # AND binutils' cross strip for the target is used when it is there
    cross = write(tmp_path / "aarch64-linux-gnu-strip", b"#!/bin/sh\n")
    cross.chmod(0o755)
    assert strip_tool("arm64") == str(cross)
