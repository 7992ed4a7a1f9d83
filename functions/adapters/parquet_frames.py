"""Parquet bodies of the history and the audit trail: encoding, decoding one target's rows of a batched
history object (pyarrow, or fastparquet in the forecasting layers that ship no pyarrow), and the bounded
memo of decoded objects one batch of reads shares. Pure functions of bytes; :mod:`functions.adapters.s3`
decides which objects to read and write."""

from __future__ import annotations

import io
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from functions.adapters.archive_keys import check_part_id
from functions.ports.archive import AuditRecord

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

#: schema metadata of a compaction: the part ids it includes, and the part id readers list after
PARTS_METADATA_KEY = b"forescale.parts"
RELIST_METADATA_KEY = b"forescale.relist_after"
#: Rounds (distinct part ids) whose parts a reader lists again after a compaction (see :mod:`functions.adapters.s3`).
RELIST_ROUNDS = 15


def to_parquet(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def read_parquet(body: bytes) -> pa.Table:
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(body))


def history_frame(body: bytes) -> tuple[pd.DataFrame, list[str]]:
    """A per-target object of earlier versions (``ds, y``) and the parts it compacts."""
    try:
        table = read_parquet(body)
    except ModuleNotFoundError:  # pragma: no cover - the layers without pyarrow
        import fastparquet

        parquet = fastparquet.ParquetFile(io.BytesIO(body))
        frame = parquet.to_pandas(columns=["ds", "y"])
        metadata = parquet.key_value_metadata or {}
        parts = json.loads(metadata.get(PARTS_METADATA_KEY.decode(), "[]"))
    else:
        parts = json.loads((table.schema.metadata or {}).get(PARTS_METADATA_KEY, b"[]"))
        frame = table.to_pandas()
    frame["ds"] = frame["ds"].astype("datetime64[us]")
    return frame[["ds", "y"]].reset_index(drop=True), parts


def normalise_history(frame: pd.DataFrame) -> pd.DataFrame:
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


def merge_last_wins(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    import pandas as pd

    if not frames:
        return pd.DataFrame({"ds": pd.Series([], dtype="datetime64[us]"), "y": pd.Series([], dtype=float)})
    merged = pd.concat(frames, ignore_index=True)
    merged = merged.drop_duplicates(subset="ds", keep="last")
    return merged.sort_values("ds", kind="stable").reset_index(drop=True)


def empty_history() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"ds": pd.Series([], dtype="datetime64[us]"), "y": pd.Series([], dtype=float)})


def rows_parquet(
    members: Mapping[str, pd.DataFrame], *, group_per_target: bool, metadata: Mapping[bytes, bytes] | None = None
) -> bytes:
    """Several targets' rows (``target_id, ds, y``, sorted by target then time) as Parquet: one row group, or one
    per target (a compaction: a reader skips the others' by their statistics)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [("target_id", pa.string()), ("ds", pa.timestamp("us")), ("y", pa.float64())], metadata=dict(metadata or {})
    )
    tables = [
        pa.table(
            {
                "target_id": pa.array([target_id] * len(rows), type=pa.string()),
                "ds": pa.array(rows["ds"].astype("datetime64[us]").to_numpy(), type=pa.timestamp("us")),
                "y": pa.array(rows["y"].to_numpy(dtype=float), type=pa.float64()),
            },
            schema=schema,
        )
        for target_id, rows in sorted(members.items())
        if len(rows)
    ]
    buffer = io.BytesIO()
    with pq.ParquetWriter(buffer, schema, compression="zstd") as writer:
        if group_per_target:
            for table in tables:
                writer.write_table(table)
        elif tables:
            writer.write_table(pa.concat_tables(tables))
    return buffer.getvalue()


def target_rows(body: bytes, target_id: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """One target's ``ds, y`` in a batched object (decoding only the row groups that may hold it), and the
    object's metadata. pyarrow where installed, else fastparquet (the forecaster's and trainer's layers)."""
    try:
        import pyarrow.parquet as pq
    except ModuleNotFoundError:  # pragma: no cover - exercised on the layers without pyarrow
        return target_rows_fastparquet(body, target_id)
    parquet = pq.ParquetFile(io.BytesIO(body))
    metadata = {k.decode(): v.decode() for k, v in (parquet.schema_arrow.metadata or {}).items()}
    meta = parquet.metadata
    column = parquet.schema_arrow.get_field_index("target_id")
    groups = []
    for index in range(meta.num_row_groups):
        stats = meta.row_group(index).column(column).statistics
        if stats is None or not stats.has_min_max or stats.min <= target_id <= stats.max:
            groups.append(index)
    if not groups:
        return empty_history(), metadata
    frame = parquet.read_row_groups(groups, columns=["target_id", "ds", "y"]).to_pandas()
    return only_target(frame, target_id), metadata


