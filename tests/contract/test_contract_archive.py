"""Contract of the S3 store (history, audit, model artifacts): the twin and moto's server behave alike."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from contract_support import T0

from forescale_tools.memory import InMemoryObjects
from functions.adapters.errors import NotFoundError
from functions.adapters.s3 import ObjectExistsError, ObjectStore, S3Objects, S3Store, put_once

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
    # THEN one part per UTC day, under the partitioned keys
    assert keys == [
        "history/target=web/date=2026-11-20/20261121T0130Z-r1.parquet",
        "history/target=web/date=2026-11-21/20261121T0130Z-r1.parquet",
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
    assert keys == ["history/target=team%2Fweb%3Aprod/date=2026-11-20/p1.parquet"]
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
    assert first == "history/target=web/date=2026-11-20/compacted-0001.parquet"
    pd.testing.assert_frame_equal(archive.read_history("web", T0 - timedelta(hours=1), T0 + timedelta(hours=3)), before)
    assert archive.compact_day("web", day) is None  # nothing new
    first_bytes = objects.get(first)
    # WHEN a late part arrives and the day is compacted again
    archive.write_history("web", frame("2026-11-20 10:30", 5, offset=1000.0), part_id="r3")
    second = archive.compact_day("web", day)
    # THEN a new generation holds everything, the old objects are untouched
    assert second == "history/target=web/date=2026-11-20/compacted-0002.parquet"
    assert objects.get(first) == first_bytes
    assert len(list(objects.list_keys("history/target=web/date=2026-11-20/"))) == 6
    after = archive.read_history("web", T0, T0 + timedelta(hours=3))
    assert len(after) == 180
    assert after.set_index("ds").loc[pd.Timestamp("2026-11-20 10:31"), "y"] == 1001.5
    assert archive.compact_day("web", date(2026, 11, 19)) is None


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
