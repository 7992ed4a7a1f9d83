"""``forescale replay`` end to end on a slice of the bundled real trace, with the real forecasting service."""

from __future__ import annotations

import csv
from pathlib import Path

from functions.cli import main as forescale
from functions.replay_cli import main

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
