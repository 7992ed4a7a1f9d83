"""S3: metric history and the audit trail as Parquet, and model artifacts by version. Nothing is overwritten.

Keys (``<id>`` is the target id percent-encoded, so ``/`` or ``:`` in an id cannot break the layout)::

    history/target=<id>/date=YYYY-MM-DD/<part_id>.parquet        one part per collector write
    history/target=<id>/date=YYYY-MM-DD/compacted-NNNN.parquet   compaction generation NNNN of that day
    audit/target=<id>/date=YYYY-MM-DD/<record_id>.parquet        one audit batch (in the audit bucket)
    models/<id>/<version>/<relative path>                        artifact files, then
    models/<id>/<version>/metadata.json                          written last: files, sizes, sha256

Every object is written with ``IfNoneMatch='*'`` (S3's conditional write; moto's server honours it
too), so an existing key is never replaced: a second write of the same key raises
:class:`ObjectExistsError`, unless the content is identical (a retried Lambda), which is a no-op.

History parts hold ``ds`` (timestamp, tz-naive UTC) and ``y`` (float64). Reading a day takes its
newest compaction plus the parts that compaction does not list (their names are kept in the
compacted file's Parquet metadata), applied in part-name order; for a timestamp present in several
parts the later one wins (CloudWatch revises recent points, so the collector re-reads them). Part
ids should therefore sort chronologically (e.g. ``20261122T0843Z-round-000042``).

The audit trail has a bucket of its own when deployed (S3 Object Lock in compliance mode, which would also
lock every history and tracker version if it shared their bucket); without one it shares the data bucket.
The twin is the same :class:`S3Store` over :class:`forescale_tools.memory.InMemoryObjects`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from botocore.exceptions import ClientError

from functions.adapters._timefmt import require_aware
from functions.ports.archive import ObjectExistsError, ObjectStore
from functions.ports.errors import NotFoundError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from mypy_boto3_s3.client import S3Client

_PART_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=-]{0,199}$")
_COMPACTED = re.compile(r"^compacted-(\d{4,})\.parquet$")
_PARTS_METADATA_KEY = b"forescale.parts"
METADATA_FILE = "metadata.json"
#: Days each audit object version stays locked (S3 Object Lock, compliance mode) unless the deployment says otherwise.
DEFAULT_AUDIT_RETENTION_DAYS = 365


# --------------------------------------------------------------------------- object level


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


# --------------------------------------------------------------------------- keys


def encode_id(value: str) -> str:
    return quote(value, safe="")


def history_prefix(target_id: str) -> str:
    return f"history/target={encode_id(target_id)}/"


def history_day_prefix(target_id: str, day: date) -> str:
    return f"{history_prefix(target_id)}date={day.isoformat()}/"


def audit_prefix(target_id: str) -> str:
    return f"audit/target={encode_id(target_id)}/"


def model_prefix(target_id: str, version: str) -> str:
    return f"models/{encode_id(target_id)}/{encode_id(version)}/"


def _check_part_id(part_id: str, field: str) -> None:
    if not _PART_ID.match(part_id) or part_id.startswith("compacted"):
        raise ValueError(
            f"{field}: {part_id!r} must be 1-200 characters from A-Z a-z 0-9 _ . = - and not start with 'compacted'"
        )


def _days(start: datetime, end: datetime) -> list[date]:
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# --------------------------------------------------------------------------- parquet


def _history_table(frame: pd.DataFrame, parts: Sequence[str] = ()) -> pa.Table:
    import pyarrow as pa

    table = pa.table(
        {
            "ds": pa.array(frame["ds"].astype("datetime64[us]").to_numpy(), type=pa.timestamp("us")),
            "y": pa.array(frame["y"].to_numpy(dtype=float), type=pa.float64()),
        }
    )
    if parts:
        table = table.replace_schema_metadata({_PARTS_METADATA_KEY: json.dumps(list(parts)).encode()})
    return table


def _to_parquet(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def _read_parquet(body: bytes) -> pa.Table:
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(body))


def _history_frame(body: bytes) -> tuple[pd.DataFrame, list[str]]:
    table = _read_parquet(body)
    parts = json.loads((table.schema.metadata or {}).get(_PARTS_METADATA_KEY, b"[]"))
    frame = table.to_pandas()
    frame["ds"] = frame["ds"].astype("datetime64[us]")
    return frame[["ds", "y"]], parts


def _normalise_history(frame: pd.DataFrame) -> pd.DataFrame:
    """``ds`` as tz-naive UTC microseconds, ``y`` float; rows with NaN ``y`` (gaps) dropped."""
    import numpy as np
    import pandas as pd

    missing = {"ds", "y"} - set(frame.columns)
    if missing:
        raise ValueError(f"frame: missing column {sorted(missing)[0]!r} (needs ds, y)")
    ds = pd.to_datetime(frame["ds"])
    if getattr(ds.dt, "tz", None) is not None:
        ds = ds.dt.tz_convert("UTC").dt.tz_localize(None)
    y = pd.to_numeric(frame["y"], errors="raise").astype(float)
    if np.isinf(y.to_numpy()).any():
        raise ValueError("frame.y: infinite values cannot be stored")
    out = pd.DataFrame({"ds": ds.astype("datetime64[us]").to_numpy(), "y": y.to_numpy()})
    out = out[~out["y"].isna()]
    if out["ds"].duplicated().any():
        raise ValueError(f"frame.ds: {int(out['ds'].duplicated().sum())} duplicate timestamps in one part")
    return out.sort_values("ds", kind="stable").reset_index(drop=True)


def _merge_last_wins(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    import pandas as pd

    if not frames:
        return pd.DataFrame({"ds": pd.Series([], dtype="datetime64[us]"), "y": pd.Series([], dtype=float)})
    merged = pd.concat(frames, ignore_index=True)
    merged = merged.drop_duplicates(subset="ds", keep="last")
    return merged.sort_values("ds", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- store


class S3Store:
    """:class:`Archive` over an :class:`ObjectStore` (:class:`S3Objects` in AWS, in memory in the twin)."""

    def __init__(self, objects: ObjectStore, *, audit: ObjectStore | None = None) -> None:
        self.objects = objects
        #: the audit trail's objects: a bucket of their own when deployed (Object Lock), else ``objects``
        self.audit_objects = audit if audit is not None else objects

    @classmethod
    def for_bucket(cls, client: S3Client, bucket: str, *, audit_bucket: str | None = None) -> S3Store:
        return cls(S3Objects(client, bucket), audit=S3Objects(client, audit_bucket) if audit_bucket else None)

    # ----------------------------------------------------------------- history

    def write_history(self, target_id: str, frame: pd.DataFrame, *, part_id: str) -> list[str]:
        _check_part_id(part_id, "part_id")
        clean = _normalise_history(frame)
        keys: list[str] = []
        for day, rows in clean.groupby(clean["ds"].dt.date, sort=True):
            key = f"{history_day_prefix(target_id, day)}{part_id}.parquet"
            put_once(self.objects, key, _to_parquet(_history_table(rows)))
            keys.append(key)
        return keys

    def _day_layout(self, keys: Sequence[str]) -> tuple[str | None, list[str]]:
        """(newest compaction key or None, part keys) among one day's keys."""
        compactions: list[tuple[int, str]] = []
        parts: list[str] = []
        for key in keys:
            name = key.rsplit("/", 1)[-1]
            match = _COMPACTED.match(name)
            if match:
                compactions.append((int(match.group(1)), key))
            elif name.endswith(".parquet"):
                parts.append(key)
        newest = max(compactions)[1] if compactions else None
        return newest, sorted(parts)

    def _read_day(self, keys: Sequence[str]) -> tuple[pd.DataFrame, list[str], int, int]:
        """One day merged: (frame, part names included, newest compaction generation, parts it holds)."""
        compaction, parts = self._day_layout(keys)
        frames: list[pd.DataFrame] = []
        included: list[str] = []
        generation = 0
        if compaction is not None:
            frame, included = _history_frame(self.objects.get(compaction))
            frames.append(frame)
            match = _COMPACTED.match(compaction.rsplit("/", 1)[-1])
            generation = int(match.group(1)) if match else 0
        compacted_count = len(included)
        seen = set(included)
        for key in parts:
            name = key.rsplit("/", 1)[-1]
            if name not in seen:
                frames.append(_history_frame(self.objects.get(key))[0])
                included.append(name)
        return _merge_last_wins(frames), included, generation, compacted_count

    def read_history(self, target_id: str, start: datetime, end: datetime) -> pd.DataFrame:
        import pandas as pd

        start_utc, end_utc = require_aware(start, "start"), require_aware(end, "end")
        prefix = history_prefix(target_id)
        by_day: dict[str, list[str]] = {}
        if end_utc > start_utc:
            first_day = start_utc.date().isoformat()
            last_day = (end_utc - timedelta(microseconds=1)).date().isoformat()
            # StartAfter "<prefix>date=D" is just before every key of day D: one listing for the range.
            for key in self.objects.list_keys(prefix, start_after=f"{prefix}date={first_day}"):
                day = key[len(prefix) :].split("/", 1)[0].removeprefix("date=")
                if day > last_day:
                    break
                by_day.setdefault(day, []).append(key)
        merged = _merge_last_wins([self._read_day(keys)[0] for _, keys in sorted(by_day.items())])
        low = pd.Timestamp(start_utc.replace(tzinfo=None))
        high = pd.Timestamp(end_utc.replace(tzinfo=None))
        window = merged[(merged["ds"] >= low) & (merged["ds"] < high)]
        return pd.DataFrame(
            {
                "unique_id": [target_id] * len(window),
                "ds": pd.Series(window["ds"].to_numpy(), dtype="datetime64[us]"),
                "y": pd.Series(window["y"].to_numpy(), dtype=float),
            }
        )

    def compact_day(self, target_id: str, day: date) -> str | None:
        prefix = history_day_prefix(target_id, day)
        keys = list(self.objects.list_keys(prefix))
        frame, included, generation, compacted_count = self._read_day(keys)
        if len(included) == compacted_count:
            return None
        key = f"{prefix}compacted-{generation + 1:04d}.parquet"
        self.objects.put_new(key, _to_parquet(_history_table(frame, included)))
        return key

    # ----------------------------------------------------------------- audit

    def write_audit(self, target_id: str, record_id: str, at: datetime, rows: Sequence[Mapping[str, Any]]) -> str:
        import pyarrow as pa

        _check_part_id(record_id, "record_id")
        recorded_at = require_aware(at, "at")
        if not rows:
            raise ValueError("rows: an audit record needs at least one row")
        clean = [
            {
                **{
                    k: json.dumps(v, sort_keys=True, default=str) if isinstance(v, dict | list | tuple) else v
                    for k, v in row.items()
                },
                "target_id": target_id,
                "record_id": record_id,
                "recorded_at": recorded_at.replace(tzinfo=None),
            }
            for row in rows
        ]
        key = f"{audit_prefix(target_id)}date={recorded_at.date().isoformat()}/{record_id}.parquet"
        put_once(self.audit_objects, key, _to_parquet(pa.Table.from_pylist(clean)))
        return key

    def read_audit(self, target_id: str, start: datetime, end: datetime) -> pd.DataFrame:
        import pandas as pd

        start_utc, end_utc = require_aware(start, "start"), require_aware(end, "end")
        frames = []
        for day in _days(start_utc, end_utc) if end_utc > start_utc else []:
            for key in self.audit_objects.list_keys(f"{audit_prefix(target_id)}date={day.isoformat()}/"):
                frames.append(_read_parquet(self.audit_objects.get(key)).to_pandas())
        if not frames:
            return pd.DataFrame(
                {"target_id": [], "record_id": [], "recorded_at": pd.Series([], dtype="datetime64[us]")}
            )
        audit = pd.concat(frames, ignore_index=True)
        audit["recorded_at"] = audit["recorded_at"].astype("datetime64[us]")
        low, high = pd.Timestamp(start_utc.replace(tzinfo=None)), pd.Timestamp(end_utc.replace(tzinfo=None))
        audit = audit[(audit["recorded_at"] >= low) & (audit["recorded_at"] < high)]
        return audit.sort_values(["recorded_at", "record_id"], kind="stable").reset_index(drop=True)

    # ----------------------------------------------------------------- models

    def upload_model(self, target_id: str, version: str, directory: Path, metadata: Mapping[str, Any]) -> str:
        prefix = model_prefix(target_id, version)
        files = sorted(p for p in Path(directory).rglob("*") if p.is_file())
        if not files:
            raise ValueError(f"directory: {directory} holds no files")
        manifest = []
        for path in files:
            relative = path.relative_to(directory).as_posix()
            if relative == METADATA_FILE:
                raise ValueError(f"directory: {METADATA_FILE} is written by the store; remove it from {directory}")
            body = path.read_bytes()
            put_once(self.objects, prefix + relative, body)
            manifest.append({"path": relative, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()})
        document = {"target_id": target_id, "version": version, "files": manifest, "metadata": dict(metadata)}
        put_once(
            self.objects,
            prefix + METADATA_FILE,
            json.dumps(document, sort_keys=True, indent=1, default=str).encode(),
            content_type="application/json",
        )
        return self.objects.uri(prefix)

    def model_metadata(self, target_id: str, version: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.objects.get(model_prefix(target_id, version) + METADATA_FILE))
        return document

    def download_model(self, target_id: str, version: str, directory: Path) -> dict[str, Any]:
        prefix = model_prefix(target_id, version)
        document = self.model_metadata(target_id, version)
        target = Path(directory)
        for entry in document["files"]:
            body = self.objects.get(prefix + entry["path"])
            if len(body) != entry["bytes"] or hashlib.sha256(body).hexdigest() != entry["sha256"]:
                raise ValueError(f"files.{entry['path']}: content does not match metadata.json (corrupt artifact)")
            destination = (target / entry["path"]).resolve()
            if not destination.is_relative_to(target.resolve()):
                raise ValueError(f"files.{entry['path']}: path escapes the download directory")
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(body)
        return document


def decode_target_from_key(key: str) -> str:
    """Target id of a ``history/`` or ``audit/`` key (for listing tools)."""
    segment = key.split("/", 2)[1]
    return unquote(segment.removeprefix("target="))
