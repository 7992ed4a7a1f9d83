"""Loaders for the shared real workload traces (../shared/traces) as :class:`Trace` objects.

Three source formats come to one shape (a regular grid, NaN for unknown load):

- NAB: ``timestamp,value`` CSV, read with :func:`functions.domain.trace.read_trace` unchanged.
- Data-centre aggregates (Alibaba 2018, Google 2019, Azure 2019): no clock, row ``i`` is at
  ``i * 300 s`` from :data:`AGGREGATE_ORIGIN`; the CPU column is the load.
- Bitbrains VMs: ``;`` + tab separated, ``Timestamp [ms]`` holds Unix *seconds* with ±1 s jitter;
  stamps are snapped to the nearest 300 s multiple, the rare pair landing on one slot is averaged,
  ``CPU usage [MHZ]`` is the load.
- 1-minute traces (AIOps 2018 KPIs, the 2021 Twitter stream): the ``.DERIVED.csv`` files, ``timestamp,value``
  one row per minute, read with :func:`functions.domain.trace.read_trace`. The Twitter stream has no licence:
  it is read where it lies and never copied into the repository.

The folder is not part of the repository: a missing folder or file is a :class:`SharedTracesMissingError` error
naming it. ``TRACES`` maps a short name to a loader; :func:`long_traces` lists those spanning enough days.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from functions.domain.trace import Trace, read_trace

#: The shared traces folder beside the repository (``<repo>/../shared/traces``).
TRACES_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "traces"
#: Arbitrary fixed origin of the traces that carry no clock (a Tuesday at midnight UTC).
AGGREGATE_ORIGIN = datetime(2019, 1, 1)
STEP_5_MIN = 300

NAB_FILES: dict[str, str] = {
    "asg_misconfiguration": "nab/realKnownCause/cpu_utilization_asg_misconfiguration.csv",
    "nyc_taxi": "nab/realKnownCause/nyc_taxi.csv",
    "grok_asg_anomaly": "nab/realAWSCloudwatch/grok_asg_anomaly.csv",
    "rds_cpu_cc0c53": "nab/realAWSCloudwatch/rds_cpu_utilization_cc0c53.csv",
    "rds_cpu_e47b3b": "nab/realAWSCloudwatch/rds_cpu_utilization_e47b3b.csv",
    "ec2_cpu_53ea38": "nab/realAWSCloudwatch/ec2_cpu_utilization_53ea38.csv",
    "ec2_cpu_5f5533": "nab/realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv",
    "elb_requests_8c0756": "nab/realAWSCloudwatch/elb_request_count_8c0756.csv",
    "ec2_network_in_257a54": "nab/realAWSCloudwatch/ec2_network_in_257a54.csv",
    "twitter_amzn": "nab/realTweets/Twitter_volume_AMZN.csv",
    "twitter_goog": "nab/realTweets/Twitter_volume_GOOG.csv",
}

AGGREGATE_FILES: dict[str, tuple[str, str]] = {
    "alibaba2018_cpu": (
        "datacenter_aggregates/alibaba2018/machine_usage_days_1_to_8_grouped_300_seconds.csv",
        "cpu_util_percent",
    ),
    "google2019_cpu": ("datacenter_aggregates/google2019/instance_usage_grouped_300_seconds_month.csv", "avg_cpu"),
    "azure2019_cpu": ("datacenter_aggregates/azure_v2/vm_cpu_readings_month_aggregated_cpu_mem.csv", "cpu_usage"),
}

BITBRAINS_VMS: tuple[str, ...] = ("411", "407", "228")

MINUTE_FILES: dict[str, str] = {
    "aiops_6d1114ae": "aiops2018_kpi/6d1114ae-be04-3c46-b5aa-be1a003a57cd.DERIVED.csv",
    "aiops_ffb82d38": "aiops2018_kpi/ffb82d38-5f00-37db-abc0-5d2e4e4cb6aa.DERIVED.csv",
    "twitter_stream_2021": "twitter_stream_2021/workload_1min.DERIVED.csv",
}


class SharedTracesMissingError(FileNotFoundError):
    """The shared traces folder, or one of its files, is not where the benchmarks read it."""


def shared_path(relative: str) -> Path:
    """The path of a file of the shared traces folder; a clear error when the folder or the file is missing."""
    if not TRACES_DIR.is_dir():
        raise SharedTracesMissingError(
            f"shared traces folder {TRACES_DIR} not found: the benchmarks read the public traces from "
            "../shared/traces beside the repository (see its README)"
        )
    path = TRACES_DIR / relative
    if not path.is_file():
        raise SharedTracesMissingError(f"shared trace {relative} not found in {TRACES_DIR}")
    return path


def nab_path(name: str) -> Path:
    """Path of a NAB file by its short name (also the file the replay and the CLI read)."""
    return shared_path(NAB_FILES[name])


def load_nab(name: str) -> Trace:
    """A NAB ``timestamp,value`` file, parsed by the project's trace reader."""
    return read_trace(nab_path(name), name=name)


