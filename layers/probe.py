"""Workloads run inside a clean interpreter whose only third-party code is the built layers (as on Lambda).

Run by the layer smoke tests and ``benchmarks/cold_start.py`` as

    python -I -S -B layers/probe.py MODE --path CODE --path LAYER/python ... --runtime RUNTIME/python [...]

``-I -S`` keep the virtualenv, the user site and ``PYTHON*`` variables out; ``-B`` writes no bytecode
(Lambda's ``/opt`` is read-only), so only the bytecode the build compiled is used. ``--path`` entries go
first on ``sys.path`` (code, then the layers, as ``/var/task`` and ``/opt/python``), ``--runtime`` last (the
stand-in for the runtime's boto3). Modes print one JSON object on stdout:

* ``fit``: fit the forecasting service on a synthetic target (14 days at 5 minutes) and save its artifacts
  (the trainer's job);
* ``serve``: import the forecaster's entry point, load the artifacts and serve one target's first forecast,
  timing each part (the cold start);
* ``smoke``: fit, then forecast with every model the forecaster uses, the holiday calendar and capacity
  learning (the trainer's); report where every module was loaded from and whether its bytecode came from the build;
* ``history``: read ``--target``'s history through ``functions.adapters.s3.S3Store`` from objects written by
  the development install (pyarrow) into the directory ``--objects`` (one file per key);
* ``forecasts``: fit on ``--targets`` synthetic series and print every model's forecast in full (compared
  with the same mode run by the development install);
* ``import``: import the given modules (handlers) and report where everything came from;
* ``light``: what the light functions do with only the ``common`` layer: contracts, Powertools, pydantic,
  ``models.api``, Parquet.

Only the standard library is imported at module level.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import sys
import sysconfig
import time
from datetime import datetime, timedelta

STEP_SECONDS = 300
HISTORY_DAYS = 14
HORIZON_STEPS = 288  # 24 h: the longest horizon the forecaster serves
ORIGIN = datetime(2026, 3, 2)  # a Monday
FORECASTER_ENTRY_POINTS = ("functions.handlers.forecaster", "models.service")


def synthetic_history(targets: int = 1, days: int = HISTORY_DAYS):  # type: ignore[no-untyped-def]
    """Load with daily and weekly seasons, a trend and noise: deterministic, like a web fleet's CPU."""
    import numpy as np
    import pandas as pd

    n = days * 86_400 // STEP_SECONDS
    t = np.arange(n)
    ds = pd.date_range(ORIGIN, periods=n, freq=f"{STEP_SECONDS}s")
    frames = []
    for k in range(targets):
        rng = np.random.default_rng(k)
        day = np.sin(2 * np.pi * t / (86_400 / STEP_SECONDS) - 1.2)
        week = np.where(ds.dayofweek >= 5, 0.7, 1.0)
        y = (40 + 5 * k) * (1 + 0.5 * day) * week + 0.002 * t + rng.normal(0, 1.5, n)
        frames.append(pd.DataFrame({"unique_id": f"target-{k}", "ds": ds, "y": np.clip(y, 0, None)}))
    history = pd.concat(frames, ignore_index=True)
    now = ds[-1].to_pydatetime() + timedelta(seconds=STEP_SECONDS)
    return history, now


def import_entry_point() -> str:
    for name in FORECASTER_ENTRY_POINTS:
        if importlib.util.find_spec(name.rsplit(".", 1)[0]) and importlib.util.find_spec(name):
            importlib.import_module(name)
            return name
    raise ImportError(f"none of {FORECASTER_ENTRY_POINTS} is importable")


