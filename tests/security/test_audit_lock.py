"""The audit trail cannot be deleted or expired, not even by an administrator of the account.

A bucket policy alone cannot promise that: an administrator may delete or rewrite the policy, put a
lifecycle rule that expires ``audit/``, or suspend versioning. The audit objects therefore live in a
bucket of their own with S3 Object Lock in compliance mode and a default retention: every version is
locked when written, and nobody (the root user included) can delete it, shorten its retention or
disable the lock until the retention ends. Each administrator action is checked here either against the
bucket policy (refused) or against the property of Object Lock that makes it harmless, read from the
synthesized template; and on moto's S3 server (for what moto models) a locked version outlives the
attempt to delete it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Match, Template
from botocore.exceptions import ClientError

from infra_cdk.storage import DEFAULT_AUDIT_RETENTION_DAYS, ForescaleStorage
from tests.infra.conftest import STATEFUL, STATELESS, function_ids, role_statements
from tests.infra.iam_support import COMMON_CONTEXT, Deployment, IamRequest, Statement, evaluate

pytestmark = pytest.mark.integration

ADMINISTRATOR = [Statement("Allow", ("*",), ("*",), {}, origin="an administrator")]
AUDIT_KEY = "audit/target=web/date=2026-03-10/decision-1.parquet"


def audit_bucket_of(synthesized: Any) -> tuple[str, dict[str, Any]]:
    """(logical id, properties) of the bucket the executor writes its audit records to (read from its role)."""
    stateful, stateless = synthesized.templates[STATEFUL], synthesized.templates[STATELESS]
    deployment = Deployment([stateful, stateless])
    buckets = {logical: r for logical, r in stateful["Resources"].items() if r["Type"] == "AWS::S3::Bucket"}
    deployment.names.update({logical: logical for logical in buckets})
    role = stateless["Resources"][function_ids(stateless)["executor"]]["Properties"]["Role"]["Fn::GetAtt"][0]
    targets = [
        deployment.resolve(resource)
        for statement in role_statements(stateless, role)
        if "s3:PutObject" in statement["Action"]
        for resource in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
    ]
    (written,) = [t for t in targets if t.endswith("/audit/*")]
    logical = written.removeprefix("arn:aws:s3:::").split("/", 1)[0]
    return logical, buckets[logical]["Properties"]


def audit_bucket_policy(synthesized: Any, logical: str) -> list[Statement]:
    deployment = Deployment([synthesized.templates[STATEFUL]])
    deployment.names[logical] = "audit-bucket"
    return [
        Statement.from_template(raw, deployment, origin="audit bucket policy")
        for resource in synthesized.templates[STATEFUL]["Resources"].values()
        if resource["Type"] == "AWS::S3::BucketPolicy" and resource["Properties"]["Bucket"] == {"Ref": logical}
        for raw in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_audit_bucket_locks_every_version_in_compliance_mode_and_nothing_expires_it(synthesized, figures):
    # GIVEN the bucket the executor's role writes audit records to
    logical, props = audit_bucket_of(synthesized)
    # THEN it has Object Lock in compliance mode with the default retention (a template assertion) ...
    Template.from_json(synthesized.templates[STATEFUL]).has_resource_properties(
        "AWS::S3::Bucket",
        Match.object_like(
            {
                "ObjectLockEnabled": True,
                "ObjectLockConfiguration": {
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": DEFAULT_AUDIT_RETENTION_DAYS}},
                },
                "VersioningConfiguration": {"Status": "Enabled"},
            }
        ),
    )
    assert props.get("ObjectLockEnabled") is True, f"{logical}: the audit bucket has no Object Lock"
    assert props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    # ... and its lifecycle moves audit objects to cheaper storage but never expires a version
    rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
    expiring = [r["Id"] for r in rules if {"ExpirationInDays", "NoncurrentVersionExpiration"} & r.keys()]
    figures.add("security", "audit bucket: Object Lock (compliance, default retention), no expiry", checks=1,
                violations=len(expiring))  # fmt: skip
    assert not expiring, expiring


def test_the_retention_is_configurable_and_refuses_a_retention_that_locks_nothing():
    # GIVEN a stack with a 30-day retention
    stack = Stack(App(), "S")
    ForescaleStorage(stack, "Storage", audit_retention_days=30)
    # THEN the audit bucket's default retention is 30 days
    Template.from_stack(stack).has_resource_properties(
        "AWS::S3::Bucket",
        {"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled",
                                     "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 30}}}},
    )  # fmt: skip
    # WHEN the retention is zero days THEN synth refuses it, naming the parameter
    with pytest.raises(ValueError, match="audit_retention_days: 0"):
        ForescaleStorage(Stack(App(), "T"), "Storage", audit_retention_days=0)


#: Every administrator action that could delete, expire or replace an audit object, and what stops it:
#: "policy" (the audit bucket policy refuses it, whoever asks) or the Object Lock property that makes it
#: harmless once the policy itself is gone (S3 Object Lock documentation, compliance mode).
ADMIN_ACTIONS: dict[str, tuple[str, dict[str, str], str]] = {
    "s3:DeleteObject": ("object", {}, "policy"),
    "s3:DeleteObjectVersion": ("object", {}, "policy"),
    "s3:PutObjectRetention": ("object", {}, "policy"),
    "s3:BypassGovernanceRetention": ("object", {}, "policy"),
    "s3:PutObject": ("object", {}, "policy"),  # over an existing key: no If-None-Match
    "s3:PutLifecycleConfiguration": ("bucket", {}, "lock: lifecycle never removes a locked version"),
    "s3:DeleteBucketPolicy": ("bucket", {}, "lock: compliance retention holds without any bucket policy"),
    "s3:PutBucketPolicy": ("bucket", {}, "lock: compliance retention holds whatever the bucket policy says"),
    "s3:PutBucketVersioning": ("bucket", {}, "lock: S3 refuses to suspend versioning on a bucket with Object Lock"),
    "s3:PutBucketObjectLockConfiguration": (
        "bucket",
        {},
        "lock: Object Lock cannot be disabled; a new default applies to new versions only",
    ),
}


def test_no_administrator_action_deletes_or_expires_an_audit_object(synthesized, figures):
    # GIVEN an administrator (every action allowed) and the audit bucket's policy and configuration
    logical, props = audit_bucket_of(synthesized)
    policy = audit_bucket_policy(synthesized, logical)
    locked = (
        props.get("ObjectLockEnabled") is True
        and props.get("ObjectLockConfiguration", {}).get("Rule", {}).get("DefaultRetention", {}).get("Mode")
        == "COMPLIANCE"
    )
    wrong = []
    for action, (level, context, stopped_by) in ADMIN_ACTIONS.items():
        resource = "arn:aws:s3:::audit-bucket" + (f"/{AUDIT_KEY}" if level == "object" else "")
        one = IamRequest(action, resource, {**COMMON_CONTEXT, **context}, action)
        allowed = evaluate(one, ADMINISTRATOR, policy).allowed
        # THEN each is refused by the policy, or Object Lock (compliance) makes it unable to remove a version
        if stopped_by == "policy" and allowed:
            wrong.append(f"{action}: the audit bucket policy allows it to an administrator")
        if stopped_by != "policy" and not locked:
            wrong.append(f"{action}: allowed, and no compliance-mode Object Lock stands behind it")
    # ... and a new audit record (If-None-Match) is still accepted
    create = IamRequest("s3:PutObject", f"arn:aws:s3:::audit-bucket/{AUDIT_KEY}",
                        {**COMMON_CONTEXT, "s3:if-none-match": "*"}, "PutObject")  # fmt: skip
    if not evaluate(create, ADMINISTRATOR, policy).allowed:
        wrong.append("a new audit object (If-None-Match) is refused")
    figures.add("security", "administrator cannot delete or expire audit objects", checks=len(ADMIN_ACTIONS) + 1,
                violations=len(wrong))  # fmt: skip
    assert not wrong, "\n".join(wrong)


def test_a_locked_audit_version_outlives_an_administrator_on_moto(synthesized, moto_client, unique_name):
    # GIVEN a bucket on moto's S3 server configured as the template configures the audit bucket
    _, props = audit_bucket_of(synthesized)
    s3 = moto_client("s3")
    bucket = unique_name("audit")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=bool(props.get("ObjectLockEnabled")))
    if "ObjectLockConfiguration" in props:
        lock = props["ObjectLockConfiguration"]
        s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=lock)
    else:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    # ... and one audit record written the way the adapter writes it (create only)
    written = s3.put_object(Bucket=bucket, Key=AUDIT_KEY, Body=b"decision", IfNoneMatch="*")["VersionId"]
    head = s3.head_object(Bucket=bucket, Key=AUDIT_KEY, VersionId=written)
    # THEN the version is locked in compliance mode for the retention
    assert head.get("ObjectLockMode") == "COMPLIANCE", "the audit record was written without a lock"
    until = head["ObjectLockRetainUntilDate"]
    assert until > datetime.now(UTC) + timedelta(days=DEFAULT_AUDIT_RETENTION_DAYS - 1)
    # WHEN an administrator (moto's server applies no bucket policy) overwrites the key and deletes the version,
    # even asking to bypass governance retention (moto refuses to change the lock configuration of a bucket
    # that holds objects, which S3 allows: that case rests on the template test above)
    s3.put_object(Bucket=bucket, Key=AUDIT_KEY, Body=b"forged")
    for bypass in (False, True):
        with pytest.raises(ClientError, match="AccessDenied"):
            s3.delete_object(Bucket=bucket, Key=AUDIT_KEY, VersionId=written, BypassGovernanceRetention=bypass)
    # THEN the original version is still there, unchanged and still locked until the same date
    kept = s3.get_object(Bucket=bucket, Key=AUDIT_KEY, VersionId=written)
    assert kept["Body"].read() == b"decision"
    assert s3.head_object(Bucket=bucket, Key=AUDIT_KEY, VersionId=written)["ObjectLockRetainUntilDate"] == until
