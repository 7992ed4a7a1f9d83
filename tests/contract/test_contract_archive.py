"""Contract of the S3 store (history, audit, model artifacts): the twin and moto's server behave alike."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from contract_support import T0

from forescale_tools.memory import InMemoryObjects
from functions.adapters.archive_keys import HISTORY_SHARDS, history_shard
from functions.adapters.errors import NotFoundError
from functions.adapters.s3 import S3Store
from functions.adapters.s3_objects import S3Objects, put_once
from functions.ports.archive import AuditRecord, ObjectExistsError, ObjectStore

pytestmark = pytest.mark.integration


@pytest.fixture(params=["memory", "moto"])
def objects(request: pytest.FixtureRequest, unique_name) -> Iterator[ObjectStore]:
    if request.param == "memory":
        yield InMemoryObjects()
        return
    client = request.getfixturevalue("moto_client")("s3")
    bucket = unique_name("forescale-test")
    client.create_bucket(Bucket=bucket)
    yield S3Objects(client, bucket)


@pytest.fixture
def other_objects(objects: ObjectStore, request: pytest.FixtureRequest, unique_name) -> ObjectStore:
    """A second, empty store of the same kind (another bucket)."""
    if isinstance(objects, InMemoryObjects):
        return InMemoryObjects()
    client = request.getfixturevalue("moto_client")("s3")
    bucket = unique_name("forescale-other")
    client.create_bucket(Bucket=bucket)
    return S3Objects(client, bucket)


@pytest.fixture
def archive(objects: ObjectStore) -> S3Store:
    return S3Store(objects)


def frame(
    start: str, periods: int, *, step: str = "1min", offset: float = 0.0, skip: tuple[int, ...] = ()
) -> pd.DataFrame:
    ds = pd.date_range(start, periods=periods, freq=step)
    y = np.arange(periods, dtype=float) * 1.5 + offset
    keep = [i for i in range(periods) if i not in skip]
    return pd.DataFrame({"ds": ds[keep], "y": y[keep]})


# --------------------------------------------------------------------------- objects are never overwritten


def test_objects_are_never_overwritten(objects: ObjectStore):
    objects.put_new("a/b.bin", b"first")
    with pytest.raises(ObjectExistsError, match=r"a/b\.bin"):
        objects.put_new("a/b.bin", b"second")
    assert objects.get("a/b.bin") == b"first"
    # put_once: the same bytes again is a retry, other bytes are refused
    assert put_once(objects, "a/b.bin", b"first") is False
    with pytest.raises(ObjectExistsError):
        put_once(objects, "a/b.bin", b"other")
    with pytest.raises(NotFoundError):
        objects.get("a/missing.bin")


def test_listing_is_ordered_and_honours_start_after(objects: ObjectStore):
    for key in ("p/2", "p/1", "p/3", "q/1"):
        objects.put_new(key, b"x")
    assert list(objects.list_keys("p/")) == ["p/1", "p/2", "p/3"]
    assert list(objects.list_keys("p/", start_after="p/1")) == ["p/2", "p/3"]


# --------------------------------------------------------------------------- history


def test_history_round_trip_partitioned_by_target_and_date(archive: S3Store):
    # GIVEN 3 hours across midnight with two gaps
    history = frame("2026-11-20 22:30", 180, skip=(5, 100))
    keys = archive.write_history("web", history, part_id="20261121T0130Z-r1")
    # THEN one part per UTC day, under the target's shard and the date
    shard = history_shard("web")
    assert [k.rsplit("!", 1)[0] for k in keys] == [
        f"history/shard={shard}/date=2026-11-20/part-20261121T0130Z-r1",
        f"history/shard={shard}/date=2026-11-21/part-20261121T0130Z-r1",
    ]
    # WHEN read back over the whole range
    back = archive.read_history("web", datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC))
    # THEN it is the long frame, gaps still missing rows (never zeros)
    assert list(back.columns) == ["unique_id", "ds", "y"]
    assert (back["unique_id"] == "web").all()
    assert len(back) == 178
    pd.testing.assert_series_equal(
        back["ds"], history["ds"].reset_index(drop=True).astype("datetime64[us]"), check_names=False
    )
    np.testing.assert_array_equal(back["y"].to_numpy(), history["y"].to_numpy())


def test_history_range_is_half_open(archive: S3Store):
    archive.write_history("web", frame("2026-11-20 10:00", 60), part_id="p1")
    back = archive.read_history("web", T0 + timedelta(minutes=10), T0 + timedelta(minutes=20))
    assert back["ds"].min() == pd.Timestamp("2026-11-20 10:10")
    assert back["ds"].max() == pd.Timestamp("2026-11-20 10:19")
    assert len(back) == 10
    assert archive.read_history("api", T0, T0 + timedelta(hours=1)).empty


def test_history_accepts_aware_timestamps_and_odd_target_ids(archive: S3Store):
    aware = frame("2026-11-20 11:00", 3)
    aware["ds"] = aware["ds"].dt.tz_localize("Europe/Paris")  # 10:00 UTC
    keys = archive.write_history("team/web:prod", aware, part_id="p1")
    assert [k.rsplit("!", 1)[0] for k in keys] == [
        f"history/shard={history_shard('team/web:prod')}/date=2026-11-20/part-p1"
    ]
    back = archive.read_history("team/web:prod", T0, T0 + timedelta(hours=1))
    assert list(back["ds"]) == [
        pd.Timestamp("2026-11-20 10:00"),
        pd.Timestamp("2026-11-20 10:01"),
        pd.Timestamp("2026-11-20 10:02"),
    ]
    assert archive.read_history("team", T0, T0 + timedelta(hours=1)).empty


def test_later_part_wins_for_a_revised_timestamp(archive: S3Store):
    archive.write_history("web", frame("2026-11-20 10:00", 10), part_id="r1")
    archive.write_history("web", frame("2026-11-20 10:08", 5, offset=100.0), part_id="r2")
    back = archive.read_history("web", T0, T0 + timedelta(hours=1))
    assert len(back) == 13
    assert back.set_index("ds").loc[pd.Timestamp("2026-11-20 10:08"), "y"] == 100.0
    assert back.set_index("ds").loc[pd.Timestamp("2026-11-20 10:07"), "y"] == 7 * 1.5


def test_history_part_is_never_overwritten(archive: S3Store):
    archive.write_history("web", frame("2026-11-20 10:00", 10), part_id="r1")
    archive.write_history("web", frame("2026-11-20 10:00", 10), part_id="r1")  # retried: same bytes
    with pytest.raises(ObjectExistsError):
        archive.write_history("web", frame("2026-11-20 10:00", 10, offset=1.0), part_id="r1")


def test_bad_history_input_is_refused_with_the_field(archive: S3Store):
    with pytest.raises(ValueError, match="frame: missing column 'y'"):
        archive.write_history("web", pd.DataFrame({"ds": [T0]}), part_id="p1")
    with pytest.raises(ValueError, match="part_id"):
        archive.write_history("web", frame("2026-11-20 10:00", 2), part_id="compacted-0001")
    with pytest.raises(ValueError, match=r"frame\.ds: 1 duplicate"):
        archive.write_history("web", pd.DataFrame({"ds": [T0, T0], "y": [1.0, 2.0]}), part_id="p1")


# --------------------------------------------------------------------------- compaction


def test_compaction_merges_parts_without_overwriting(archive: S3Store, objects: ObjectStore):
    day = date(2026, 11, 20)
    for index in range(3):
        archive.write_history("web", frame(f"2026-11-20 1{index}:00", 60, offset=index), part_id=f"r{index}")
    before = archive.read_history("web", T0 - timedelta(hours=1), T0 + timedelta(hours=3))
    # WHEN the day is compacted
    first = archive.compact_day("web", day)
    # THEN there is one new object for the day and reads are unchanged
    day_prefix = f"history/shard={history_shard('web')}/date=2026-11-20/"
    assert first == f"{day_prefix}compacted/99999998.parquet"
    pd.testing.assert_frame_equal(archive.read_history("web", T0 - timedelta(hours=1), T0 + timedelta(hours=3)), before)
    assert archive.compact_day("web", day) is None  # nothing new
    first_bytes = objects.get(first)
    # WHEN a late part arrives and the day is compacted again
    archive.write_history("web", frame("2026-11-20 10:30", 5, offset=1000.0), part_id="r3")
    second = archive.compact_day("web", day)
    # THEN a new generation holds everything, the old objects are untouched
    assert second == f"{day_prefix}compacted/99999997.parquet"
    assert objects.get(first) == first_bytes
    assert len(list(objects.list_keys(day_prefix))) == 6
    after = archive.read_history("web", T0, T0 + timedelta(hours=3))
    assert len(after) == 180
    assert after.set_index("ds").loc[pd.Timestamp("2026-11-20 10:31"), "y"] == 1001.5
    assert archive.compact_day("web", date(2026, 11, 19)) is None


# --------------------------------------------------------------------------- batched history (one object per shard)


def fleet(count: int) -> list[str]:
    return [f"svc-{i:03d}" for i in range(count)]


def round_frames(ids: list[str], start: str, *, offset: float = 0.0, periods: int = 10) -> dict[str, pd.DataFrame]:
    """One collector round: each target's re-read window (``periods`` minutes ending at the round)."""
    return {tid: frame(start, periods, offset=offset + 10_000 * i) for i, tid in enumerate(ids)}