def target_rows_fastparquet(body: bytes, target_id: str) -> tuple[pd.DataFrame, dict[str, str]]:  # pragma: no cover
    import fastparquet

    parquet = fastparquet.ParquetFile(io.BytesIO(body))
    metadata = dict(parquet.key_value_metadata or {})
    frame = parquet.to_pandas(columns=["target_id", "ds", "y"], filters=[("target_id", "==", target_id)])
    return only_target(frame, target_id), metadata


def only_target(frame: pd.DataFrame, target_id: str) -> pd.DataFrame:
    import pandas as pd

    rows = frame[frame["target_id"] == target_id]
    return pd.DataFrame(
        {"ds": rows["ds"].astype("datetime64[us]").to_numpy(), "y": rows["y"].to_numpy(dtype=float)}
    ).reset_index(drop=True)


def all_rows(body: bytes) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Every target's ``ds, y`` in a batched object (compaction reads whole objects), and its metadata."""
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(body))
    metadata = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    frame = table.to_pandas()
    frame["ds"] = frame["ds"].astype("datetime64[us]")
    return {str(tid): rows[["ds", "y"]].reset_index(drop=True) for tid, rows in frame.groupby("target_id")}, metadata


def relist_after(names: Sequence[str]) -> str:
    """The part id a reader lists after: the oldest of the newest :data:`RELIST_ROUNDS` rounds, or none."""
    rounds = sorted({name.split("!", 1)[0] for name in names})
    return rounds[-RELIST_ROUNDS] if len(rounds) > RELIST_ROUNDS else ""


class Memo:
    """Values by key, each loaded once even by threads asking together; least recently used first out when
    ``max_bytes`` (of ``bytes`` values) is exceeded."""

    def __init__(self, max_bytes: int | None = None) -> None:
        self._max = max_bytes
        self._values: OrderedDict[object, Any] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._loading: dict[object, threading.Lock] = {}

    def get(self, key: object, load: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._values:
                    return self._values[key]
            try:
                value = load()
            finally:
                with self._lock:
                    self._loading.pop(key, None)
            with self._lock:
                self._values[key] = value
                self._size += len(value) if isinstance(value, bytes) else 0
                while self._max is not None and self._size > self._max and len(self._values) > 1:
                    _, old = self._values.popitem(last=False)
                    self._size -= len(old) if isinstance(old, bytes) else 0
            return value


# --------------------------------------------------------------------------- store


# --------------------------------------------------------------------------- audit objects


def audit_rows(record: AuditRecord, recorded_at: datetime, field: str) -> list[dict[str, Any]]:
    """A record's rows as stored: nested values as JSON text, then target_id, record_id, recorded_at."""
    if not isinstance(record.target_id, str) or not record.target_id:
        raise ValueError(f"{field}target_id: must be a non-empty string, not {record.target_id!r}")
    check_part_id(record.record_id, f"{field}record_id")
    if not record.rows:
        raise ValueError(f"{field}rows: an audit record needs at least one row")
    return [
        {
            **{
                k: json.dumps(v, sort_keys=True, default=str) if isinstance(v, dict | list | tuple) else v
                for k, v in row.items()
            },
            "target_id": record.target_id,
            "record_id": record.record_id,
            "recorded_at": recorded_at.replace(tzinfo=None),
        }
        for row in record.rows
    ]


def table_of_rows(rows: Sequence[Mapping[str, Any]]) -> Any:
    """Rows of several shapes as one table (``from_pylist`` alone takes the columns of the first row only)."""
    import pyarrow as pa

    columns = list(dict.fromkeys(k for row in rows for k in row))
    return pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])


def target_audit(body: bytes, target_id: str) -> Any:
    """One target's rows of an audit object (a per-target record, or a shard's batch), as an Arrow table.

    A batch is one row group: a row group per target would let a reader decode only its target's, but their
    metadata and separate compression made the objects 12 times larger (the cost benchmark's audit bytes,
    352 MB a target-month instead of 30 MB), for a read about a third faster."""
    import pyarrow.compute as pc

    table = read_parquet(body)
    return table.filter(pc.equal(table["target_id"], target_id))
