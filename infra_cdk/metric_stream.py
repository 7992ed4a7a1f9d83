"""The metric stream that carries targets' load to the collector: CloudWatch -> Firehose -> the data bucket.

A CloudWatch metric stream (JSON output, the default statistic set: max, min, sum, count) sends every
metric of the filtered namespaces and metric names once a minute to a Firehose delivery stream (Direct
PUT, 60 s buffering, uncompressed) that writes the objects under :data:`METRIC_STREAM` in the data bucket,
where the collector reads them (``functions.adapters.metric_stream``); the storage stack expires them
after two days.

The include filter is data, not a list of targets: each namespace with the metric names the deploy's
targets use, never their dimensions, so 10 or 5,000 targets of the same metrics give the same filter, and a
target added without a deploy on an already-streamed metric is streamed too. A target on another metric
(or an expression) is read with GetMetricData.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from constructs import Construct

from functions.domain.target import ScalingTarget
from infra_cdk.access import METRIC_STREAM
from infra_cdk.policies import RolePolicy
from infra_cdk.storage import StorageRef

#: A stream's filters hold at most 1,000 names, namespaces and metric names together.
MAX_FILTER_NAMES = 1000
#: Firehose's buffer: an object a minute (the stream's own cadence) whatever its size up to 5 MiB.
BUFFER_SECONDS = 60
BUFFER_MIB = 5


def include_filters(targets: Sequence[ScalingTarget]) -> list[tuple[str, list[str]]]:
    """``(namespace, metric names)`` of the targets' plain metrics, sorted; each namespace whole (no names)
    when listing the names would pass :data:`MAX_FILTER_NAMES`."""
    names: dict[str, set[str]] = {}
    for target in targets:
        metric = target.metric
        if metric.expression is None and metric.namespace and metric.name:
            names.setdefault(metric.namespace, set()).add(metric.name)
    if len(names) > MAX_FILTER_NAMES:
        raise ValueError(
            f"targets: {len(names)} metric namespaces; a metric stream filters at most {MAX_FILTER_NAMES} "
            "(turn the stream off with forescale:metricStream=false)"
        )
    whole = len(names) + sum(len(v) for v in names.values()) > MAX_FILTER_NAMES
    return [(namespace, [] if whole else sorted(names[namespace])) for namespace in sorted(names)]


class MetricStream(Construct):
    """The delivery stream, the metric stream and their two roles (each allowed only its one hop)."""

    def __init__(self, scope: Construct, construct_id: str, *, storage: StorageRef, targets: Sequence[ScalingTarget]):
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        filters = include_filters(targets)
        delivery_role = iam.Role(
            self,
            "DeliveryRole",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"sts:ExternalId": stack.account}}
            ),
            description="forescale metric stream: Firehose writes the stream's objects under metric-stream/",
        )
        # Firehose's documented S3 destination actions, on the one prefix it writes
        delivery = RolePolicy(delivery_role)
        delivery.allow(
            ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            [f"{storage.bucket_arn}/{METRIC_STREAM}*"],
            reason=f"Firehose names its objects at delivery, under the {METRIC_STREAM} prefix only",
        )
        delivery.allow(["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"], [storage.bucket_arn])
        delivery_policy = delivery.attach()
        self.delivery_stream = firehose.CfnDeliveryStream(
            self,
            "Delivery",
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
                key_type="AWS_OWNED_CMK"
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=storage.bucket_arn,
                role_arn=delivery_role.role_arn,
                # Firehose appends YYYY/MM/dd/HH/ (UTC) to a prefix without expressions
                prefix=METRIC_STREAM,
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=BUFFER_SECONDS, size_in_m_bs=BUFFER_MIB
                ),
                compression_format="UNCOMPRESSED",
            ),
        )
        if delivery_policy is not None:
            self.delivery_stream.node.add_dependency(delivery_policy)
        stream_role = iam.Role(
            self,
            "StreamRole",
            assumed_by=iam.ServicePrincipal(
                "streams.metrics.cloudwatch.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
            description="forescale metric stream: CloudWatch puts metric updates into the delivery stream",
        )
        put = RolePolicy(stream_role)
        put.allow(["firehose:PutRecord", "firehose:PutRecordBatch"], [self.delivery_stream.attr_arn])
        put_policy = put.attach()
        self.metric_stream = cloudwatch.CfnMetricStream(
            self,
            "Stream",
            firehose_arn=self.delivery_stream.attr_arn,
            role_arn=stream_role.role_arn,
            output_format="json",
            include_filters=[
                cloudwatch.CfnMetricStream.MetricStreamFilterProperty(
                    namespace=namespace, metric_names=metric_names or None
                )
                for namespace, metric_names in filters
            ]
            or None,
        )
        if put_policy is not None:
            self.metric_stream.node.add_dependency(put_policy)