def legacy_put(objects: ObjectStore, target_id: str, rows: pd.DataFrame, name: str) -> None:
    """A part in the per-target layout of earlier versions (``history/target=<id>/date=D/<name>``: ds, y)."""
    for day, part in rows.groupby(rows["ds"].dt.date):
        table = pa.table({"ds": pa.array(part["ds"].astype("datetime64[us]")), "y": pa.array(part["y"], pa.float64())})
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        objects.put_new(f"history/target={quote(target_id, safe='')}/date={day}/{name}", buffer.getvalue())


def expected(rounds: list[dict[str, pd.DataFrame]], target_id: str, start: datetime, end: datetime) -> pd.DataFrame:
    """What every layout must read: the rounds in order, the later one winning per timestamp."""
    rows = pd.concat([r[target_id] for r in rounds if target_id in r], ignore_index=True)
    rows = rows.drop_duplicates("ds", keep="last").sort_values("ds").reset_index(drop=True)
    low, high = pd.Timestamp(start.replace(tzinfo=None)), pd.Timestamp(end.replace(tzinfo=None))
    rows = rows[(rows["ds"] >= low) & (rows["ds"] < high)]
    return pd.DataFrame(
        {
            "unique_id": [target_id] * len(rows),
            "ds": pd.Series(rows["ds"].to_numpy(), dtype="datetime64[us]"),
            "y": pd.Series(rows["y"].to_numpy(), dtype=float),
        }
    )


