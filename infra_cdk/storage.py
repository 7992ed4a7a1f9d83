"""The stateful half of forescale: tables, bucket and event bus (retained when the stack goes away).

:class:`ForescaleStorage` creates them; :class:`StorageRef` is what the rest of the app needs to
know about them (names and ARNs as strings). Inside one stack the reference holds direct tokens;
across stacks it holds ``Fn::ImportValue`` of exports with stable names, so the stateless stack
never creates implicit cross-stack exports and its IAM findings can be acknowledged exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnOutput, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from events.contracts import ALL_CONTRACTS, BusinessEvent
from functions.adapters.s3 import DEFAULT_AUDIT_RETENTION_DAYS
from functions.adapters.tables import ALL_TABLES, TableSpec
from infra_cdk.access import AUDIT_PREFIX, HISTORY, METRIC_STREAM, MODELS, TARGETS_KEY, TRACKER
from infra_cdk.names import default_bus_name, function_role_path
from infra_cdk.policies import acknowledge

#: S3's own ceiling for a default retention period.
MAX_AUDIT_RETENTION_DAYS = 36_500

#: Every ``source`` the forescale contracts use: the only sources the bus accepts.
BUS_SOURCES: tuple[str, ...] = tuple(dict.fromkeys(contract.SOURCE for contract in ALL_CONTRACTS))
#: The sources of forescale's own pipeline events: the bus takes them from forescale's function roles only.
PIPELINE_SOURCES: tuple[str, ...] = tuple(source for source in BUS_SOURCES if source != BusinessEvent.SOURCE)


#: What every forescale bucket is: S3-encrypted, private, TLS only, owned by the account (no ACLs).
_PRIVATE_BUCKET: dict[str, Any] = {
    "encryption": s3.BucketEncryption.S3_MANAGED,
    "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
    "enforce_ssl": True,
    "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
}
_ABORT_INCOMPLETE_UPLOADS = s3.LifecycleRule(
    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(7)
)


@dataclass(frozen=True)
class StorageRef:
    """Names and ARNs of the stateful resources, as CloudFormation strings (tokens)."""

    bucket_name: str
    bucket_arn: str
    audit_bucket_name: str
    audit_bucket_arn: str
    bus_name: str
    bus_arn: str
    table_names: dict[str, str]
    table_arns: dict[str, str]
    #: IAM path of forescale's function roles: the bus takes pipeline events only from roles under it
    function_role_path: str

    def table_name(self, spec: TableSpec) -> str:
        return self.table_names[spec.logical_name]

    def table_arn(self, spec: TableSpec) -> str:
        return self.table_arns[spec.logical_name]

    def export_items(self) -> dict[str, str]:
        """Flat ``key -> value`` pairs, the keys used as suffixes of the export names."""
        items = {
            "BucketName": self.bucket_name,
            "BucketArn": self.bucket_arn,
            "AuditBucketName": self.audit_bucket_name,
            "AuditBucketArn": self.audit_bucket_arn,
            "BusName": self.bus_name,
            "BusArn": self.bus_arn,
            "FunctionRolePath": self.function_role_path,
        }
        for logical, name in self.table_names.items():
            items[f"{logical}TableName"] = name
            items[f"{logical}TableArn"] = self.table_arns[logical]
        return items

    @classmethod
    def imported(cls, export_prefix: str) -> StorageRef:
        """The reference another stack uses: ``Fn::ImportValue`` of ``<export_prefix>-<key>``."""

        def value(key: str) -> str:
            return Fn.import_value(f"{export_prefix}-{key}")

        return cls(
            bucket_name=value("BucketName"),
            bucket_arn=value("BucketArn"),
            audit_bucket_name=value("AuditBucketName"),
            audit_bucket_arn=value("AuditBucketArn"),
            bus_name=value("BusName"),
            bus_arn=value("BusArn"),
            table_names={spec.logical_name: value(f"{spec.logical_name}TableName") for spec in ALL_TABLES},
            table_arns={spec.logical_name: value(f"{spec.logical_name}TableArn") for spec in ALL_TABLES},
            function_role_path=value("FunctionRolePath"),
        )


class ForescaleStorage(Construct):
    """DynamoDB tables, the S3 buckets (data, audit, access logs) and the forescale event bus.

    Tables: on demand, point-in-time recovery, AWS-managed encryption, TTL where the spec has one,
    deletion protection, retained on removal. Buckets: versioned, S3-managed encryption, public
    access blocked, TLS only. The data bucket has a lifecycle per prefix; ``tracker/`` holds the one
    object per target the decider replaces every decision: writes must be conditional (``If-Match`` or
    ``If-None-Match``), and the versions it replaces expire after a day. The audit bucket is apart so
    that it can have S3 Object Lock in compliance mode: every version is locked for
    ``audit_retention_days`` when written and nobody, an administrator or the root user included, can
    delete it, shorten its lock or disable the lock before then (a lifecycle rule cannot either; a
    bucket policy is not enough, as an administrator may rewrite it). Its policy also refuses deletion
    and overwrite (writes must carry ``If-None-Match``). Bus: archived for replay; a resource
    policy refuses events from other accounts (except ``business_event_accounts``, which may send
    business events only) and events whose source is not a forescale contract's.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        business_event_accounts: Sequence[str] = (),
        bus_name: str | None = None,
        archive_retention: Duration | None = None,
        audit_retention_days: int = DEFAULT_AUDIT_RETENTION_DAYS,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        if isinstance(audit_retention_days, bool) or not 1 <= audit_retention_days <= MAX_AUDIT_RETENTION_DAYS:
            raise ValueError(
                f"audit_retention_days: {audit_retention_days!r} is not a whole number of days "
                f"from 1 to {MAX_AUDIT_RETENTION_DAYS}"
            )
        for account in business_event_accounts:
            if not (len(account) == 12 and account.isdigit()):
                raise ValueError(f"business_event_accounts: {account!r} is not a 12-digit AWS account id")
        self.tables: dict[str, dynamodb.Table] = {
            spec.logical_name: self._table(spec, removal_policy) for spec in ALL_TABLES
        }
        self.access_log_bucket = self._access_log_bucket(removal_policy)
        self.bucket = self._bucket(removal_policy)
        self.audit_bucket = self._audit_bucket(removal_policy, audit_retention_days)
        self.bus = events.EventBus(
            self,
            "Bus",
            event_bus_name=bus_name or default_bus_name(Stack.of(self).stack_name),
            description="forescale pipeline and business events",
        )
        self.archive = self.bus.archive(
            "Archive",
            description="every forescale event, for replay",
            event_pattern=events.EventPattern(source=list(BUS_SOURCES)),
            retention=archive_retention or Duration.days(30),
        )
        self.function_role_path = function_role_path(Stack.of(self).stack_name)
        self._bus_policy(list(business_event_accounts))

    # ------------------------------------------------------------------ tables

    def _table(self, spec: TableSpec, removal_policy: RemovalPolicy) -> dynamodb.Table:
        string = dynamodb.AttributeType.STRING
        table = dynamodb.Table(
            self,
            f"{spec.logical_name}Table",
            partition_key=dynamodb.Attribute(name=spec.partition_key, type=string),
            sort_key=dynamodb.Attribute(name=spec.sort_key, type=string) if spec.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=spec.ttl_attribute,
            deletion_protection=removal_policy == RemovalPolicy.RETAIN,
            removal_policy=removal_policy,
        )
        return table

    # ------------------------------------------------------------------ buckets

    def _access_log_bucket(self, removal_policy: RemovalPolicy) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            **_PRIVATE_BUCKET,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(90))],
            removal_policy=removal_policy,
        )
        acknowledge(
            bucket,
            "AwsSolutions-S1",
            "This bucket receives the server access logs of the forescale bucket; logging it too would loop.",
        )
        return bucket

    def _bucket(self, removal_policy: RemovalPolicy) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "Bucket",
            versioned=True,
            **_PRIVATE_BUCKET,
            lifecycle_rules=[
                _ABORT_INCOMPLETE_UPLOADS,
                s3.LifecycleRule(
                    id="history",
                    prefix=HISTORY,
                    expiration=Duration.days(400),
                    noncurrent_version_expiration=Duration.days(7),
                ),
                s3.LifecycleRule(id="models", prefix=MODELS, noncurrent_version_expiration=Duration.days(30)),
                # rewritten every decision (288 versions a day of ~140 KB): keep only the current one for long
                s3.LifecycleRule(id="forecast-records", prefix=TRACKER, noncurrent_version_expiration=Duration.days(1)),
                # the metric stream's objects: the collector reads the last minutes only
                s3.LifecycleRule(
                    id="metric-stream",
                    prefix=METRIC_STREAM,
                    expiration=Duration.days(2),
                    noncurrent_version_expiration=Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="targets-config-history", prefix=TARGETS_KEY, noncurrent_version_expiration=Duration.days(365)
                ),
            ],
            removal_policy=removal_policy,
        )
        self._log_to(bucket, prefix="forescale/")
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyUnconditionalForecastRecordWrites",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{TRACKER}*")],
                # both absent: a write that could silently replace another decider's record
                conditions={"Null": {"s3:if-match": "true", "s3:if-none-match": "true"}},
            )
        )
        return bucket

    def _audit_bucket(self, removal_policy: RemovalPolicy, retention_days: int) -> s3.Bucket:
        """The audit trail (``audit/`` keys), locked in compliance mode: Object Lock needs a bucket of its own,
        since its default retention applies to every object and the data bucket's versions must expire."""
        bucket = s3.Bucket(
            self,
            "AuditBucket",
            versioned=True,
            object_lock_enabled=True,
            object_lock_default_retention=s3.ObjectLockRetention.compliance(Duration.days(retention_days)),
            **_PRIVATE_BUCKET,
            # transitions only: a locked version is never expired, and no rule here asks to
            lifecycle_rules=[
                _ABORT_INCOMPLETE_UPLOADS,
                s3.LifecycleRule(
                    id="audit-to-infrequent-access",
                    prefix=AUDIT_PREFIX,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS, transition_after=Duration.days(90)
                        )
                    ],
                ),
            ],
            removal_policy=removal_policy,
        )
        self._log_to(bucket, prefix="audit/")
        audit_objects = bucket.arn_for_objects("*")
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyAuditDeletion",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=[
                    "s3:DeleteObject",
                    "s3:DeleteObjectVersion",
                    "s3:PutObjectRetention",
                    "s3:BypassGovernanceRetention",
                ],
                resources=[audit_objects],
            )
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyAuditOverwrite",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[audit_objects],
                conditions={"Null": {"s3:if-none-match": "true"}},
            )
        )
        return bucket

    def _log_to(self, bucket: s3.Bucket, *, prefix: str) -> None:
        """Server access logging through a bucket policy (no ACLs, whatever the app's feature flags)."""
        cfn_bucket = bucket.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        cfn_bucket.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
            destination_bucket_name=self.access_log_bucket.bucket_name, log_file_prefix=prefix
        )
        self.access_log_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"AllowServerAccessLogs{prefix.strip('/').title()}",
                principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
                actions=["s3:PutObject"],
                resources=[self.access_log_bucket.arn_for_objects(f"{prefix}*")],
                conditions={
                    "ArnLike": {"aws:SourceArn": bucket.bucket_arn},
                    "StringEquals": {"aws:SourceAccount": Stack.of(self).account},
                },
            )
        )

    # ------------------------------------------------------------------ bus

    def _bus_policy(self, business_event_accounts: list[str]) -> None:
        own_account = Stack.of(self).account
        self.bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyOtherAccounts",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["events:PutEvents"],
                resources=[self.bus.event_bus_arn],
                # IfExists: EventBridge's own deliveries (archive replays) carry no principal account.
                conditions={
                    "StringNotEqualsIfExists": {"aws:PrincipalAccount": [own_account, *business_event_accounts]}
                },
            )
        )
        self.bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyUnknownSources",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["events:PutEvents"],
                resources=[self.bus.event_bus_arn],
                conditions={"StringNotEquals": {"events:source": list(BUS_SOURCES)}},
            )
        )
        stack = Stack.of(self)
        self.bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyPipelineEventsFromOtherPrincipals",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["events:PutEvents"],
                resources=[self.bus.event_bus_arn],
                # A role's path is set when it is created and never changes: only the function roles of
                # this deployment are under it (aws:PrincipalArn of a role's session is the role's ARN).
                conditions={
                    "StringEquals": {"events:source": list(PIPELINE_SOURCES)},
                    "ArnNotLike": {
                        "aws:PrincipalArn": f"arn:{stack.partition}:iam::{own_account}:role{self.function_role_path}*"
                    },
                },
            )
        )
        if business_event_accounts:
            self.bus.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowBusinessEventsFromTrustedAccounts",
                    effect=iam.Effect.ALLOW,
                    principals=[iam.AccountPrincipal(account) for account in business_event_accounts],
                    actions=["events:PutEvents"],
                    resources=[self.bus.event_bus_arn],
                    conditions={"StringEquals": {"events:source": [BusinessEvent.SOURCE]}},
                )
            )

    # ------------------------------------------------------------------ references

    def ref(self) -> StorageRef:
        return StorageRef(
            bucket_name=self.bucket.bucket_name,
            bucket_arn=self.bucket.bucket_arn,
            audit_bucket_name=self.audit_bucket.bucket_name,
            audit_bucket_arn=self.audit_bucket.bucket_arn,
            bus_name=self.bus.event_bus_name,
            bus_arn=self.bus.event_bus_arn,
            table_names={name: table.table_name for name, table in self.tables.items()},
            table_arns={name: table.table_arn for name, table in self.tables.items()},
            function_role_path=self.function_role_path,
        )

    def export(self, export_prefix: str) -> None:
        """Export every reference as ``<export_prefix>-<key>`` for :meth:`StorageRef.imported`."""
        for key, value in self.ref().export_items().items():
            CfnOutput(self, f"Export{key}", value=value, export_name=f"{export_prefix}-{key}")
