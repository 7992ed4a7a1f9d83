"""S3 at the object level: a bucket behind :class:`functions.ports.archive.ObjectStore`, writes that never
replace an object (``IfNoneMatch='*'``), and reads of many small objects side by side."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from functions.ports.archive import ObjectExistsError, ObjectStore
from functions.ports.errors import NotFoundError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client


class S3Objects:
    """:class:`functions.ports.archive.ObjectStore` on one S3 bucket through an injected ``s3`` client."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def put_new(self, key: str, body: bytes, *, content_type: str = "application/octet-stream") -> None:
        try:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, IfNoneMatch="*")
        except ClientError as error:
            # 412 PreconditionFailed: the key exists; 409 ConditionalRequestConflict: a concurrent writer.
            if error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise ObjectExistsError(key) from error
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFoundError("object", key) from error
            raise

    def list_keys(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        for page in self._client.get_paginator("list_objects_v2").paginate(**kwargs):
            for item in page.get("Contents", []):
                yield item["Key"]

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def put_once(objects: ObjectStore, key: str, body: bytes, *, content_type: str = "application/octet-stream") -> bool:
    """Write ``key`` once; True if written, False if it already held exactly ``body`` (a retry).

    Raises :class:`ObjectExistsError` if it holds something else.
    """
    try:
        objects.put_new(key, body, content_type=content_type)
    except ObjectExistsError:
        if objects.get(key) != body:
            raise
        return False
    return True


#: concurrent GETs of one read of many small objects (a day of a target's audit records is up to 600)
READ_WORKERS = 16


def get_many(
    objects: ObjectStore,
    keys: Sequence[str],
    *,
    workers: int = READ_WORKERS,
    fetch: Callable[[str], bytes] | None = None,
) -> list[bytes]:
    """The bodies of ``keys`` (through ``fetch``, e.g. a cache, else ``objects.get``), in their order, fetched
    ``workers`` at a time: one GET at a time costs a round trip each (a 6-hour view of a target reads about 150
    audit objects)."""
    get = fetch or objects.get
    if len(keys) <= 1:
        return [get(key) for key in keys]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(workers, len(keys))) as pool:
        return list(pool.map(get, keys))