def test_a_round_of_many_targets_is_one_object_per_shard_and_day(archive: S3Store, objects: ObjectStore):
    # GIVEN a round of 60 targets whose windows cross midnight
    ids = fleet(60)
    frames = round_frames(ids, "2026-11-20 23:55")
    # WHEN the round is stored
    keys = archive.write_histories(frames, part_id="20261121T0005Z-r1")
    # THEN there is one object per shard and day, not one per target
    shards = {history_shard(t) for t in ids}
    assert len(keys) == 2 * len(shards) < len(ids)
    assert all(k.startswith(f"history/shard={k.split('shard=')[1][:2]}/date=2026-11-2") for k in keys)
    assert len(list(objects.list_keys("history/"))) == len(keys) + 1  # + the layout marker
    # AND each target reads back exactly its own rows
    window = (T0, T0 + timedelta(days=2))
    for tid in ids:
        pd.testing.assert_frame_equal(archive.read_history(tid, *window), expected([frames], tid, *window))
    assert HISTORY_SHARDS == 16


def test_a_retried_round_writes_the_same_keys_with_the_same_bodies(archive: S3Store, objects: ObjectStore):
    frames = round_frames(fleet(20), "2026-11-20 10:00")
    keys = archive.write_histories(frames, part_id="20261120T1010Z-r1")
    bodies = [objects.get(k) for k in keys]
    # WHEN the round is retried with the same data: the same objects, nothing refused
    assert archive.write_histories(frames, part_id="20261120T1010Z-r1") == keys
    assert [objects.get(k) for k in keys] == bodies
    # WHEN other data claims the same round: refused, never overwritten
    changed = {**frames, "svc-000": frame("2026-11-20 10:00", 10, offset=5.0)}
    with pytest.raises(ObjectExistsError):
        archive.write_histories(changed, part_id="20261120T1010Z-r1")
    # AND bad input names the target
    with pytest.raises(ValueError, match=r"frames\['svc-001'\]: frame: missing column 'y'"):
        archive.write_histories({"svc-001": pd.DataFrame({"ds": [T0]})}, part_id="p2")


