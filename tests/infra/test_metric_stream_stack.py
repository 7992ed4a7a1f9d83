"""The metric stream's resources: CloudWatch streams the targets' metrics (by namespace and name, never per
target) through an encrypted Firehose delivery into the data bucket's ``metric-stream/`` prefix, which the
collector is told about and may read; each role reaches its one hop; the option turns it all off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from functions.domain.target import parse_targets
from infra_cdk.metric_stream import MAX_FILTER_NAMES, include_filters
from tests.infra.conftest import (
    CONTEXT,
    STATEFUL,
    STATELESS,
    Synthesized,
    _synthesize,
    as_list,
    function_ids,
    render,
    role_statements,
)

pytestmark = pytest.mark.integration


def only(resources: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    assert len(resources) == 1, sorted(resources)
    return next(iter(resources.items()))


def test_the_stream_sends_the_targets_metric_names_as_json_to_firehose(synthesized: Synthesized):
    # GIVEN the app synthesized with the tests' targets (two ELB RequestCount loads, an SQS metric, an expression)
    _, stream = only(synthesized.resources(STATELESS, "AWS::CloudWatch::MetricStream"))
    firehose_id, _ = only(synthesized.resources(STATELESS, "AWS::KinesisFirehose::DeliveryStream"))
    props = stream["Properties"]
    # THEN the stream is JSON to the delivery stream, filtered to each namespace's metric names (no dimensions)
    assert props["OutputFormat"] == "json"
    assert props["FirehoseArn"] == {"Fn::GetAtt": [firehose_id, "Arn"]}
    assert props["IncludeFilters"] == [
        {"Namespace": "AWS/ApplicationELB", "MetricNames": ["RequestCount"]},
        {"Namespace": "AWS/SQS", "MetricNames": ["NumberOfMessagesSent"]},
    ]
    assert "StatisticsConfigurations" not in props  # the default set (max, min, sum, count): no extra updates


def test_firehose_delivers_encrypted_every_minute_under_the_stream_prefix(synthesized: Synthesized):
    # GIVEN the delivery stream
    _, delivery = only(synthesized.resources(STATELESS, "AWS::KinesisFirehose::DeliveryStream"))
    props = delivery["Properties"]
    destination = props["ExtendedS3DestinationConfiguration"]
    # THEN it takes direct puts, encrypted, and writes plain JSON objects each minute under metric-stream/
    assert props["DeliveryStreamType"] == "DirectPut"
    assert props["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "AWS_OWNED_CMK"}
    assert destination["Prefix"] == "metric-stream/"
    assert destination["BufferingHints"]["IntervalInSeconds"] == 60
    assert destination["CompressionFormat"] == "UNCOMPRESSED"
    assert destination["BucketARN"] == {"Fn::ImportValue": f"{STATEFUL}-BucketArn"}  # the data bucket


def test_each_role_reaches_its_one_hop(synthesized: Synthesized):
    template = synthesized.templates[STATELESS]
    _, stream = only(synthesized.resources(STATELESS, "AWS::CloudWatch::MetricStream"))
    firehose_id, delivery = only(synthesized.resources(STATELESS, "AWS::KinesisFirehose::DeliveryStream"))
    stream_role = stream["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    delivery_role = delivery["Properties"]["ExtendedS3DestinationConfiguration"]["RoleARN"]["Fn::GetAtt"][0]
    # THEN CloudWatch may only put records into this delivery stream ...
    (put,) = role_statements(template, stream_role)
    assert sorted(put["Action"]) == ["firehose:PutRecord", "firehose:PutRecordBatch"]
    assert put["Resource"] == {"Fn::GetAtt": [firehose_id, "Arn"]}
    trust = template["Resources"][stream_role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"]["Service"] for s in trust] == ["streams.metrics.cloudwatch.amazonaws.com"]
    # ... and Firehose may only write objects under metric-stream/ (and see the bucket itself)
    statements = role_statements(template, delivery_role)
    writes = [s for s in statements if "s3:PutObject" in as_list(s["Action"])]
    assert len(writes) == 1 and render(writes[0]["Resource"]).endswith("/metric-stream/*")
    others = [render(r) for s in statements if s is not writes[0] for r in as_list(s["Resource"])]
    assert others and all(not r.endswith("*") for r in others), others
    trust = template["Resources"][delivery_role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"]["Service"] for s in trust] == ["firehose.amazonaws.com"]


def test_the_collector_is_told_where_to_read_and_may_read_there_only(synthesized: Synthesized):
    template = synthesized.templates[STATELESS]
    collector = template["Resources"][function_ids(template)["collector"]]
    # THEN its environment names the prefix ...
    assert collector["Properties"]["Environment"]["Variables"]["FORESCALE_METRIC_STREAM_PREFIX"] == "metric-stream/"
    # ... and no other function is told
    for name, logical in function_ids(template).items():
        if name != "collector":
            variables = template["Resources"][logical]["Properties"]["Environment"]["Variables"]
            assert "FORESCALE_METRIC_STREAM_PREFIX" not in variables, name


def test_the_stream_objects_expire_after_two_days(synthesized: Synthesized):
    buckets = synthesized.resources(STATEFUL, "AWS::S3::Bucket")
    rules = [
        rule
        for bucket in buckets.values()
        for rule in bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
        if rule.get("Prefix") == "metric-stream/"
    ]
    assert len(rules) == 1 and rules[0]["ExpirationInDays"] == 2


def test_the_option_turns_the_stream_off(tmp_path: Path, layers_dir: Path):
    from infra_cdk.app import build_app

    # GIVEN the app synthesized with forescale:metricStream=false
    context = {**CONTEXT, "forescale:layersDir": str(layers_dir), "forescale:metricStream": "false"}
    off = _synthesize(build_app(context, outdir=str(tmp_path / "off.out")))
    template = off.templates[STATELESS]
    # THEN there is no stream nor delivery, and the collector asks GetMetricData alone
    assert not off.resources(STATELESS, "AWS::CloudWatch::MetricStream")
    assert not off.resources(STATELESS, "AWS::KinesisFirehose::DeliveryStream")
    collector = template["Resources"][function_ids(template)["collector"]]
    assert "FORESCALE_METRIC_STREAM_PREFIX" not in collector["Properties"]["Environment"]["Variables"]


def test_the_filter_names_metrics_not_targets_and_stays_under_the_quota():
    def targets(metrics: list[tuple[str, str]], count: int) -> list[Any]:
        return parse_targets(
            [
                {
                    "target_id": f"t{i}",
                    "kind": "asg",
                    "asg_name": f"g{i}",
                    "metric": {"namespace": metrics[i % len(metrics)][0], "name": metrics[i % len(metrics)][1],
                               "dimensions": {"Resource": f"r{i}"}},
                    "capacity_per_instance": 10,
                    "max_capacity": 5,
                }
                for i in range(count)
            ]
        )  # fmt: skip

    # GIVEN 10 or 3,000 targets on the same two metrics THEN the same filter
    pair = [("A", "Requests"), ("B", "Jobs")]
    assert (
        include_filters(targets(pair, 10))
        == include_filters(targets(pair, 3000))
        == [("A", ["Requests"]), ("B", ["Jobs"])]
    )
    # GIVEN more metric names than a stream's filters hold THEN each namespace is streamed whole
    many = [("A", f"M{i}") for i in range(MAX_FILTER_NAMES)]
    assert include_filters(targets(many, MAX_FILTER_NAMES)) == [("A", [])]