def module_origins(allowed: list[str], compiled: list[str]) -> dict[str, object]:
    """Where every loaded module came from (``allowed`` roots or the standard library), and whether each
    module under the ``compiled`` roots (code and layers) ran from build-time bytecode."""
    stdlib = {os.path.realpath(p) for p in (sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")) if p}
    roots = [os.path.realpath(p) for p in allowed]
    built = [os.path.realpath(p) for p in compiled]
    foreign: list[str] = []
    missing_pyc: list[str] = []
    checked = 0
    for name, module in sorted(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or name in ("__main__", "__mp_main__"):
            continue
        real = os.path.realpath(file)
        if any(real.startswith(root + os.sep) for root in stdlib):
            continue
        if not any(real.startswith(root + os.sep) for root in roots):
            foreign.append(f"{name}: {file}")
            continue
        if not any(real.startswith(root + os.sep) for root in built):
            continue
        if real.endswith(".pyc"):  # a layer's sourceless module: the build's bytecode is all there is
            checked += 1
        elif real.endswith(".py"):
            checked += 1
            cached = importlib.util.cache_from_source(real)
            if not os.path.exists(cached) or not _unchecked_hash(cached):
                missing_pyc.append(name)
    return {"foreign": foreign, "modules_checked": checked, "missing_pyc": missing_pyc}


def _unchecked_hash(pyc: str) -> bool:
    with open(pyc, "rb") as handle:
        header = handle.read(8)
    return header[:4] == importlib.util.MAGIC_NUMBER and int.from_bytes(header[4:8], "little") == 0b01


def loaded_libraries(fragment: str) -> list[str]:
    with open("/proc/self/maps") as maps:
        return sorted({line.split()[-1] for line in maps if fragment in line and line.split()[-1].startswith("/")})


def loaded_bytes(roots: list[str]) -> dict[str, int]:
    """Bytes of the files this process loaded from ``roots``: sources, bytecode, shared objects."""
    files: set[str] = set()
    for module in list(sys.modules.values()):
        for attr in ("__file__", "__cached__"):
            path = getattr(module, attr, None)
            if path and os.path.exists(path):
                files.add(os.path.realpath(path))
    with open("/proc/self/maps") as maps:
        files |= {os.path.realpath(line.split()[-1]) for line in maps if line.split()[-1].startswith("/")}
    real_roots = [os.path.realpath(r) + os.sep for r in roots]
    totals = {"source": 0, "bytecode": 0, "native": 0}
    for path in files:
        if not any(path.startswith(r) for r in real_roots):
            continue
        kind = "source" if path.endswith(".py") else "bytecode" if path.endswith(".pyc") else "native"
        totals[kind] += os.path.getsize(path)
    return totals


def cpu_seconds() -> float:
    """CPU time of this process so far (interpreter start included): less sensitive to a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_fit(args: argparse.Namespace) -> dict[str, object]:
    from models.service import ForecastEnsemble

    history, now = synthetic_history(args.targets)
    started = time.perf_counter()
    service = ForecastEnsemble(STEP_SECONDS).fit(history, now=now, events=[])
    fit_seconds = time.perf_counter() - started
    service.save(args.artifact)
    return {"fit_seconds": fit_seconds, "targets": args.targets, "skipped": service.skipped_}


def run_serve(args: argparse.Namespace) -> dict[str, object]:
    started = time.perf_counter()
    entry = import_entry_point()
    imported = time.perf_counter()
    from models.service import ForecastEnsemble

    service = ForecastEnsemble.load(args.artifact)
    loaded = time.perf_counter()
    history, now = synthetic_history(1)
    prepared = time.perf_counter()
    paths = service.forecast(history, now=now, horizon_steps=HORIZON_STEPS, events=[])
    served = time.perf_counter()
    path = paths["target-0"]
    return {
        "entry_point": entry,
        "import_seconds": imported - started,
        "load_seconds": loaded - imported,
        "forecast_seconds": served - prepared,
        "first_forecast_seconds": (loaded - imported) + (served - prepared),
        "total_seconds": (imported - started) + (loaded - imported) + (served - prepared),
        "peak_rss_mib": peak_rss_mib(),
        "cpu_seconds": cpu_seconds(),
        "model": getattr(path, "model", None),
        "steps": len(getattr(path, "p50", [])),
        "loaded_bytes": loaded_bytes(args.path),
    }


def run_smoke(args: argparse.Namespace) -> dict[str, object]:
    import numpy as np

    entry = import_entry_point()
    from models.service import ForecastEnsemble

    history, now = synthetic_history(2)
    service = ForecastEnsemble(STEP_SECONDS).fit(history, now=now, events=[])
    frame = service.predict(history, now=now, h=HORIZON_STEPS)
    models = sorted(c for c in frame.columns if c not in ("unique_id", "ds") and "-lo-" not in c and "-hi-" not in c)
    finite = {m: bool(np.all(np.isfinite(frame[m].to_numpy(dtype=float)))) for m in models}
    paths = service.forecast(history, now=now, horizon_steps=HORIZON_STEPS, events=[])
    forecasts = {
        uid: {
            "model": getattr(p, "model", None),
            "steps": len(getattr(p, "p50", [])),
            "reason": getattr(p, "reason", None),
        }
        for uid, p in paths.items()
    }

    import holidays

    christmas = datetime(2026, 12, 25).date() in holidays.country_holidays("US", years=2026)

    from functions.domain.capacity_model import learn_capacity_per_instance

    rng = np.random.default_rng(7)
    in_service = rng.integers(2, 10, 500).astype(float)
    utilization = rng.uniform(0.2, 0.9, 500)
    load = 120.0 * utilization * in_service * rng.normal(1.0, 0.03, 500)
    capacity = learn_capacity_per_instance(load, utilization, in_service)

    return {
        "entry_point": entry,
        "models": models,
        "finite": finite,
        "forecasts": forecasts,
        "holiday_calendar": christmas,
        "capacity_per_instance": capacity.capacity_per_instance,
        "sklearn_loaded": "sklearn" in sys.modules,
        "openmp": loaded_libraries("libgomp"),
        "origins": module_origins(args.path + args.runtime, args.path),
        "peak_rss_mib": peak_rss_mib(),
    }


def _quantiles(path: object) -> dict[str, object]:
    """A served path's quantiles in full, or what a target without a forecast says."""
    if not hasattr(path, "p50"):
        return {"no_forecast": repr(path)}
    return {q: getattr(path, q).tolist() for q in ("p50", "p90", "p99")} | {"model": getattr(path, "model", None)}


def run_forecasts(args: argparse.Namespace) -> dict[str, object]:
    """Every model's forecast of every series, in full: the layers must forecast as the full install does."""
    from models.service import ForecastEnsemble

    history, now = synthetic_history(args.targets)
    service = ForecastEnsemble(STEP_SECONDS).fit(history, now=now, events=[])
    frame = service.predict(history, now=now, h=HORIZON_STEPS)
    columns = sorted(c for c in frame.columns if c not in ("unique_id", "ds"))
    paths = service.forecast(history, now=now, horizon_steps=HORIZON_STEPS, events=[])
    return {
        "unique_id": frame["unique_id"].astype(str).tolist(),
        "ds": frame["ds"].astype(str).tolist(),
        "columns": {c: frame[c].to_numpy(dtype=float).tolist() for c in columns},
        "paths": {uid: _quantiles(p) for uid, p in paths.items()},
    }


class DirectoryObjects:
    """``functions.ports.archive.ObjectStore`` over a directory holding one file per key (read-only here)."""

    def __init__(self, root: str) -> None:
        self.root = root

    def put_new(self, key: str, body: bytes, *, content_type: str = "application/octet-stream") -> None:
        raise PermissionError(f"{key}: the probe only reads")

    def get(self, key: str) -> bytes:
        from functions.ports.errors import NotFoundError

        try:
            with open(os.path.join(self.root, key), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            raise NotFoundError("object", key) from None

    def list_keys(self, prefix: str, *, start_after: str = ""):  # type: ignore[no-untyped-def]
        keys = []
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                key = os.path.relpath(os.path.join(folder, name), self.root).replace(os.sep, "/")
                if key.startswith(prefix) and key > start_after:
                    keys.append(key)
        yield from sorted(keys)

    def uri(self, key: str) -> str:
        return f"file://{self.root}/{key}"


def run_history(args: argparse.Namespace) -> dict[str, object]:
    """What the forecaster and trainer read: a target's history, from objects the collector wrote."""
    from datetime import UTC

    from functions.adapters.s3 import S3Store

    store = S3Store(DirectoryObjects(args.objects))
    start = datetime.fromisoformat(args.start).replace(tzinfo=UTC)
    end = datetime.fromisoformat(args.end).replace(tzinfo=UTC)
    frame = store.read_history(args.target, start, end)
    return {
        "ds": frame["ds"].astype(str).tolist(),
        "y": frame["y"].to_numpy(dtype=float).tolist(),
        "pyarrow_loaded": "pyarrow" in sys.modules,
        "origins": module_origins(args.path + args.runtime, args.path),
    }


def run_light(args: argparse.Namespace) -> dict[str, object]:
    import io

    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq
    from aws_lambda_powertools import Logger, Metrics, Tracer
    from aws_lambda_powertools.utilities.parser import event_parser  # noqa: F401

    from events.contracts import ALL_CONTRACTS
    from models.api import ForecastPath

    Logger(service="probe")
    Metrics(namespace="probe", service="probe")
    Tracer(service="probe", disabled=True)
    frame = pd.DataFrame({"ds": pd.date_range(ORIGIN, periods=3, freq="5min"), "y": [1.0, 2.0, 3.0]})
    buffer = io.BytesIO()
    pq.write_table(__import__("pyarrow").Table.from_pandas(frame), buffer)
    parquet_ok = pq.read_table(io.BytesIO(buffer.getvalue())).to_pandas().equals(frame)
    path = ForecastPath("t", ORIGIN, pd.DatetimeIndex(frame["ds"]), np.ones(3), np.ones(3), np.ones(3), 0.5, "m")
    heavy = sorted(m for m in ("scipy", "statsforecast", "lightgbm", "sklearn", "statsmodels") if m in sys.modules)
    return {
        "contracts": len(ALL_CONTRACTS),
        "parquet_round_trip": parquet_ok,
        "forecast_path": path.quantile(0.95).tolist(),
        "heavy_modules_loaded": heavy,
        "origins": module_origins(args.path + args.runtime, args.path),
    }


def run_import(args: argparse.Namespace) -> dict[str, object]:
    """Import each ``--module`` (a handler): what a cold start does before the first event."""
    started = time.perf_counter()
    for name in args.module:
        importlib.import_module(name)
    heavy = sorted(m for m in ("scipy", "statsforecast", "lightgbm", "sklearn", "statsmodels") if m in sys.modules)
    return {
        "import_seconds": time.perf_counter() - started,
        "heavy_modules_loaded": heavy,
        "origins": module_origins(args.path + args.runtime, args.path),
    }


MODES = {
    "fit": run_fit,
    "serve": run_serve,
    "smoke": run_smoke,
    "forecasts": run_forecasts,
    "history": run_history,
    "light": run_light,
    "import": run_import,
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--path", action="append", default=[], help="first on sys.path (code, layers)")
    parser.add_argument("--runtime", action="append", default=[], help="last on sys.path (the runtime's boto3)")
    parser.add_argument("--artifact", default="")
    parser.add_argument("--objects", default="", help="a directory of stored objects (mode history)")
    parser.add_argument("--target", default="", help="the target whose history is read (mode history)")
    parser.add_argument("--start", default="", help="ISO time, UTC (mode history)")
    parser.add_argument("--end", default="", help="ISO time, UTC (mode history)")
    parser.add_argument("--targets", type=int, default=1)
    parser.add_argument("--module", action="append", default=[], help="modules to import (mode import)")
    args = parser.parse_args()
    sys.path[:0] = args.path
    sys.path.extend(args.runtime)
    result = MODES[args.mode](args)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