def scenario(ids: list[str]) -> list[tuple[str, dict[str, pd.DataFrame]]]:
    """Rounds over two days: re-read windows that revise earlier points, gaps, a target that joins late."""
    rounds = []
    for n, at in enumerate(pd.date_range("2026-11-20 23:20", "2026-11-21 00:40", freq="5min")):
        members = ids if n > 3 else ids[:-1]
        frames = round_frames(members, str(at - pd.Timedelta(minutes=9)), offset=float(n))
        if n % 4 == 1:
            frames[ids[0]] = frames[ids[0]].iloc[[0, 2, 5]]  # gaps
        rounds.append((f"{at:%Y%m%dT%H%M%SZ}-round-{n:03d}", frames))
    return rounds


@pytest.mark.parametrize("compact", [False, True])
def test_the_batched_layout_reads_the_same_frames_as_the_per_target_layout(
    objects: ObjectStore, other_objects: ObjectStore, compact: bool
):
    # GIVEN the same rounds stored in the per-target layout (a bucket of an earlier version) and batched
    ids = fleet(5)
    rounds = scenario(ids)
    legacy = S3Store(objects)
    for part_id, frames in rounds:
        for tid, rows in frames.items():
            legacy_put(objects, tid, rows, f"{part_id}.parquet")
    batched = S3Store(other_objects)
    for number, (part_id, frames) in enumerate(rounds):
        batched.write_histories(frames, part_id=part_id)
        if compact and number % 3 == 2:
            batched.compact_days(ids, date(2026, 11, 20 + (number > 8)))
    if compact:
        batched.compact_days(ids, date(2026, 11, 20), final=True)
    # WHEN any window is read, THEN both layouts give the frame the contract defines
    plain = [f for _, f in rounds]
    for start, end in [
        (datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC)),
        (datetime(2026, 11, 20, 23, 30, tzinfo=UTC), datetime(2026, 11, 21, 0, 7, tzinfo=UTC)),
        (datetime(2026, 11, 21, 0, 20, tzinfo=UTC), datetime(2026, 11, 21, 0, 21, tzinfo=UTC)),
    ]:
        for tid in ids:
            want = expected(plain, tid, start, end)
            pd.testing.assert_frame_equal(legacy.read_history(tid, start, end), want)
            pd.testing.assert_frame_equal(batched.read_history(tid, start, end), want)


