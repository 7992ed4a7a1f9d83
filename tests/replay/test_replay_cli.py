"""``forescale replay`` end to end on a slice of the bundled real trace, with the real forecasting service."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from forescale_tools.cli import main as forescale
from forescale_tools.replay_cli import main

ROOT = Path(__file__).parents[2]
TRACE = ROOT / "data" / "traces" / "nab" / "cpu_utilization_asg_misconfiguration.csv"


def _slice(path: Path, rows: int) -> Path:
    lines = TRACE.read_text().splitlines()[: rows + 1]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_replay_writes_csvs_picture_and_page(tmp_path, capsys):
    # GIVEN 2.5 days of the real ASG trace (5-minute steps)
    trace = _slice(tmp_path / "asg.csv", 720)
    out = tmp_path / "report"
    # WHEN it is replayed with a 2-day warm-up, forescale switched on 3 hours before scoring
    code = forescale(
        [
            "replay",
            str(trace),
            "--out",
            str(out),
            "--warmup-days",
            "2",
            "--forecast-lead-days",
            "0.125",
            "--no-progress",
        ]
    )
    # THEN it succeeds and prints the score table and where the report is
    assert code == 0
    printed = capsys.readouterr().out
    assert "under_time_pct" in printed and "cost_ratio" in printed
    for policy in ("predictive", "reactive", "oracle"):
        assert any(line.startswith(policy) for line in printed.splitlines())
    assert f"report: {out / 'report.html'}" in printed
    # and forescale's decisions and under-time per mode (forecast, reactive and why, alarm)
    assert "forescale mode" in printed and "reactive same min" in printed
    # one CSV per policy, one row per step, columns timestamp,desired,in_service
    for policy in ("predictive", "reactive", "oracle"):
        with (out / f"{policy}.csv").open() as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == ["timestamp", "desired", "in_service"]
        assert len(rows) == 721
        assert rows[1][0] == "2014-05-14T01:14:00Z"
        assert all(int(r[1]) >= 1 and int(r[2]) >= 0 for r in rows[1:])
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    assert 'src="data:image/png;base64,' in page and "<table>" in page and "predictive" in page
    assert "Largest scale-outs" in page
    # every forescale decision with its reason, one per decision interval from the switch-on
    with (out / "decisions.csv").open() as handle:
        decisions = list(csv.DictReader(handle))
    assert decisions and all(row["reason"] for row in decisions)
    assert {row["action"] for row in decisions} <= {"scale_out", "scale_in", "hold"}
    assert all(int(row["desired"]) >= 1 for row in decisions)
    assert str(out / "decisions.csv") in printed
    summary = (out / "summary.txt").read_text()
    assert "capacity_per_instance" in summary and "oracle" in summary
    # the SLO budget (auto: target tracking's on the trace's own last window) against what forescale spent
    assert "SLO budget: " in printed and "spent: " in printed and "SLO budget: " in summary
    assert all(float(row["margin"]) > 0 for row in decisions)


@pytest.mark.parametrize("value", ["lots", "0", "51", "nan"])
def test_a_bad_slo_budget_is_refused_naming_the_flag(tmp_path, capsys, value):
    trace = _slice(tmp_path / "asg.csv", 30)
    with pytest.raises(SystemExit) as stop:
        main([str(trace), "--out", str(tmp_path / "r"), "--slo-budget-pct", value])
    assert stop.value.code == 2
    assert "--slo-budget-pct" in capsys.readouterr().err


def test_every_scenario_option_is_a_flag(capsys):
    try:
        main(["--help"])
    except SystemExit as stop:
        assert stop.code == 0
    text = capsys.readouterr().out
    for flag in (
        "--capacity-per-instance",
        "--boot-seconds",
        "--min-instances",
        "--max-instances",
        "--target-utilization",
        "--slo-utilization",
        "--warmup-days",
        "--decision-interval-seconds",
        "--instance-hour-price",
        "--violation-minute-penalty",
    ):
        assert flag in text


def test_bad_input_exits_2_naming_the_problem(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("time,load\n2024-01-01T00:00:00Z,1\n")
    assert main([str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "header must be 'timestamp,value'" in capsys.readouterr().err
    trace = _slice(tmp_path / "asg.csv", 300)
    assert main([str(trace), "--out", str(tmp_path / "o"), "--policies", "reactive"]) == 2
    refused = capsys.readouterr().err
    assert "warmup_days" in refused and "step/s" not in refused  # refused before any progress bar is drawn
    assert main([str(trace), "--out", str(tmp_path / "o"), "--min-instances", "9", "--max-instances", "3"]) == 2
    assert "min_instances" in capsys.readouterr().err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_an_output_folder_that_cannot_be_written_is_refused_before_the_replay(tmp_path, capsys):
    # GIVEN a trace and --out naming a file (before: replayed to the end, then a traceback)
    trace = _slice(tmp_path / "asg.csv", 720)
    taken = tmp_path / "report.txt"
    taken.write_text("not a folder\n")
    common = ["--warmup-days", "2", "--no-progress", "--policies", "reactive"]
    # WHEN replayed THEN refused at once, naming --out and the reason
    assert main([str(trace), "--out", str(taken), *common]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("forescale replay: --out: ") and "not a folder" in line, line
    # GIVEN a folder whose report page is taken by a folder of the same name
    out = tmp_path / "report"
    (out / "report.html").mkdir(parents=True)
    assert main([str(trace), "--out", str(out), *common]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "--out: " in line and "report.html" in line, line
    # GIVEN a folder below a file: it cannot be created
    assert main([str(trace), "--out", str(taken / "sub"), *common]) == 2
    assert "--out: " in _one_line(capsys.readouterr().err)


def test_policies_that_name_none_or_an_unknown_one_are_refused(tmp_path, capsys):
    trace = _slice(tmp_path / "asg.csv", 720)
    # before: "--policies ," raised StopIteration
    for given, reason in ((",", "give at least one"), ("reactive,psychic", "'psychic'")):
        flags = ["--policies", given, "--warmup-days", "2", "--no-progress"]
        assert main([str(trace), "--out", str(tmp_path / "o"), *flags]) == 2
        line = _one_line(capsys.readouterr().err)
        assert line.startswith("forescale replay: --policies: ") and reason in line, line


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_number_option_that_is_not_finite_is_refused_naming_it(tmp_path, capsys, value):
    # GIVEN --warmup-days nan (before: a message naming no option)
    trace = _slice(tmp_path / "asg.csv", 720)
    assert main([str(trace), "--out", str(tmp_path / "o"), f"--warmup-days={value}", "--no-progress"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("forescale replay: --warmup-days: ") and "finite" in line, line


def test_a_step_forescale_does_not_scale_on_is_refused_naming_the_supported_range(tmp_path, capsys):
    # GIVEN a trace at 1-second steps (before: a raw pydantic message about LoadMetric period_seconds)
    trace = tmp_path / "seconds.csv"
    rows = [f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z,{100 + i % 7}" for i in range(600)]
    trace.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    assert main([str(trace), "--out", str(tmp_path / "o"), "--warmup-days", "0.001", "--no-progress"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "step 1 s" in line and "60 s to 3600 s" in line and "LoadMetric" not in line, line


def test_a_trace_in_local_time_across_a_daylight_saving_change_is_refused(tmp_path, capsys):
    # GIVEN the real trace's values stamped in Paris wall-clock time, without offset, across the night the
    # clocks go back (2024-10-27: 02:00-02:55 come twice)
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    values = [line.split(",")[1] for line in TRACE.read_text().splitlines()[1:721]]
    start = datetime(2024, 10, 25, 12, tzinfo=UTC)
    rows = [
        f"{(start + timedelta(minutes=5 * i)).astimezone(ZoneInfo('Europe/Paris')):%Y-%m-%d %H:%M:%S},{value}"
        for i, value in enumerate(values)
    ]
    trace = tmp_path / "local.csv"
    trace.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    # WHEN it is replayed (before: read as UTC without a word)
    assert main([str(trace), "--out", str(tmp_path / "o"), "--warmup-days", "1", "--no-progress"]) == 2
    # THEN one line names the line of the file, the reason and the fix
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("forescale replay: line ") and "daylight-saving" in line and "offset" in line, line