def load_aggregate(name: str) -> Trace:
    """A data-centre aggregate: the CPU column, row ``i`` at ``AGGREGATE_ORIGIN + i * 300 s``."""
    relative, column = AGGREGATE_FILES[name]
    frame = pd.read_csv(shared_path(relative))
    if column not in frame.columns:
        raise ValueError(f"{relative}: column {column!r} missing (has {list(frame.columns)})")
    y = np.array(frame[column], dtype=float)
    y[~np.isfinite(y) | (y < 0)] = np.nan
    ds = pd.date_range(AGGREGATE_ORIGIN, periods=len(y), freq=pd.Timedelta(seconds=STEP_5_MIN))
    return Trace(ds=ds, y=y, step_seconds=STEP_5_MIN, name=name)


def load_bitbrains(vm: str) -> Trace:
    """One Bitbrains VM's ``CPU usage [MHZ]`` snapped onto the 300 s grid (see the module docstring)."""
    frame = pd.read_csv(shared_path(f"bitbrains/{vm}.csv"), sep=";\t", engine="python")
    frame.columns = [c.strip() for c in frame.columns]
    seconds = frame["Timestamp [ms]"].to_numpy(dtype=np.int64)
    slots = np.rint(seconds / STEP_5_MIN).astype(np.int64)
    values = pd.Series(frame["CPU usage [MHZ]"].to_numpy(dtype=float)).groupby(slots).mean()
    grid = np.arange(slots.min(), slots.max() + 1)
    y = np.array(values.reindex(grid), dtype=float)
    y[y < 0] = np.nan
    ds = pd.DatetimeIndex(pd.to_datetime(grid * STEP_5_MIN, unit="s"))
    ds = pd.date_range(ds[0], periods=len(grid), freq=pd.Timedelta(seconds=STEP_5_MIN))
    return Trace(ds=ds, y=y, step_seconds=STEP_5_MIN, name=f"bitbrains_{vm}")


def load_minute(name: str) -> Trace:
    """A 1-minute ``.DERIVED.csv`` (``timestamp,value``, an empty value for a missing minute), parsed as is."""
    return read_trace(shared_path(MINUTE_FILES[name]), name=name)


def _registry() -> dict[str, Callable[[], Trace]]:
    loaders: dict[str, Callable[[], Trace]] = {}
    for name in NAB_FILES:
        loaders[name] = cache(lambda n=name: load_nab(n))
    for name in AGGREGATE_FILES:
        loaders[name] = cache(lambda n=name: load_aggregate(n))
    for vm in BITBRAINS_VMS:
        loaders[f"bitbrains_{vm}"] = cache(lambda v=vm: load_bitbrains(v))
    for name in MINUTE_FILES:
        loaders[name] = cache(lambda n=name: load_minute(n))
    return loaders


#: Every shared trace by short name; each loader reads its file once and caches the Trace.
TRACES: dict[str, Callable[[], Trace]] = _registry()


def span_days(trace: Trace) -> float:
    """Length of the trace's grid in days."""
    return len(trace) * trace.step_seconds / 86_400


def long_traces(min_days: float = 14) -> dict[str, Trace]:
    """The traces whose grid spans at least ``min_days`` days, loaded."""
    loaded = {name: loader() for name, loader in TRACES.items()}
    return {name: trace for name, trace in loaded.items() if span_days(trace) >= min_days}


def resample(trace: Trace, step_seconds: int) -> Trace:
    """The trace at a coarser or finer step: mean when coarser, linear interpolation when finer.

    Used to bring nyc_taxi (30 min) to the 5-minute protocol; unknown load stays unknown.
    """
    if step_seconds == trace.step_seconds:
        return trace
    series = pd.Series(trace.y, index=trace.ds)
    rule = pd.Timedelta(seconds=step_seconds)
    if step_seconds > trace.step_seconds:
        out = series.resample(rule).mean()
    else:
        grid = pd.date_range(trace.ds[0], trace.ds[-1], freq=rule)
        out = series.reindex(grid).interpolate(limit_area="inside", limit=trace.step_seconds // step_seconds)
    return Trace(
        ds=pd.DatetimeIndex(out.index), y=np.array(out, dtype=float), step_seconds=step_seconds, name=trace.name
    )


if __name__ == "__main__":
    for trace_name, load in TRACES.items():
        t = load()
        print(
            f"{trace_name:24s} step={t.step_seconds:5d}s rows={len(t):6d} days={span_days(t):6.1f} "
            f"gaps={int(np.isnan(t.y).sum()):4d} mean={np.nanmean(t.y):.4g}"
        )