def test_the_reader_takes_the_per_target_objects_of_earlier_versions_too(archive: S3Store, objects: ObjectStore):
    # GIVEN a bucket with a day and a morning in the per-target layout, then batched rounds from noon
    ids = fleet(3)
    early = {tid: frame("2026-11-19 00:00", 36 * 60, offset=i) for i, tid in enumerate(ids)}
    for tid, rows in early.items():
        legacy_put(objects, tid, rows, "20261120T1200Z-round-old.parquet")
    late = round_frames(ids, "2026-11-20 11:55", offset=500.0)
    archive.write_histories(late, part_id="20261120T1205Z-round-new")
    # WHEN read across both, THEN one frame, the batched rows winning where both hold a minute
    window = (datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
    for tid in ids:
        pd.testing.assert_frame_equal(archive.read_history(tid, *window), expected([early, late], tid, *window))
    # AND a window after the switch reads only the batched layout (no listing of the old prefix needed)
    assert archive.read_history("svc-000", T0 + timedelta(days=1), T0 + timedelta(days=2)).empty


def test_a_shard_compaction_has_a_row_group_per_target(archive: S3Store, objects: ObjectStore):
    ids = [t for t in fleet(80) if history_shard(t) == history_shard("svc-000")]
    for n in range(3):
        archive.write_histories(round_frames(ids, f"2026-11-20 10:{n * 10:02d}", offset=n), part_id=f"r{n}")
    before = {t: archive.read_history(t, T0, T0 + timedelta(hours=1)) for t in ids}
    # WHEN the shard's day is compacted (asked for through any of its targets, once)
    keys = archive.compact_days(ids, date(2026, 11, 20))
    # THEN one object, one row group per target (a reader with row-group statistics reads one), same reads
    assert len(keys) == 1
    metadata = pq.ParquetFile(io.BytesIO(objects.get(keys[0]))).metadata
    assert metadata.num_row_groups == len(ids) > 1
    column = metadata.schema.names.index("target_id")
    groups = [metadata.row_group(i).column(column).statistics for i in range(metadata.num_row_groups)]
    assert [(g.min, g.max) for g in groups] == [(t, t) for t in sorted(ids)]
    for tid in ids:
        pd.testing.assert_frame_equal(archive.read_history(tid, T0, T0 + timedelta(hours=1)), before[tid])
    assert archive.compact_days(ids, date(2026, 11, 20)) == []


def test_a_part_written_after_a_compaction_of_its_round_is_still_read(archive: S3Store):
    # GIVEN two collector invocations of one round writing to the same shard, one compacting in between
    ids = [t for t in fleet(80) if history_shard(t) == history_shard("svc-000")]
    first, second = ids[: len(ids) // 2], ids[len(ids) // 2 :]
    archive.write_histories(round_frames(ids, "2026-11-20 09:50"), part_id="20261120T1000Z-round-0")
    archive.write_histories(round_frames(first, "2026-11-20 09:55", offset=1.0), part_id="20261120T1005Z-round-1")
    archive.compact_days(first, date(2026, 11, 20))
    late = round_frames(second, "2026-11-20 09:55", offset=2.0)
    archive.write_histories(late, part_id="20261120T1005Z-round-1")
    # THEN the late part is read for its targets
    for tid in second:
        back = archive.read_history(tid, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
        assert back.set_index("ds")["y"].iloc[-1] == late[tid]["y"].iloc[-1]


def test_reads_of_a_batch_share_listings_and_objects(objects: ObjectStore):
    # GIVEN 40 targets with a compacted day and a part after it
    ids = fleet(40)
    counting = CountingObjects(objects)
    archive = S3Store(counting)
    archive.write_histories(round_frames(ids, "2026-11-20 09:50"), part_id="r0")
    archive.compact_days(ids, date(2026, 11, 20))
    archive.write_histories(round_frames(ids, "2026-11-20 09:55", offset=1.0), part_id="r1")
    reader = S3Store(counting)
    counting.calls.clear()
    # WHEN a batch's reads share a snapshot
    with reader.batch_reads():
        frames = {t: reader.read_history(t, T0 - timedelta(hours=1), T0 + timedelta(hours=1)) for t in ids}
    # THEN each shard is listed and read once, not each target
    shards = len({history_shard(t) for t in ids})
    assert counting.count("list") <= 2 * shards + 1
    assert counting.count("get") <= 3 * shards + 1
    assert all(len(f) == 15 for f in frames.values())


class CountingObjects:
    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def count(self, name: str) -> int:
        return self.calls.count(name)

    def put_new(self, key: str, body: bytes, *, content_type: str = "application/octet-stream") -> None:
        self.calls.append("put")
        self.inner.put_new(key, body, content_type=content_type)

    def get(self, key: str) -> bytes:
        self.calls.append("get")
        return self.inner.get(key)

    def list_keys(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        self.calls.append("list")
        return self.inner.list_keys(prefix, start_after=start_after)

    def uri(self, key: str) -> str:
        return self.inner.uri(key)


# --------------------------------------------------------------------------- audit


def test_audit_trail_round_trip(archive: S3Store):
    rows = [
        {"decision_id": "d-1", "desired": 4, "reason": "p90 rises", "inputs": {"p90": 410.5}},
        {"decision_id": "d-2", "desired": 5, "reason": "event", "inputs": {"p90": 512.0}},
    ]
    key = archive.write_audit("web", "round-000001", T0 + timedelta(minutes=1), rows)
    assert key == "audit/target=web/date=2026-11-20/round-000001.parquet"
    archive.write_audit("web", "round-000002", T0 + timedelta(days=1), rows[:1])
    audit = archive.read_audit("web", T0, T0 + timedelta(hours=1))
    assert list(audit["decision_id"]) == ["d-1", "d-2"]
    assert list(audit["desired"]) == [4, 5]
    assert json.loads(audit["inputs"].iloc[0]) == {"p90": 410.5}
    assert (audit["recorded_at"] == pd.Timestamp("2026-11-20 10:01")).all()
    assert len(archive.read_audit("web", T0, T0 + timedelta(days=2))) == 3
    with pytest.raises(ObjectExistsError):
        archive.write_audit("web", "round-000001", T0 + timedelta(minutes=1), rows[:1])


def audit_records(ids: list[str], n: int) -> list[AuditRecord]:
    """Decision-like records of ``ids`` (the first with two rows), numbered ``n``."""
    return [
        AuditRecord(t, f"decision-{n}-{t}", [{"record": "decision", "desired": i, "plan": [[i, n]]}] * (1 + (i == 0)))
        for i, t in enumerate(ids)
    ]


def test_an_audit_batch_is_one_object_per_shard_and_reads_as_records_written_one_by_one(
    archive: S3Store, objects: ObjectStore, other_objects: ObjectStore
):
    # GIVEN one invocation's records of 40 targets, and the same records written one object each elsewhere
    ids = fleet(40)
    at = T0 + timedelta(minutes=1, seconds=5)
    one_by_one = S3Store(other_objects)
    for record in audit_records(ids, 1):
        one_by_one.write_audit(record.target_id, record.record_id, at, record.rows)
    # WHEN they are written as a batch
    keys = archive.write_audit_batch("b-1", at, audit_records(ids, 1))
    # THEN one object per shard touched, named by shard, day, second and content, its rows sorted by target
    shards = sorted({history_shard(t) for t in ids})
    assert [k.split("!")[0] for k in keys] == [f"audit/shard={s}/date=2026-11-20/100105-b-1" for s in shards]
    assert len(keys) < len(ids) and sorted(objects.list_keys("audit/")) == keys
    for shard, key in zip(shards, keys, strict=True):
        stored = pq.read_table(io.BytesIO(objects.get(key))).column("target_id").to_pylist()
        assert sorted(set(stored)) == [t for t in sorted(ids) if history_shard(t) == shard] and stored == sorted(stored)
    # AND every target reads back exactly what the per-target objects give (columns, types, order)
    window = (T0, T0 + timedelta(hours=1))
    for tid in ids:
        pd.testing.assert_frame_equal(archive.read_audit(tid, *window), one_by_one.read_audit(tid, *window))
    # AND the same batch again is a no-op, other content under its name objects of its own
    assert archive.write_audit_batch("b-1", at, audit_records(ids, 1)) == keys
    assert not set(archive.write_audit_batch("b-1", at, audit_records(ids, 2))) & set(keys)


def test_audit_reads_take_old_objects_and_batches_once_each_and_skip_other_times(objects: ObjectStore):
    # GIVEN a target's record in the per-target layout, two batches, and a retried batch repeating a record
    counting = CountingObjects(objects)
    archive = S3Store(counting)
    archive.write_audit("svc-000", "forecast-0", T0, [{"record": "forecast", "n": 0}])
    archive.write_audit_batch("b-1", T0 + timedelta(minutes=5), audit_records(["svc-000", "svc-001"], 1))
    archive.write_audit_batch("b-2", T0 + timedelta(minutes=10), audit_records(["svc-000"], 2))
    archive.write_audit_batch("b-2-retry", T0 + timedelta(minutes=11), audit_records(["svc-000"], 2))
    archive.write_audit_batch("b-3", T0 + timedelta(hours=3), audit_records(["svc-000"], 3))
    counting.calls.clear()
    # WHEN the target's first half hour is read
    audit = S3Store(counting).read_audit("svc-000", T0, T0 + timedelta(minutes=30))
    # THEN each record once (the first write of a repeated one), in time order, only this target's
    assert list(audit["record_id"]) == ["forecast-0", *["decision-1-svc-000"] * 2, *["decision-2-svc-000"] * 2]
    assert list(audit["recorded_at"]) == [
        pd.Timestamp(T0.replace(tzinfo=None) + timedelta(minutes=m)) for m in (0, 5, 5, 10, 10)
    ]
    # AND the batch written hours later is not fetched
    assert counting.count("get") == 4
    # AND bad input names the record and field
    with pytest.raises(ValueError, match=r"records\[1\]\.record_id: 'a/b' must be"):
        archive.write_audit_batch("b-4", T0, [audit_records(["x"], 4)[0], AuditRecord("y", "a/b", [{"n": 1}])])
    with pytest.raises(ValueError, match=r"records\[0\]\.rows: an audit record needs at least one row"):
        archive.write_audit_batch("b-4", T0, [AuditRecord("x", "r", [])])


# --------------------------------------------------------------------------- model artifacts


def test_model_artifacts_round_trip(archive: S3Store, tmp_path: Path):
    source = tmp_path / "trained"
    (source / "lgbm").mkdir(parents=True)
    (source / "lgbm" / "model.txt").write_text("tree=1\n")
    (source / "config.json").write_text('{"season": 288}')
    (source / "weights.bin").write_bytes(bytes(range(256)) * 10)
    uri = archive.upload_model("web", "v-20261120", source, {"scores": {"mase_1h": 0.71}})
    assert uri.startswith("s3://") and uri.endswith("models/web/v-20261120/")
    # WHEN downloaded elsewhere
    target = tmp_path / "loaded"
    metadata = archive.download_model("web", "v-20261120", target)
    # THEN every file is identical and the metadata lists them
    for name in ("lgbm/model.txt", "config.json", "weights.bin"):
        assert (target / name).read_bytes() == (source / name).read_bytes()
    assert sorted(f["path"] for f in metadata["files"]) == ["config.json", "lgbm/model.txt", "weights.bin"]
    assert metadata["metadata"] == {"scores": {"mase_1h": 0.71}}
    assert archive.model_metadata("web", "v-20261120") == metadata
    # a version is never overwritten with other content
    (source / "config.json").write_text('{"season": 12}')
    with pytest.raises(ObjectExistsError):
        archive.upload_model("web", "v-20261120", source, {})
    with pytest.raises(NotFoundError):
        archive.download_model("web", "v-missing", tmp_path / "none")


def test_corrupt_artifact_is_detected(archive: S3Store, objects: ObjectStore, tmp_path: Path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "a.bin").write_bytes(b"abc")
    # GIVEN metadata written by hand that does not match the stored file
    objects.put_new("models/web/v1/a.bin", b"abd")
    document = {"files": [{"path": "a.bin", "bytes": 3, "sha256": "0" * 64}], "metadata": {}}
    objects.put_new("models/web/v1/metadata.json", json.dumps(document).encode())
    with pytest.raises(ValueError, match=r"files\.a\.bin: content does not match"):
        S3Store(objects).download_model("web", "v1", tmp_path / "out")
