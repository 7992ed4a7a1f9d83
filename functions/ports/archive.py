"""Archive ports: objects that are never overwritten, and the store of history, audit trail and model artifacts.

Implemented by :mod:`functions.adapters.s3` (S3, or in memory in the twin).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from functions.ports.errors import AlreadyExistsError

if TYPE_CHECKING:
    import pandas as pd


#: Shards of the batched history and audit trail (fixed: a target's shard is part of its keys).
HISTORY_SHARDS = 16


def history_shard(target_id: str) -> str:
    """The shard of a target's batched history and audit records, ``00`` to ``15``: a writer whose batches of
    targets follow the shards writes fewer objects (one per shard it touches)."""
    return f"{zlib.crc32(target_id.encode()) % HISTORY_SHARDS:02d}"


class ObjectExistsError(AlreadyExistsError):
    """The key already holds a different object; objects are never overwritten."""

    def __init__(self, key: str) -> None:
        super().__init__("object", key)


class ObjectStore(Protocol):
    """The few object operations the store needs (S3, or in memory)."""

    def put_new(self, key: str, body: bytes, *, content_type: str = "application/octet-stream") -> None:
        """Create ``key``; raises :class:`ObjectExistsError` if it exists (whatever its content)."""
        ...

    def get(self, key: str) -> bytes:
        """The object's bytes; raises :class:`NotFoundError`."""
        ...

    def list_keys(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        """Keys under ``prefix`` in lexicographic order, after ``start_after``."""
        ...

    def uri(self, key: str) -> str: ...


@dataclass(frozen=True)
class AuditRecord:
    """One record of the audit trail: rows (scalars; nested values become JSON text) of one target."""

    target_id: str
    record_id: str
    rows: Sequence[Mapping[str, Any]]


class Archive(Protocol):
    """Metric history, audit trail and model artifacts (the S3 buckets of forescale)."""

    def write_history(self, target_id: str, frame: pd.DataFrame, *, part_id: str) -> list[str]:
        """Store ``frame`` (``ds``, ``y``) as new parts (per UTC day it covers); returns the keys."""
        ...

    def write_histories(self, frames: Mapping[str, pd.DataFrame], *, part_id: str) -> list[str]:
        """Store one round of many targets (``{target_id: frame}``) in a few objects, not one per target; the
        same round retried with the same frames writes the same objects. Returns the keys."""
        ...

    def read_history(self, target_id: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Long frame ``unique_id, ds, y`` with ``start <= ds < end``, ascending, one row per ``ds``."""
        ...

    def batch_reads(self) -> AbstractContextManager[None]:
        """Within the block, reads of several targets share what they list and fetch (one batch's reads)."""
        ...

    def compact_day(self, target_id: str, day: date) -> str | None:
        """Merge the day's parts of the target's shard into a new compaction; its key, or None when nothing is new."""
        ...

    def compact_days(self, target_ids: Sequence[str], day: date, *, final: bool = False) -> list[str]:
        """Compact the day of every shard holding one of ``target_ids`` once; ``final``: the finished day, after its
        last points were written. Returns the keys written."""
        ...

    def write_audit(self, target_id: str, record_id: str, at: datetime, rows: Sequence[Mapping[str, Any]]) -> str:
        """Store audit rows (scalars; nested values become JSON text) as one object; returns its key."""
        ...

    def write_audit_batch(self, batch_id: str, at: datetime, records: Sequence[AuditRecord]) -> list[str]:
        """Store the records of one invocation (many targets) recorded at ``at`` in one object per shard, not
        one per target; ``batch_id`` and the content name the objects (the same batch again is a no-op, other
        content a new object). Returns the keys."""
        ...

    def read_audit(self, target_id: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Audit rows with ``start <= recorded_at < end`` (columns: the rows' + target_id, record_id, recorded_at);
        a record written twice (a retried batch) is returned once."""
        ...

    def upload_model(self, target_id: str, version: str, directory: Path, metadata: Mapping[str, Any]) -> str:
        """Upload every file under ``directory`` then ``metadata.json``; returns the version's ``s3://`` prefix."""
        ...

    def download_model(self, target_id: str, version: str, directory: Path) -> dict[str, Any]:
        """Download a version's files into ``directory`` (checking sizes and sha256); returns its metadata."""
        ...

    def model_metadata(self, target_id: str, version: str) -> dict[str, Any]:
        """The ``metadata.json`` of a version; raises :class:`NotFoundError` when absent."""
        ...
