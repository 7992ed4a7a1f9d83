"""The operator's configuration object in S3 (``config/operator-targets.json``), replaced by compare-and-swap.

Writes name the version they read (``PutObject`` with ``IfMatch``, or ``IfNoneMatch='*'`` when there was
none), so two operators changing targets at once cannot lose one change: the second gets
:class:`ConflictError` and retries on the new document. The deployment creates the object empty when it
does not exist (and never overwrites it), so a missing object here is a local run (moto answers 404).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from functions.ports.errors import ConflictError
from functions.ports.tracker import StoredRecord

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

#: codes S3 answers a conditional ``PutObject`` with when the condition does not hold (another writer won)
_LOST_RACE = ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey")


class S3OperatorConfig:
    """:class:`functions.ports.operator_config.OperatorConfigStore` at one key of one bucket."""

    def __init__(self, client: S3Client, bucket: str, key: str) -> None:
        self._client = client
        self.bucket = bucket
        self.key = key

    def load(self) -> StoredRecord | None:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return StoredRecord(response["Body"].read(), response["ETag"])

    def save(self, body: bytes, expected_version: str | None) -> str:
        try:
            if expected_version is None:
                response = self._client.put_object(
                    Bucket=self.bucket, Key=self.key, Body=body, IfNoneMatch="*", ContentType="application/json"
                )
            else:
                response = self._client.put_object(
                    Bucket=self.bucket,
                    Key=self.key,
                    Body=body,
                    IfMatch=expected_version,
                    ContentType="application/json",
                )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _LOST_RACE:
                raise ConflictError("operator configuration", self.key, f"expected {expected_version}") from error
            raise
        return response["ETag"]
