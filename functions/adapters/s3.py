"""S3: metric history and the audit trail as Parquet, and model artifacts by version. Nothing is overwritten.

Keys: :mod:`functions.adapters.archive_keys`.

Every object is written with ``IfNoneMatch='*'`` (S3's conditional write; moto's server honours it
too), so an existing key is never replaced: a second write of the same key raises
:class:`ObjectExistsError`, unless the content is identical (a retried Lambda), which is a no-op.

History is batched: a target belongs to shard ``SS`` = ``crc32(target_id) % 16`` (Athena:
``crc32(to_utf8(target_id)) % 16``), and one round of the collector writes one object per shard and UTC
day holding its targets' rows (``target_id``, ``ds`` tz-naive UTC, ``y`` float64, sorted by target and
time); ``<digest>`` names the set of targets, so two collector invocations of one round never collide and a
retried round writes the same key with the same body. A compaction holds a shard's day with one Parquet row
group per target, whose statistics let a reader decode only its target's rows. Reading a day takes its
``day.parquet`` if the day is finished, else its newest compaction plus the parts that compaction does not
list (their names are kept in its Parquet metadata; the parts of its newest rounds are listed again, so a
part that a concurrent invocation of the same round wrote after the compaction is still read), applied in
part-name order; for a timestamp present in several parts the later one wins (CloudWatch revises recent
points, so the collector re-reads them). Part ids should therefore sort chronologically (e.g.
``20261122T0843Z-round-000042``). Objects are immutable, so a store keeps the ones it read in memory
(bounded); :meth:`S3Store.batch_reads` also shares listings between the reads of one batch of targets.

Migration: objects of the per-target layout (``history/target=<id>/``) are read as before and merged under
the batched ones. ``history/layout.json``, written by the first batched write, says whether any existed and
until which day, so reads of later windows never list the old prefixes.

The audit trail is batched too: the records an invocation writes together (the forecaster's forecasts, the
decider's decisions) are one object per shard (the history's) holding its targets' rows sorted by target, named
by the second they were recorded at, so a read of a window lists the shard's day from the window's start and
fetches only the objects of its seconds. Single records (an execution, an alarm) and those of earlier versions
stay one object per target and are read alongside; a record found twice (a retried batch) is read once.

The audit trail has a bucket of its own when deployed (S3 Object Lock in compliance mode, which would also
lock every history and tracker version if it shared their bucket); without one it shares the data bucket.
The twin is the same :class:`S3Store` over :class:`forescale_tools.memory.InMemoryObjects`.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from functions.adapters._timefmt import require_aware
from functions.adapters.archive_keys import (
    audit_prefix,
    audit_shard_day_prefix,
    check_part_id,
    days_between,
    history_prefix,
    history_shard,
    model_prefix,
    shard_day_prefix,
)
from functions.adapters.parquet_frames import (
    PARTS_METADATA_KEY,
    RELIST_METADATA_KEY,
    Memo,
    all_rows,
    audit_rows,
    history_frame,
    merge_last_wins,
    normalise_history,
    relist_after,
    rows_parquet,
    table_of_rows,
    target_audit,
    target_rows,
    to_parquet,
)
from functions.adapters.s3_objects import S3Objects, get_many, put_once
from functions.ports.archive import AuditRecord, ObjectExistsError, ObjectStore
from functions.ports.errors import NotFoundError

if TYPE_CHECKING:
    import pandas as pd
    from mypy_boto3_s3.client import S3Client

_COMPACTED = re.compile(r"^compacted-(\d{4,})\.parquet$")
LAYOUT_KEY = "history/layout.json"
#: Immutable history objects a store keeps in memory, at most (bytes).
DEFAULT_CACHE_BYTES = 128 * 2**20
METADATA_FILE = "metadata.json"
#: Days each audit object version stays locked (S3 Object Lock, compliance mode) unless the deployment says otherwise.
DEFAULT_AUDIT_RETENTION_DAYS = 365


# --------------------------------------------------------------------------- parquet


class S3Store:
    """:class:`Archive` over an :class:`ObjectStore` (:class:`S3Objects` in AWS, in memory in the twin)."""

    def __init__(
        self, objects: ObjectStore, *, audit: ObjectStore | None = None, cache_bytes: int = DEFAULT_CACHE_BYTES
    ) -> None:
        self.objects = objects
        #: the audit trail's objects: a bucket of their own when deployed (Object Lock), else ``objects``
        self.audit_objects = audit if audit is not None else objects
        self._cache = Memo(cache_bytes)
        self._snapshot: Memo | None = None
        self._snapshots = 0
        self._snapshot_lock = threading.Lock()
        self._layout: dict[str, Any] | None = None

    @classmethod
    def for_bucket(cls, client: S3Client, bucket: str, *, audit_bucket: str | None = None) -> S3Store:
        return cls(S3Objects(client, bucket), audit=S3Objects(client, audit_bucket) if audit_bucket else None)

    # ----------------------------------------------------------------- history: writing

    def write_history(self, target_id: str, frame: pd.DataFrame, *, part_id: str) -> list[str]:
        normalise_history(frame)  # its errors name the frame, not a batch
        return self.write_histories({target_id: frame}, part_id=part_id)

    def write_histories(self, frames: Mapping[str, pd.DataFrame], *, part_id: str) -> list[str]:
        check_part_id(part_id, "part_id")
        groups: dict[tuple[str, date], dict[str, pd.DataFrame]] = {}
        for target_id, frame in frames.items():
            try:
                clean = normalise_history(frame)
            except ValueError as error:
                raise ValueError(f"frames[{target_id!r}]: {error}") from error
            for day, rows in clean.groupby(clean["ds"].dt.date, sort=True):
                groups.setdefault((history_shard(target_id), day), {})[target_id] = rows
        if groups:
            self._note_layout(max(day for _, day in groups))
        keys: list[str] = []
        for (shard, day), members in sorted(groups.items()):
            digest = hashlib.sha256("\n".join(sorted(members)).encode()).hexdigest()[:12]
            key = f"{shard_day_prefix(shard, day)}part-{part_id}!{digest}.parquet"
            put_once(self.objects, key, rows_parquet(members, group_per_target=False))
            keys.append(key)
        return keys

    def _note_layout(self, newest_day: date) -> None:
        """Write ``history/layout.json`` once: the last day per-target objects may hold, or null if none exist."""
        if self._layout is not None:
            return
        try:
            self._layout = json.loads(self.objects.get(LAYOUT_KEY))
            return
        except NotFoundError:
            pass
        legacy = next(iter(self.objects.list_keys("history/target=")), None) is not None
        document = {"per_target_until": newest_day.isoformat() if legacy else None}
        body = json.dumps(document, sort_keys=True).encode()
        try:
            self.objects.put_new(LAYOUT_KEY, body, content_type="application/json")
            self._layout = document
        except ObjectExistsError:  # another writer was first: its word stands
            self._layout = json.loads(self.objects.get(LAYOUT_KEY))

    # ----------------------------------------------------------------- history: compaction

    def compact_day(self, target_id: str, day: date) -> str | None:
        keys = self.compact_days([target_id], day)
        return keys[0] if keys else None

    def compact_days(self, target_ids: Sequence[str], day: date, *, final: bool = False) -> list[str]:
        keys = []
        for shard in sorted({history_shard(t) for t in target_ids}):
            key = self._compact_shard(shard, day, final=final)
            if key is not None:
                keys.append(key)
        return keys

    def _compact_shard(self, shard: str, day: date, *, final: bool) -> str | None:
        prefix = shard_day_prefix(shard, day)
        if final and self._fetch(prefix + "day.parquet", share=False) is not None:
            return None
        newest = next(iter(self.objects.list_keys(prefix + "compacted/")), None)
        merged: dict[str, list[pd.DataFrame]] = {}
        included: list[str] = []
        generation = 0
        if newest is not None:
            body = self._fetch(newest, share=False)
            rows, metadata = all_rows(body or b"")
            included = json.loads(metadata.get(PARTS_METADATA_KEY.decode(), "[]"))
            generation = 99_999_999 - int(newest.rsplit("/", 1)[-1].removesuffix(".parquet"))
            for target_id, frame in rows.items():
                merged.setdefault(target_id, []).append(frame)
        seen = set(included)
        fresh = [k for k in self.objects.list_keys(prefix + "part-") if k[len(prefix) + 5 :] not in seen]
        if not fresh and not (final and newest is not None):
            return None
        for key in fresh:
            for target_id, frame in all_rows(self._fetch(key, share=False) or b"")[0].items():
                merged.setdefault(target_id, []).append(frame)
            included.append(key[len(prefix) + 5 :])
        metadata_out = {
            PARTS_METADATA_KEY: json.dumps(sorted(included)).encode(),
            RELIST_METADATA_KEY: relist_after(included).encode(),
        }
        body = rows_parquet(
            {t: merge_last_wins(frames) for t, frames in merged.items()}, group_per_target=True, metadata=metadata_out
        )
        key = prefix + ("day.parquet" if final else f"compacted/{99_999_999 - (generation + 1):08d}.parquet")
        try:
            self.objects.put_new(key, body)
        except ObjectExistsError:  # a concurrent invocation compacted first; parts it missed stay readable
            return None
        return key

    # ----------------------------------------------------------------- history: reading

    @contextmanager
    def batch_reads(self) -> Iterator[None]:
        with self._snapshot_lock:
            if self._snapshots == 0:
                self._snapshot = Memo()
            self._snapshots += 1
        try:
            yield
        finally:
            with self._snapshot_lock:
                self._snapshots -= 1
                if self._snapshots == 0:
                    self._snapshot = None

    def _shared(self, key: object, load: Callable[[], Any]) -> Any:
        snapshot = self._snapshot
        return load() if snapshot is None else snapshot.get(key, load)

    def _fetch(self, key: str, *, share: bool = True) -> bytes | None:
        """An immutable object (kept in memory), or None when absent (remembered within a batch only)."""

        def load() -> bytes | None:
            try:
                body: bytes = self._cache.get(key, lambda: self.objects.get(key))
                return body
            except NotFoundError:
                return None

        return self._shared(("get", key), load) if share else load()

    def _list(self, prefix: str, start_after: str = "", *, first_only: bool = False) -> list[str]:
        def load() -> list[str]:
            keys = self.objects.list_keys(prefix, start_after=start_after)
            return [k for k in [next(iter(keys), None)] if k is not None] if first_only else list(keys)

        result: list[str] = self._shared(("list", prefix, start_after, first_only), load)
        return result

    def _may_hold_per_target(self, first_day: date) -> bool:
        """Whether per-target objects of earlier versions may hold days from ``first_day`` on (``layout.json``
        says until when; before the first batched write nobody knows, so they may)."""
        if self._layout is None:
            body = self._fetch(LAYOUT_KEY)
            if body is None:
                return True
            self._layout = json.loads(body)
        until = self._layout.get("per_target_until")
        return until is not None and first_day <= date.fromisoformat(until)

    def _read_shard_day(self, target_id: str, day: date) -> pd.DataFrame:
        prefix = shard_day_prefix(history_shard(target_id), day)
        finished = self._fetch(prefix + "day.parquet")
        if finished is not None:
            return target_rows(finished, target_id)[0]
        frames: list[pd.DataFrame] = []
        included: set[str] = set()
        relist_after = ""
        for newest in self._list(prefix + "compacted/", first_only=True):
            frame, metadata = target_rows(self._fetch(newest) or b"", target_id)
            frames.append(frame)
            included = set(json.loads(metadata.get(PARTS_METADATA_KEY.decode(), "[]")))
            relist_after = metadata.get(RELIST_METADATA_KEY.decode(), "")
        start_after = f"{prefix}part-{relist_after}" if relist_after else ""
        for key in self._list(prefix + "part-", start_after):
            if key[len(prefix) + 5 :] not in included:
                frames.append(target_rows(self._fetch(key) or b"", target_id)[0])
        return merge_last_wins(frames)

    def read_history(self, target_id: str, start: datetime, end: datetime) -> pd.DataFrame:
        import pandas as pd

        start_utc, end_utc = require_aware(start, "start"), require_aware(end, "end")
        frames: list[pd.DataFrame] = []
        if end_utc > start_utc:
            if self._may_hold_per_target(start_utc.date()):
                frames.append(self._read_per_target(target_id, start_utc, end_utc))
            frames += [self._read_shard_day(target_id, day) for day in days_between(start_utc, end_utc)]
        merged = merge_last_wins(frames)
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

    # ----------------------------------------------------------------- history: per-target objects (earlier versions)

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

    def _read_day(self, keys: Sequence[str]) -> pd.DataFrame:
        """One day of a target in the per-target layout, merged."""
        compaction, parts = self._day_layout(keys)
        frames: list[pd.DataFrame] = []
        included: list[str] = []
        if compaction is not None:
            frame, included = history_frame(self.objects.get(compaction))
            frames.append(frame)
        seen = set(included)
        for key in parts:
            if key.rsplit("/", 1)[-1] not in seen:
                frames.append(history_frame(self.objects.get(key))[0])
        return merge_last_wins(frames)

    def _read_per_target(self, target_id: str, start_utc: datetime, end_utc: datetime) -> pd.DataFrame:
        prefix = history_prefix(target_id)
        by_day: dict[str, list[str]] = {}
        first_day = start_utc.date().isoformat()
        last_day = (end_utc - timedelta(microseconds=1)).date().isoformat()
        # StartAfter "<prefix>date=D" is just before every key of day D: one listing for the range.
        for key in self.objects.list_keys(prefix, start_after=f"{prefix}date={first_day}"):
            day = key[len(prefix) :].split("/", 1)[0].removeprefix("date=")
            if day > last_day:
                break
            by_day.setdefault(day, []).append(key)
        return merge_last_wins([self._read_day(keys) for _, keys in sorted(by_day.items())])

    # ----------------------------------------------------------------- audit

    def write_audit(self, target_id: str, record_id: str, at: datetime, rows: Sequence[Mapping[str, Any]]) -> str:
        import pyarrow as pa

        recorded_at = require_aware(at, "at")
        clean = audit_rows(AuditRecord(target_id, record_id, rows), recorded_at, "")
        key = f"{audit_prefix(target_id)}date={recorded_at.date().isoformat()}/{record_id}.parquet"
        put_once(self.audit_objects, key, to_parquet(pa.Table.from_pylist(clean)))
        return key

    def write_audit_batch(self, batch_id: str, at: datetime, records: Sequence[AuditRecord]) -> list[str]:
        check_part_id(batch_id, "batch_id")
        recorded_at = require_aware(at, "at")
        shards: dict[str, list[dict[str, Any]]] = {}
        for n, record in enumerate(records):
            rows = audit_rows(record, recorded_at, f"records[{n}].")
            shards.setdefault(history_shard(record.target_id), []).extend(rows)
        keys = []
        for shard, rows in sorted(shards.items()):
            # sorted by target (stable: a record's rows keep their order), so Parquet statistics let readers skip
            rows.sort(key=lambda row: str(row["target_id"]))
            body = to_parquet(table_of_rows(rows))
            # the body's digest: a retried batch holding other rows (or recorded at another time) is an object of
            # its own, never refused; the same batch again is the same object
            digest = hashlib.sha256(body).hexdigest()[:12]
            key = f"{audit_shard_day_prefix(shard, recorded_at.date())}{recorded_at:%H%M%S}-{batch_id}!{digest}.parquet"
            put_once(self.audit_objects, key, body)
            keys.append(key)
        return keys

    def read_audit(self, target_id: str, start: datetime, end: datetime) -> pd.DataFrame:
        import pandas as pd
        import pyarrow as pa

        start_utc, end_utc = require_aware(start, "start"), require_aware(end, "end")
        days = days_between(start_utc, end_utc) if end_utc > start_utc else []
        keys = [
            key
            for day in days
            for key in self.audit_objects.list_keys(f"{audit_prefix(target_id)}date={day.isoformat()}/")
        ]
        shard = history_shard(target_id)
        keys += [key for day in days for key in self._audit_shard_keys(shard, day, start_utc, end_utc)]
        tables = []
        seen: set[str] = set()
        for body in get_many(self.audit_objects, keys, fetch=self._fetch_audit):
            table = target_audit(body, target_id)
            ids = table.column("record_id").to_pylist()
            if seen.intersection(ids):  # a record of a retried batch again: the first stands
                table = table.filter([i not in seen for i in ids])
            seen.update(ids)
            if len(table):
                tables.append(table)
        if not tables:
            return pd.DataFrame(
                {"target_id": [], "record_id": [], "recorded_at": pd.Series([], dtype="datetime64[us]")}
            )
        audit = pa.concat_tables(tables, promote_options="permissive").to_pandas()
        audit["recorded_at"] = audit["recorded_at"].astype("datetime64[us]")
        low, high = pd.Timestamp(start_utc.replace(tzinfo=None)), pd.Timestamp(end_utc.replace(tzinfo=None))
        audit = audit[(audit["recorded_at"] >= low) & (audit["recorded_at"] < high)]
        return audit.sort_values(["recorded_at", "record_id"], kind="stable").reset_index(drop=True)

    def _audit_shard_keys(self, shard: str, day: date, start_utc: datetime, end_utc: datetime) -> list[str]:
        """The shard's batch objects of ``day`` whose second (in their name) may hold ``[start, end)``."""
        prefix = audit_shard_day_prefix(shard, day)
        after = f"{prefix}{start_utc:%H%M%S}" if start_utc.date() == day else ""
        last = f"{end_utc:%H%M%S}" if end_utc.date() == day else "999999"

        def load() -> list[str]:
            return list(self.audit_objects.list_keys(prefix, start_after=after))

        listed: list[str] = self._shared(("audit-list", prefix, after), load)
        return [key for key in listed if key[len(prefix) : len(prefix) + 6] <= last]

    def _fetch_audit(self, key: str) -> bytes:
        body: bytes = self._cache.get(("audit", key), lambda: self.audit_objects.get(key))
        return body

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
