"""The decider's forecast record of each target: one S3 object, replaced in place by compare-and-swap.

Key (``<id>`` percent-encoded as in :mod:`functions.adapters.s3`)::

    tracker/target=<id>/record.bin      the record's bytes (functions.ports.tracker_codec)

Why S3 and not the State table: a default target's record is about 140 KB and is rewritten every
decision (every 5 minutes). In DynamoDB that is ~140 write units per write, about 1.2 million per
target and month (≈ $0.77 on demand at $0.625 per million); as an S3 object it is one PUT and one GET
per decision, 8,640 of each a month (≈ $0.05 with storage), with no 400 KB item limit to split around.

Concurrency: :meth:`functions.ports.tracker.TrackerRecords.put` names the version it read: the object's ETag (S3's
``PutObject`` with ``IfMatch``), or None for "there was none" (``IfNoneMatch='*'``). When another
writer got there first S3 answers 412 (or 409 for a write in flight, 404 when the object went away),
and the adapter raises :class:`ConflictError`; the decider then drops its one window of additions,
as it did with the optimistic ``version`` of the DynamoDB item. moto's server honours both headers,
so the contract suite checks the same behaviour on the twin and on moto.

A missing object is ``None``. S3 answers 403 rather than 404 for a missing key when the caller may not
list it; the decider is granted ``s3:ListBucket`` on this prefix, and should S3 still say 403 the
adapter asks a one-key listing whether the object exists (None when it does not, the 403 otherwise).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from functions.adapters.archive_keys import encode_id
from functions.ports.errors import ConflictError

# TrackerRecords stays importable from here (tests); product code imports it from functions.ports.tracker.
from functions.ports.tracker import StoredRecord, TrackerRecords  # noqa: F401

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

RECORD_FILE = "record.bin"
#: codes S3 answers a conditional ``PutObject`` with when the condition does not hold (another writer won)
_LOST_RACE = ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey")


def tracker_key(target_id: str) -> str:
    return f"tracker/target={encode_id(target_id)}/{RECORD_FILE}"


class S3TrackerRecords:
    """:class:`TrackerRecords` in one S3 bucket through an injected ``s3`` client (conditional writes)."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def get(self, target_id: str) -> StoredRecord | None:
        key = tracker_key(target_id)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                return None
            if code in ("AccessDenied", "403") and not self._listed(key):
                return None
            raise
        return StoredRecord(response["Body"].read(), response["ETag"])

    def _listed(self, key: str) -> bool:
        """Whether ``key`` exists, by a one-key listing (S3 says 403 for a missing key it may not list)."""
        response = self._client.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        return any(item["Key"] == key for item in response.get("Contents", []))

    def put(self, target_id: str, body: bytes, expected_version: str | None) -> str:
        key = tracker_key(target_id)
        try:
            if expected_version is None:
                response = self._client.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*")
            else:
                response = self._client.put_object(Bucket=self.bucket, Key=key, Body=body, IfMatch=expected_version)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _LOST_RACE:
                raise ConflictError("forecast record", key, f"expected version {expected_version}") from error
            raise
        return response["ETag"]
