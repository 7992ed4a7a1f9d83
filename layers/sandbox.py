"""Run ``layers/probe.py`` in a clean CPython 3.12 that sees only the function code and the chosen built layers.

The environment is Lambda's shape: code first on ``sys.path`` (``/var/task``), then the layers' ``python/``
(``/opt/python``), the runtime's boto3 last; the layers' ``lib/`` on ``LD_LIBRARY_PATH`` (``/opt/lib``); no
virtualenv, no user site, no ``PYTHON*`` variables, no bytecode writes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from layers.build import DEFAULT_OUT, LIB_DIR, PYTHON_DIR, arch_dir, layer_dirs, python312

PROBE = Path(__file__).with_name("probe.py")


class ProbeError(RuntimeError):
    """The probe failed; the message carries its stderr."""


def probe_command(
    mode: str,
    *,
    code_dir: Path,
    layers: list[str],
    arch: str,
    out: Path,
    extra: list[str],
    interpreter_flags: list[str] | None = None,
) -> list[str]:
    dirs = layer_dirs(out, arch)
    cmd = [python312(), "-I", "-S", "-B", *(interpreter_flags or []), str(PROBE), mode, "--path", str(code_dir)]
    for layer in layers:
        cmd += ["--path", str(dirs[layer] / PYTHON_DIR)]
    cmd += ["--runtime", str(arch_dir(out, arch) / "runtime" / PYTHON_DIR), *extra]
    return cmd


def probe_environment(layers: list[str], arch: str, out: Path) -> dict[str, str]:
    dirs = layer_dirs(out, arch)
    libs = [str(dirs[layer] / LIB_DIR) for layer in layers if (dirs[layer] / LIB_DIR).is_dir()]
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LD_LIBRARY_PATH": ":".join(libs),
        "OMP_WAIT_POLICY": "PASSIVE",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "forescale",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


def run_probe(
    mode: str,
    *,
    code_dir: Path,
    layers: list[str],
    arch: str = "x86_64",
    out: Path = DEFAULT_OUT,
    extra: list[str] | None = None,
    interpreter_flags: list[str] | None = None,
    timeout: float = 600,
) -> dict:
    """Run one probe ``mode``; ``interpreter_flags`` go to CPython (e.g. ``-X pycache_prefix=DIR``)."""
    cmd = probe_command(
        mode,
        code_dir=code_dir,
        layers=layers,
        arch=arch,
        out=out,
        extra=extra or [],
        interpreter_flags=interpreter_flags,
    )
    result = subprocess.run(
        cmd, env=probe_environment(layers, arch, out), capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise ProbeError(f"probe {mode} with {'+'.join(layers)} failed ({result.returncode}):\n{result.stderr[-6000:]}")
    lines = result.stdout.strip().splitlines()
    if not lines:
        raise ProbeError(f"probe {mode}: printed nothing\n{result.stderr[-3000:]}")
    parsed: dict = json.loads(lines[-1])
    return parsed
