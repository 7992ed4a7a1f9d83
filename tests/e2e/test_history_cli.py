"""``forescale history`` end to end: a target's metric on moto's CloudWatch server becomes a replay trace."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from forescale_tools.cli import main as forescale
from functions.adapters.cloudwatch import CloudWatchMetricsPublisher, MetricDatum
from functions.domain.trace import read_trace
from tests.conftest import REGION

pytestmark = pytest.mark.integration

# CloudWatch's retention counts back from the real clock the command reads: the window ends a day ago
END = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)


def cdk_json(tmp_path, namespace: str, balancer: str = "app/web/1") -> str:
    target = {
        "target_id": "web",
        "kind": "asg",
        "asg_name": "web-asg",
        "metric": {
            "namespace": namespace,
            "name": "RequestCount",
            "dimensions": {"LoadBalancer": balancer},
            "statistic": "Sum",
            "period_seconds": 60,
        },
        "capacity_per_instance": 1200,
        "min_capacity": 2,
        "max_capacity": 20,
    }
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"app": "python -m infra_cdk.app", "context": {"forescale:targets": [target]}}))
    return str(path)


def test_a_targets_metric_becomes_a_trace_the_replay_reads(tmp_path, moto_client, moto_endpoint, unique_name, capsys):
    # GIVEN six hours of one-minute request counts on CloudWatch, with minutes 100-109 never reported
    namespace = unique_name("Forescale/History")
    minutes = [m for m in range(360) if not 100 <= m < 110]
    load = {m: 500.0 + 100.0 * math.sin(m / 30) for m in minutes}
    start = END - timedelta(hours=6)
    CloudWatchMetricsPublisher(moto_client("cloudwatch")).publish(
        namespace,
        [
            MetricDatum("RequestCount", load[m], start + timedelta(minutes=m), {"LoadBalancer": "app/web/1"})
            for m in minutes
        ],
    )
    out = tmp_path / "web.csv"
    # WHEN the history of the target named in cdk.json is exported
    window = ["--days", "0.25", "--end", END.isoformat()]
    aws = ["--endpoint-url", moto_endpoint, "--region", REGION]
    code = forescale(["history", "web", "--targets", cdk_json(tmp_path, namespace), *window, "--out", str(out), *aws])
    # THEN the replay's trace reader reads every minute, the unreported ones as gaps, values unchanged
    assert code == 0
    trace = read_trace(out)
    assert trace.step_seconds == 60
    assert len(trace) == 360
    assert trace.ds[0] == start.replace(tzinfo=None)
    assert np.isnan(trace.y[100:110]).all()
    expected = np.array([load.get(m, np.nan) for m in range(360)])
    np.testing.assert_allclose(trace.y, expected, equal_nan=True)
    printed = capsys.readouterr().out
    assert "350 steps of 60 s" in printed and "(10 without data: gaps)" in printed
    assert "forescale replay" in printed and "--capacity-per-instance 1200.0 --boot-seconds 300" in printed


def test_an_unknown_target_or_a_silent_metric_is_a_clear_error(tmp_path, moto_endpoint, unique_name, capsys):
    # (a namespace and a dimension of their own: moto's GetMetricData matches metrics by name and dimensions)
    targets = cdk_json(tmp_path, unique_name("Forescale/Empty"), unique_name("app/empty"))
    common = ["--targets", targets, "--end", END.isoformat(), "--endpoint-url", moto_endpoint, "--region", REGION]
    assert forescale(["history", "api", "--out", str(tmp_path / "a.csv"), *common]) == 2
    assert "target_id: 'api' is not in" in capsys.readouterr().err
    assert forescale(["history", "web", "--days", "30", "--out", str(tmp_path / "b.csv"), *common]) == 2
    assert "days: CloudWatch keeps 60-second data for 15 days" in capsys.readouterr().err
    # a metric with no datapoints writes nothing and says so
    assert forescale(["history", "web", "--days", "1", "--out", str(tmp_path / "c.csv"), *common]) == 1
    assert "CloudWatch returned no datapoints" in capsys.readouterr().err
    assert not (tmp_path / "c.csv").exists()


def test_an_unreachable_cloudwatch_is_a_clear_error_not_a_traceback(tmp_path, unique_name, capsys):
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    args = ["--targets", cdk_json(tmp_path, unique_name("Forescale/Down")), "--days", "1", "--end", END.isoformat()]
    code = forescale(
        ["history", "web", *args, "--out", str(tmp_path / "d.csv"), "--endpoint-url", closed, "--region", REGION]
    )
    assert code == 1
    assert "web: CloudWatch GetMetricData failed: Could not connect to the endpoint URL" in capsys.readouterr().err
    assert not (tmp_path / "d.csv").exists()


def test_all_targets_each_get_a_trace_at_their_own_period(tmp_path, moto_client, moto_endpoint, unique_name, capsys):
    # GIVEN two targets on CloudWatch: web at 1 minute, api at 5 minutes (another metric), six hours each
    namespace, balancer = unique_name("Forescale/All"), unique_name("app/all")
    start = END - timedelta(hours=6)
    data = [
        MetricDatum("RequestCount", 10.0 + m, start + timedelta(minutes=m), {"LoadBalancer": balancer})
        for m in range(360)
    ]
    data += [MetricDatum("Latency", 1.0, start + timedelta(minutes=m), {"LoadBalancer": balancer}) for m in range(360)]
    CloudWatchMetricsPublisher(moto_client("cloudwatch")).publish(namespace, data)
    targets = json.loads(Path(cdk_json(tmp_path, namespace, balancer)).read_text())["context"]["forescale:targets"]
    api = targets[0] | {"target_id": "api", "asg_name": "api-asg"}
    api["metric"] = targets[0]["metric"] | {"name": "Latency", "statistic": "Average", "period_seconds": 300}
    listing = tmp_path / "targets.json"
    listing.write_text(json.dumps([*targets, api]))
    # WHEN every target's history is exported into one folder
    window = ["--days", "0.25", "--end", END.isoformat(), "--endpoint-url", moto_endpoint, "--region", REGION]
    code = forescale(["history", "--all", "--targets", str(listing), "--out", str(tmp_path / "traces"), *window])
    # THEN each target has its own trace at its own period, and its own replay command
    assert code == 0
    web, api_trace = read_trace(tmp_path / "traces" / "web.csv"), read_trace(tmp_path / "traces" / "api.csv")
    assert (web.step_seconds, len(web)) == (60, 360) and web.y[-1] == 369.0
    assert (api_trace.step_seconds, len(api_trace)) == (300, 72) and np.allclose(api_trace.y, 1.0)
    printed = capsys.readouterr().out
    assert printed.count("replay it with its own configuration") == 2
    # naming no target (and no --all) is refused
    assert forescale(["history", "--targets", str(listing), "--out", str(tmp_path / "x"), *window]) == 2
    assert "target_id: name one or more targets, or give --all" in capsys.readouterr().err
    # a target list without targets says so instead of writing nothing silently
    (tmp_path / "none.json").write_text("[]")
    assert forescale(["history", "--all", "--targets", str(tmp_path / "none.json"), "--out", str(tmp_path / "y")]) == 2
    assert "lists no targets" in capsys.readouterr().err


def test_no_region_anywhere_is_one_line_naming_the_option(tmp_path, unique_name, capsys, monkeypatch):
    # GIVEN no region in the options, the environment or the AWS configuration (before: NoRegionError traceback)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    args = ["--targets", cdk_json(tmp_path, unique_name("Forescale/NoRegion")), "--days", "1", "--end", END.isoformat()]
    # WHEN the history is asked for
    code = forescale(["history", "web", *args, "--out", str(tmp_path / "e.csv")])
    # THEN one line names --region and how to give it
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("forescale history: --region: ") and "AWS_REGION" in err, err
