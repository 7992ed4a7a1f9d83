"""``forescale local run TRACE.csv``: the documented local run works end to end and says what each stage did."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from forescale_tools import local_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def trace_csv(tmp_path):
    # two days and an hour at five minutes, with a sharp daily peak at 00:36
    ds = pd.date_range(datetime(2026, 3, 8), datetime(2026, 3, 10, 1), freq="5min", inclusive="left")
    hours = ds.hour + ds.minute / 60
    y = 100 + 900 * np.exp(-0.5 * ((hours - 0.6) / 0.15) ** 2)
    path = tmp_path / "trace.csv"
    pd.DataFrame({"timestamp": ds.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": y.round(3)}).to_csv(path, index=False)
    return path


def test_local_run_drives_both_fleets_and_reports_each_stage(moto_endpoint, trace_csv):
    out = io.StringIO()
    args = local_cli._parser().parse_args(
        ["run", str(trace_csv), "--minutes", "20", "--warmup-days", "2", "--endpoint", moto_endpoint]
    )
    # WHEN the local run replays 20 minutes after two days of warm-up
    code = local_cli.run(args, out)
    text = out.getvalue()
    # THEN every stage printed what it did, both fleets were decided for, and nothing was dead-lettered
    assert code == 0, text
    for stage in ("collector", "forecaster", "decider", "executor"):
        assert f" {stage} " in text, text
    assert "web:" in text and "api:" in text
    assert "dead-lettered invocations: 0" in text
    summary = text.split("ASG web desired")[1].strip().splitlines()
    assert len(summary) >= 4  # one row per decision interval, then the totals


def test_bad_trace_is_refused_with_the_reason(tmp_path, capsys):
    path = tmp_path / "short.csv"
    start = datetime(2026, 3, 8)
    rows = [f"{(start + timedelta(minutes=5 * i)).isoformat()}Z,{i}" for i in range(10)]
    path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    assert local_cli.main(["run", str(path), "--endpoint", "http://127.0.0.1:9"]) == 2
    assert "shorter than --warmup-days plus --minutes" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--warmup-days", "nan"], "--warmup-days"),  # before: "cannot convert float NaN to integer"
        (["--warmup-days", "-1"], "--warmup-days"),
        (["--minutes", "0"], "--minutes"),
        (["--p99-instances", "0"], "--p99-instances"),
        (["--boot-seconds", "-5"], "--boot-seconds"),
    ],
)
def test_a_bad_option_is_refused_naming_it_before_moto_starts(trace_csv, capsys, flags, named):
    # WHEN an option is out of range (the endpoint is closed: nothing may reach it)
    code = local_cli.main(["run", str(trace_csv), *flags, "--endpoint", "http://127.0.0.1:9"])
    # THEN one line names it, exit 2
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith(f"forescale local: {named}: "), err
